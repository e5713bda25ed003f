"""How an AL episode turns labeled indices into a classifier (``al-run --framework``).

A framework trains on the labeled set of one episode and returns a :class:`TrainedModel`: a
:class:`~alpool.selectors.base.Classifier` for the queries plus test predictions for the metrics.
``supervised`` trains a network from scratch; ``linear-probe`` and ``semi-supervised`` plug in here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from alpool.core.config import TrainConfig
from alpool.core.params import Configurable
from alpool.data.base import Dataset
from alpool.frameworks import FRAMEWORKS
from alpool.selectors.base import Classifier


@dataclass
class EpisodeData:
    """One episode's training input. Indices are train-split dataset indices.

    Attributes:
        dataset: the dataset (tensors on CPU; frameworks move what they need to ``device``).
        labeled: int64 labeled indices of this episode.
        unlabeled: int64 pool indices not labeled (semi-supervised frameworks may use them).
        val: int64 validation indices of the train split (empty with an official val split).
        train: the classifier's training config.
        seed: the seed of this (trial, episode) training.
        device: torch device.
        embeddings: ``embeddings(task)`` -> ``[N, D]`` pretext embeddings (linear probe, --init).
        checkpoint: ``checkpoint(task)`` -> a pretrain step's model.pt dict (``--init simclr``).
        previous: the previous episode's weights (``--warm-start``), else ``None``.
        validation: ``split | none | labeled-kfold`` (:mod:`alpool.learning.validation`); only ``split``
            shows the model any validation image.
        folds: the number of folds of ``labeled-kfold``.
        split_cache: ``(task, split, device, compute) -> [M, D]`` embeddings of a whole split by a
            pretrain step's encoder, computed once per step and reused (``None``: no cache).
    """

    dataset: Dataset
    labeled: np.ndarray
    unlabeled: np.ndarray
    val: np.ndarray
    train: TrainConfig
    seed: int
    device: torch.device
    embeddings: Callable[[str], np.ndarray]
    checkpoint: Callable[[str], dict[str, Any]]
    previous: dict[str, torch.Tensor] | None = None
    validation: str = "split"
    folds: int = 5
    split_cache: Callable[[str, str, torch.device, Callable[[], np.ndarray]], np.ndarray] | None = None

    def val_split(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the validation images and labels (official split when the dataset has one; none unless ``split``)."""
        ds = self.dataset
        if self.validation != "split":
            return ds.train_x[:0], ds.train_y[:0]
        if ds.val_x is not None and ds.val_y is not None:
            return ds.val_x, ds.val_y
        idx = torch.as_tensor(self.val)
        return ds.train_x[idx], ds.train_y[idx]


@dataclass
class TrainedModel:
    """What a framework returns for one episode.

    Attributes:
        classifier: the model as seen by queries (dataset indices in, predictions out).
        test_proba: ``[M, K]`` test-split probabilities of the best-validation model.
        val_accuracy: validation accuracy of the kept weights (NaN without validation).
        state: weights to warm-start the next episode from (``None`` if not applicable).
        info: details worth recording (best epoch, steps, threshold stats ...).
    """

    classifier: Classifier
    test_proba: np.ndarray
    val_accuracy: float
    state: dict[str, torch.Tensor] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Framework(Configurable, ABC):
    """Base class of the evaluation frameworks."""

    validations: ClassVar[tuple[str, ...]] = ("split", "none")  # the --validation modes it implements

    @abstractmethod
    def train(self, data: EpisodeData) -> TrainedModel:
        """Train on ``data.labeled`` and return the classifier and test predictions."""

    def uses_pretrain(self) -> list[str]:
        """Return the pretrain tasks this framework reads (recorded as inputs)."""
        return []


__all__ = ["FRAMEWORKS", "EpisodeData", "Framework", "TrainedModel"]
