"""scikit-learn's bundled handwritten digits: the embedded default that needs no download."""

from __future__ import annotations

import numpy as np

from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, labels_tensor, to_uint8_nchw

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@DATASETS.register("digits")
def load_digits(source: DataSource) -> Dataset:
    """Load the digits as 8x8 grayscale uint8 images with a fixed stratified 80/20 train/test split.

    The split is fixed (seed 0) so every run directory sees the same train indices.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # [1797, 8, 8]
    labels = bunch.target.astype(np.int64)
    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        index, test_size=DIGITS_TEST_FRACTION, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return Dataset(
        name="digits",
        train_x=to_uint8_nchw(images[train_idx]),
        train_y=labels_tensor(labels[train_idx]),
        test_x=to_uint8_nchw(images[test_idx]),
        test_y=labels_tensor(labels[test_idx]),
        classes=tuple(str(d) for d in range(10)),
    )
