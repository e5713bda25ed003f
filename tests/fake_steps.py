"""In-memory finished pretrain steps, and pretext / scoring contexts over them (shared by test folders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.core import reporting
from alpool.core.errors import MissingStepError
from alpool.data.base import Dataset
from alpool.pretext import TASKS, PretrainContext, PretrainOutput
from alpool.scorers import ScoringContext


@dataclass
class MemoryArtifacts:
    """A finished pretrain step held in memory (arrays dict + checkpoint dict)."""

    name: str
    arrays: dict[str, np.ndarray]
    ckpt: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray:
        """Return an array by name (like a real step, a missing one is a MissingStepError)."""
        if name not in self.arrays:
            raise MissingStepError(f"step pretrain/{self.name} has no array {name!r}")
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


def _serving(steps: dict[str, MemoryArtifacts]) -> Callable[[str], MemoryArtifacts]:
    """Return a lookup of finished steps by name that fails like the real run directory."""

    def lookup(task: str) -> MemoryArtifacts:
        if task not in steps:
            raise MissingStepError(f"no pretrain step {task!r}; run alpool pretrain --task {task}")
        return steps[task]

    return lookup


def scoring_context(dataset: Dataset, steps: dict[str, MemoryArtifacts], seed: int = 0) -> ScoringContext:
    """Return a CPU scoring context that serves ``steps`` by name."""
    return ScoringContext(dataset=dataset, device=torch.device("cpu"), seed=seed, pretrain=_serving(steps))


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

    upstream = _serving(steps)
    return PretrainContext(
        dataset=dataset,
        pool=pool,
        val=val,
        device=torch.device("cpu"),
        seed=seed,
        workdir=workdir,
        upstream=upstream,
    )


class Interrupted(Exception):
    """Raised by :class:`StopAfter` to stand in for a kill."""


class StopAfter(reporting.Reporter):
    """A reporter that raises after ``epochs`` finished epochs (each epoch reports a status)."""

    def __init__(self, epochs: int) -> None:
        self.left = epochs
        self.messages: list[str] = []

    def advance(self, handle: object, amount: int = 1, status: str = "") -> None:
        if status:
            self.left -= 1
            if self.left == 0:
                raise Interrupted

    def info(self, message: str) -> None:
        self.messages.append(message)


def interrupt_then_resume(task: str, params: dict[str, Any], ctx: PretrainContext,
                          after: int) -> tuple[PretrainOutput, list[str]]:
    """Run ``task``, interrupt it after ``after`` epochs, run it again; return the output and messages."""
    stopper = StopAfter(after)
    previous = reporting.set_reporter(stopper)
    try:
        try:
            TASKS.create(task, params).run(ctx)
        except Interrupted:
            pass
        else:
            raise AssertionError(f"{task} finished before epoch {after}")
        assert (ctx.workdir / "checkpoint.pt").exists()
        stopper.left = -1
        return TASKS.create(task, params).run(ctx), stopper.messages
    finally:
        reporting.set_reporter(previous)
