"""Shared fixtures: tiny in-memory datasets and a run directory on them."""

from __future__ import annotations

import pytest

from alpool.data.base import Dataset
from blob_data import make_blob_dataset


@pytest.fixture
def blobs() -> Dataset:
    """A 60-image, 3-class 8x8 dataset that a small CNN learns in a second."""
    return make_blob_dataset()
