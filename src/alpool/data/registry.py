"""The dataset registry: name -> loader ``(DataSource) -> Dataset`` (declared in :mod:`alpool.data`)."""

from __future__ import annotations

from collections.abc import Callable

from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource

Loader = Callable[[DataSource], Dataset]

__all__ = ["DATASETS", "Loader"]
