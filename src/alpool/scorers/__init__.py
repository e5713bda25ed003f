"""Per-sample scorers (``alpool rank --scorer NAME``): a float per train image, higher = first."""

from alpool.scorers import classifier_scores, pretext_scores, typicality  # noqa: F401  (registers)
from alpool.scorers.base import SCORERS, Scorer, ScoringContext, make_scorer

__all__ = ["SCORERS", "Scorer", "ScoringContext", "make_scorer"]
