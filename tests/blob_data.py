"""A tiny synthetic image dataset that a small CNN learns in a second (shared by all test folders)."""

from __future__ import annotations

import numpy as np
import torch

from alpool.data.base import Dataset


def make_blob_dataset(n_per_class: int = 20, num_classes: int = 3, size: int = 8, channels: int = 1,
                      seed: int = 0, n_test_per_class: int = 10) -> Dataset:
    """Return an easy image dataset: class k is a bright square at a class-specific place plus noise."""
    rng = np.random.default_rng(seed)

    def images(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(num_classes), n)
        x = rng.integers(0, 60, size=(len(labels), channels, size, size)).astype(np.uint8)
        for i, k in enumerate(labels):
            r = (k * 2) % (size - 2)
            x[i, :, r : r + 3, r : r + 3] = 220
        return x, labels

    tx, ty = images(n_per_class)
    vx, vy = images(n_test_per_class)
    return Dataset(
        name="blobs",
        train_x=torch.from_numpy(tx),
        train_y=torch.from_numpy(ty.astype(np.int64)),
        test_x=torch.from_numpy(vx),
        test_y=torch.from_numpy(vy.astype(np.int64)),
        classes=tuple(f"c{k}" for k in range(num_classes)),
    )
