"""The pretext-task contract (``alpool pretrain --task NAME``).

A task trains a self-supervised (or, for ``proxy``, an oracle supervised) model on the train split
and returns per-image arrays for every train image. The stage writes them to
``pretrain/<task>/``: ``model.pt``, ``embeddings.npy`` ``[N, D]`` and the task's other arrays
(e.g. ``loss.npy`` ``[N]``), plus ``history.csv`` (the loss curve).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from alpool.core.params import Configurable
from alpool.data.base import Dataset
from alpool.pretext import TASKS


class PretrainArtifacts(Protocol):
    """Read access to a finished pretrain step (hashes are recorded as inputs by the stage)."""

    name: str

    def array(self, name: str) -> np.ndarray:
        """Load ``<name>.npy`` of the step (e.g. ``embeddings``, ``loss``, ``cluster``)."""
        ...

    def checkpoint(self) -> dict[str, Any]:
        """Load ``model.pt`` (a dict with ``spec`` / ``state_dict`` entries written by the task)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Return the step's manifest summary."""
        ...


@dataclass
class PretrainContext:
    """What a task may use.

    Attributes:
        dataset: the dataset (train split = the pool; test split only for ``proxy``).
        pool: int64 train indices outside the validation hold-out.
        val: int64 train indices held out for validation (may be empty).
        device: training device.
        seed: the step's seed; derive generators with :mod:`alpool.core.seeding`.
        workdir: the step folder; a task may keep ``checkpoint.pt`` there to resume after a kill.
        upstream: ``upstream("simclr")`` returns a finished pretrain step (e.g. for ``scan``).
    """

    dataset: Dataset
    pool: np.ndarray
    val: np.ndarray
    device: torch.device
    seed: int
    workdir: Path
    upstream: Callable[[str], PretrainArtifacts]


@dataclass
class PretrainOutput:
    """What a task returns.

    Attributes:
        arrays: name -> array for every train image; ``embeddings`` ``[N, D]`` float32 is required.
        checkpoint: a torch-saveable dict (tensors, numbers, strings, lists, dicts only).
        history: one dict per epoch (written as ``history.csv``).
        summary: small facts for the manifest (final loss, NMI, ...).
        oracle: whether the task used labels (``proxy``); everything downstream inherits it.
    """

    arrays: dict[str, np.ndarray]
    checkpoint: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    oracle: bool = False


class PretextTask(Configurable, ABC):
    """Base class of every pretext task."""

    oracle: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Train and return the per-image arrays."""

    def check(self, dataset: Dataset) -> None:
        """Refuse bad inputs (files, shapes) before the stage writes anything; no-op by default."""
        return None


__all__ = ["TASKS", "PretextTask", "PretrainArtifacts", "PretrainContext", "PretrainOutput"]
