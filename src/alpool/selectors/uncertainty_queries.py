"""AL queries that rank candidates by the current classifier's uncertainty (METHODS.md "Selectors").

Each query scores every candidate with one of the shared measures of :mod:`alpool.learning.uncertainty`
(higher = more uncertain = pick first) and returns the ``budget`` highest. Ties are broken by a
permutation drawn from ``ctx.rng``, so a selection is deterministic for a seed. Stochastic passes
(MC dropout, augmentations) draw their randomness from a torch generator seeded by ``ctx.rng``.

Queries: ``least-confidence``, ``entropy``, ``margin``, ``dbal`` (entropy of the MC-dropout mean),
``bald`` (mutual information over MC-dropout passes, dropout on and BatchNorm in eval: the original
toolkit's "BALD without dropout" bug is avoided by the classifier's ``mc_predict_proba``),
``consistency`` (variance over augmented passes) and ``ensemble-variation-ratio``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from pydantic import Field

from alpool.core.params import Params
from alpool.learning.uncertainty import (
    bald,
    consistency,
    entropy,
    least_confidence,
    margin,
    mean_entropy,
    variation_ratio,
)
from alpool.ops.infer import in_chunks
from alpool.ops.ranking import rank_top
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_CLASSIFIER, Classifier, Selection, SelectionContext, Selector


def torch_generator_from(rng: np.random.Generator) -> torch.Generator:
    """Return a CPU torch generator seeded by one draw of ``rng``."""
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


def score_info(scores: np.ndarray, picks: np.ndarray) -> dict[str, Any]:
    """Return summary numbers of the candidates' scores and of the picked ones."""
    return {
        "score_mean": float(np.nanmean(scores)) if len(scores) else float("nan"),
        "score_max": float(np.nanmax(scores)) if len(scores) else float("nan"),
        "picked_score_mean": float(np.nanmean(scores[picks])),
        "picked_score_min": float(np.nanmin(scores[picks])),
    }


class ClassifierQuery(Selector):
    """A query that scores each candidate with the classifier and takes the top ``budget``."""

    needs = frozenset({NEED_CLASSIFIER})

    @abstractmethod
    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return ``[len(ctx.candidates)]`` float scores (higher = pick first)."""

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Score the candidates and return the ``budget`` highest."""
        clf = ctx.require_classifier()
        generator = torch_generator_from(ctx.rng)
        scores = np.asarray(self.score(ctx, clf, generator), dtype=np.float64)  # [n_candidates]
        picks = rank_top(scores, budget, ctx.rng)
        info = {**score_info(scores, picks), **self.params.model_dump()}
        return Selection(ctx.candidates[picks].astype(np.int64), scores, info)


@SELECTORS.register("least-confidence")
class LeastConfidence(ClassifierQuery):
    """Pick the candidates whose most likely class has the lowest probability."""

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return ``1 - max_k p_k`` per candidate."""
        return least_confidence(clf.predict_proba(ctx.candidates))


@SELECTORS.register("entropy")
class Entropy(ClassifierQuery):
    """Pick the candidates with the flattest predicted distribution."""

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return the entropy (nats) per candidate."""
        return entropy(clf.predict_proba(ctx.candidates))


@SELECTORS.register("margin")
class Margin(ClassifierQuery):
    """Pick the candidates whose two most likely classes are closest."""

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return ``-(p1 - p2)`` per candidate."""
        return margin(clf.predict_proba(ctx.candidates))


class MCParams(Params):
    """Options of the MC-dropout queries."""

    passes: int = Field(25, ge=2, description="stochastic forward passes with dropout on")
    chunk_size: int = Field(8192, gt=0, description="candidates per call; bounds memory "
                            "[passes, chunk, K]")


@SELECTORS.register("dbal")
class DBAL(ClassifierQuery):
    """Deep Bayesian AL max-entropy: entropy of the MC-dropout mean (dropout on, BN in eval)."""

    Params = MCParams

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return the entropy of the mean over ``passes`` MC-dropout predictions."""
        p: MCParams = self.params  # type: ignore[assignment]
        return in_chunks(ctx.candidates, p.chunk_size, lambda idx: mean_entropy(
            clf.mc_predict_proba(idx, p.passes, gen)))


@SELECTORS.register("bald")
class BALD(ClassifierQuery):
    """Pick where the MC-dropout passes disagree while each is confident: H[mean p] - mean H[p]."""

    Params = MCParams

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return the BALD mutual information over ``passes`` MC-dropout predictions."""
        p: MCParams = self.params  # type: ignore[assignment]
        return in_chunks(ctx.candidates, p.chunk_size, lambda idx: bald(
            clf.mc_predict_proba(idx, p.passes, gen)))


class ConsistencyParams(Params):
    """Options of the consistency query."""

    passes: int = Field(50, ge=2, description="augmented forward passes (training crop + flip)")
    chunk_size: int = Field(8192, gt=0, description="candidates per call; bounds memory "
                            "[passes, chunk, K]")


@SELECTORS.register("consistency")
class Consistency(ClassifierQuery):
    """Pick the candidates whose prediction changes most under training augmentations."""

    Params = ConsistencyParams

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return the summed per-class variance over ``passes`` augmented predictions."""
        p: ConsistencyParams = self.params  # type: ignore[assignment]
        return in_chunks(ctx.candidates, p.chunk_size, lambda idx: consistency(
            clf.augmented_predict_proba(idx, p.passes, gen)))


class EnsembleParams(Params):
    """Options of the ensemble query."""

    members: int = Field(3, ge=2, description="models trained on the same labels (incl. the main)")


@SELECTORS.register("ensemble-variation-ratio")
class EnsembleVariationRatio(ClassifierQuery):
    """Pick the candidates the ensemble members disagree on most (variation ratio).

    The classifier trains ``members - 1`` extra models on the same labeled set, once per query, so
    all candidates are scored in one call (no chunking, which would retrain them).
    """

    Params = EnsembleParams

    def score(self, ctx: SelectionContext, clf: Classifier, gen: torch.Generator) -> np.ndarray:
        """Return ``1 - (count of the modal predicted class) / members`` per candidate."""
        p: EnsembleParams = self.params  # type: ignore[assignment]
        return variation_ratio(clf.ensemble_predict_proba(ctx.candidates, p.members))
