"""In-memory finished pretrain steps and a scoring context over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from alpool.data.base import Dataset
from alpool.errors import MissingStepError
from alpool.scorers import ScoringContext


@dataclass
class MemoryArtifacts:
    """A finished pretrain step held in memory (arrays dict + checkpoint dict)."""

    name: str
    arrays: dict[str, np.ndarray]
    ckpt: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray:
        """Return an array by name."""
        if name not in self.arrays:
            raise MissingStepError(f"step pretrain/{self.name} has no array {name!r}")
        return self.arrays[name]

    def checkpoint(self) -> dict[str, Any]:
        """Return the checkpoint dict."""
        return self.ckpt

    def summary(self) -> dict[str, Any]:
        """Return the summary."""
        return self.info


def scoring_context(
    dataset: Dataset, steps: dict[str, MemoryArtifacts], seed: int = 0
) -> ScoringContext:
    """Return a CPU scoring context that serves ``steps`` by name."""

    def pretrain(task: str) -> MemoryArtifacts:
        if task not in steps:
            raise MissingStepError(f"no pretrain step {task!r}; run alpool pretrain --task {task}")
        return steps[task]

    return ScoringContext(dataset=dataset, device=torch.device("cpu"), seed=seed, pretrain=pretrain)
