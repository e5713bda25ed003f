"""The scorer contract (``alpool rank --scorer NAME``): one float per train image, higher = pick first."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from alpool.core.params import Configurable
from alpool.data.base import Dataset
from alpool.pretext.base import PretrainArtifacts
from alpool.scorers import SCORERS


@dataclass
class ScoringContext:
    """What a scorer may use.

    Attributes:
        dataset: the dataset.
        device: where to run models.
        seed: the step's seed (MC dropout, augmentation passes).
        pretrain: ``pretrain("vae")`` returns a finished pretrain step (its hashes are recorded).
    """

    dataset: Dataset
    device: torch.device
    seed: int
    pretrain: Callable[[str], PretrainArtifacts]


class Scorer(Configurable, ABC):
    """Base class of every scorer. ``requires`` names the pretrain task(s) it reads by default."""

    requires: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 scores for every train image (higher = pick first)."""


__all__ = ["SCORERS", "Scorer", "ScoringContext"]
