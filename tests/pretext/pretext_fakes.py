"""In-memory stand-ins for finished pretrain steps and a context builder for task tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.data.base import Dataset
from alpool.errors import MissingStepError
from alpool.pretext import PretrainContext, PretrainOutput


@dataclass
class MemoryArtifacts:
    """A finished pretrain step held in memory (arrays dict + checkpoint dict)."""

    name: str
    arrays: dict[str, np.ndarray]
    ckpt: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray:
        """Return an array by name."""
        return self.arrays[name]

    def checkpoint(self) -> dict[str, Any]:
        """Return the checkpoint dict."""
        return self.ckpt

    def summary(self) -> dict[str, Any]:
        """Return the summary."""
        return self.info

    @staticmethod
    def from_output(name: str, out: PretrainOutput) -> MemoryArtifacts:
        """Wrap a task's output as a finished step."""
        return MemoryArtifacts(name, out.arrays, out.checkpoint, out.summary)


def make_context(
    dataset: Dataset,
    workdir: Path,
    seed: int = 0,
    val: np.ndarray | None = None,
    steps: dict[str, MemoryArtifacts] | None = None,
) -> PretrainContext:
    """Return a CPU context whose pool is every train index not in ``val``."""
    val = np.empty(0, dtype=np.int64) if val is None else np.asarray(val, dtype=np.int64)
    pool = np.setdiff1d(np.arange(dataset.n_train), val).astype(np.int64)
    steps = steps or {}

    def upstream(task: str) -> MemoryArtifacts:
        if task not in steps:
            raise MissingStepError(f"no pretrain step {task!r}; run alpool pretrain --task {task}")
        return steps[task]

    return PretrainContext(
        dataset=dataset,
        pool=pool,
        val=val,
        device=torch.device("cpu"),
        seed=seed,
        workdir=workdir,
        upstream=upstream,
    )
