"""Fixtures of the framework tests: an episode factory over in-memory datasets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from alpool.core.config import TrainConfig
from alpool.data.base import Dataset
from alpool.frameworks import EpisodeData

TRAIN = TrainConfig(epochs=5, batch_size=16, lr=0.05, crop_padding=1, flip=False, width=8)
EpisodeFactory = Callable[..., EpisodeData]


def _missing(task: str) -> Any:
    raise AssertionError(f"the test did not expect a read of {task!r}")


def make_episode(
    ds: Dataset,
    labeled: np.ndarray,
    val: np.ndarray | None = None,
    seed: int = 0,
    train: TrainConfig = TRAIN,
    embeddings: Callable[[str], np.ndarray] = _missing,
    checkpoint: Callable[[str], dict[str, Any]] = _missing,
) -> EpisodeData:
    """Return an episode whose unlabeled set is every train index outside labeled and val."""
    val = np.empty(0, np.int64) if val is None else np.asarray(val, np.int64)
    labeled = np.asarray(labeled, np.int64)
    unlabeled = np.setdiff1d(np.arange(ds.n_train), np.concatenate([labeled, val])).astype(np.int64)
    return EpisodeData(
        dataset=ds,
        labeled=labeled,
        unlabeled=unlabeled,
        val=val,
        train=train,
        seed=seed,
        device=torch.device("cpu"),
        embeddings=embeddings,
        checkpoint=checkpoint,
    )


@pytest.fixture
def episode() -> EpisodeFactory:
    """Return :func:`make_episode`."""
    return make_episode
