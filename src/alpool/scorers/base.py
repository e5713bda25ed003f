"""The scorer contract (``alpool rank --scorer NAME``): one float per train image, higher = pick first."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from alpool.data.base import Dataset
from alpool.params import Params, build_params
from alpool.params import Params as ParamsBase
from alpool.pretext.base import PretrainArtifacts
from alpool.registry import Registry


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


class Scorer(ABC):
    """Base class of every scorer. ``requires`` names the pretrain task(s) it reads by default."""

    Params: ClassVar[type[Params]] = Params
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: ParamsBase | None = None) -> None:
        self.params = params if params is not None else self.Params()

    @abstractmethod
    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 scores for every train image (higher = pick first)."""


SCORERS: Registry[type[Scorer]] = Registry("scorer")


def make_scorer(name: str, params: dict[str, Any] | None = None) -> Scorer:
    """Build a registered scorer with validated options."""
    cls = SCORERS.get(name)
    return cls(build_params(cls.Params, params or {}, f"scorer {name!r}"))
