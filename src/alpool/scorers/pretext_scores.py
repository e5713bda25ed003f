"""Scorers that read a per-image array written by a pretext task (no model is run at rank time)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from alpool.params import Params
from alpool.scorers.base import SCORERS, Scorer, ScoringContext


class ArrayScorer(Scorer):
    """Return ``sign * array + offset`` of a pretext step's per-image array ``ARRAY``."""

    ARRAY: ClassVar[str] = ""
    SIGN: ClassVar[float] = 1.0
    OFFSET: ClassVar[float] = 0.0

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 scores read from ``pretrain/<task>/<ARRAY>.npy``."""
        values = np.asarray(ctx.pretrain(self.params.task).array(self.ARRAY), dtype=np.float64)  # type: ignore[attr-defined]
        return self.SIGN * values.reshape(-1) + self.OFFSET


class VAETaskParams(Params):
    """Options of scorers that read the ``vae`` step."""

    task: str = Field("vae", description="pretrain step to read (its folder name)")


@SCORERS.register(
    "vae-loss", "VAE reconstruction + weighted KL per image (mean latent) [IP]; high = hard"
)
class VAELoss(ArrayScorer):
    """The deterministic per-image VAE loss of the ``vae`` step."""

    Params = VAETaskParams
    requires = ("vae",)
    ARRAY = "loss"


class ContrastiveTaskParams(Params):
    """Options of scorers that read a contrastive (``simclr``) step."""

    task: str = Field("simclr", description="pretrain step to read (its folder name)")


@SCORERS.register("simclr-loss", "fixed per-image NT-Xent of the simclr step (views vs shared negatives); high = hard")
class SimCLRLoss(ArrayScorer):
    """The per-image contrastive loss (the original's one-pair batch always gave 0)."""

    Params = ContrastiveTaskParams
    requires = ("simclr",)
    ARRAY = "loss"


@SCORERS.register("contrast-confidence", "1 - mean positive-view probability over simclr epochs [CS]; high = hard to contrast")
class ContrastConfidence(ArrayScorer):
    """Hard-to-contrast first: ``1 - confidence`` of the simclr training dynamics."""

    Params = ContrastiveTaskParams
    requires = ("simclr",)
    ARRAY = "confidence"
    SIGN = -1.0
    OFFSET = 1.0


@SCORERS.register("contrast-variability", "std over simclr epochs of the positive-view probability [CS]; high = ambiguous")
class ContrastVariability(ArrayScorer):
    """The variability of the simclr training dynamics."""

    Params = ContrastiveTaskParams
    requires = ("simclr",)
    ARRAY = "variability"


class ClusterTaskParams(Params):
    """Options of scorers that read a clustering (``scan``) step."""

    task: str = Field("scan", description="pretrain step to read (its folder name)")


@SCORERS.register("scan-confidence", "max cluster probability of the scan step [SCAN]; high = confident member")
class SCANConfidence(ArrayScorer):
    """The confidence of each image's SCAN cluster assignment."""

    Params = ClusterTaskParams
    requires = ("scan",)
    ARRAY = "confidence"
