"""Per-sample scorers (``alpool rank --scorer NAME``): a float per train image, higher = first.

Each scorer is declared here; its module is imported when it is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpool.core.registry import ClassRegistry, lazy_exports

if TYPE_CHECKING:
    from alpool.scorers.base import Scorer, ScoringContext

__all__ = ["SCORERS", "Scorer", "ScoringContext"]

SCORERS: ClassRegistry[Scorer] = ClassRegistry("scorer")
SCORERS.declare("bald", "alpool.scorers.classifier_scores",
                "BALD mutual information over 25 MC-dropout passes of the proxy [CS, oracle]")
SCORERS.declare("consistency", "alpool.scorers.classifier_scores",
                "summed softmax variance over 50 augmented passes of the proxy [CS, oracle]")
SCORERS.declare("contrast-confidence", "alpool.scorers.pretext_scores",
                "1 - mean positive-view probability over simclr epochs [CS]; high = hard to contrast")
SCORERS.declare("contrast-variability", "alpool.scorers.pretext_scores",
                "std over simclr epochs of the positive-view probability [CS]; high = ambiguous")
SCORERS.declare("coreset-distance", "alpool.scorers.classifier_scores",
                "distance to the nearest proxy-labeled (test) image in proxy features [oracle]")
SCORERS.declare("entropy", "alpool.scorers.classifier_scores",
                "Shannon entropy of the proxy classifier's prediction [CS, oracle]")
SCORERS.declare("least-confidence", "alpool.scorers.classifier_scores",
                "1 - max p of the proxy classifier [CS, oracle]")
SCORERS.declare("margin", "alpool.scorers.classifier_scores",
                "-(p1 - p2) of the proxy classifier: small top-2 gap first [CS, oracle]")
SCORERS.declare("scan-confidence", "alpool.scorers.pretext_scores",
                "max cluster probability of the scan step [SCAN]; high = confident member")
SCORERS.declare("simclr-loss", "alpool.scorers.pretext_scores",
                "fixed per-image NT-Xent of the simclr step (views vs shared negatives); high = hard")
SCORERS.declare("typicality", "alpool.scorers.typicality",
                "1 / mean Euclidean distance to the k=20 nearest neighbours of an embedding (task=simclr)")
SCORERS.declare("vaal", "alpool.scorers.classifier_scores",
                "VAAL discriminator's 'unlabeled' probability vs the proxy's test images [oracle]")
SCORERS.declare("vae-loss", "alpool.scorers.pretext_scores",
                "VAE reconstruction + weighted KL per image (mean latent) [IP]; high = hard")


__getattr__ = lazy_exports(__name__, {
    "Scorer": "alpool.scorers.base",
    "ScoringContext": "alpool.scorers.base"})
