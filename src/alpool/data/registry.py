"""The dataset registry: name -> loader ``(DataSource) -> Dataset``."""

from __future__ import annotations

from collections.abc import Callable

from alpool.data.base import Dataset, DataSource
from alpool.registry import Registry

Loader = Callable[[DataSource], Dataset]
DATASETS: Registry[Loader] = Registry("dataset")
