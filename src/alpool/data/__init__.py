"""Datasets: a registry of loaders that read the real file formats into uint8 tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpool.data import digits  # noqa: F401  (registers)
from alpool.data.base import Dataset, DataSource
from alpool.data.registry import DATASETS

__all__ = ["DATASETS", "Dataset", "DataSource", "load_dataset", "parse_spec", "validation_split"]


def _register_loaders() -> None:
    """Import every loader module so that it registers itself (missing modules are skipped)."""
    import importlib

    for module in ("idx", "cifar", "svhn", "medmnist", "tinyimagenet", "imagefolder", "unlabeled"):
        try:
            importlib.import_module(f"alpool.data.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"alpool.data.{module}":
                raise


_register_loaders()


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``name[:arg]`` (``imagefolder:/data/x``, ``cifar10-lt:0.01``)."""
    name, sep, arg = spec.partition(":")
    return name, (arg if sep else None)


def load_dataset(spec: str, data_dir: Path | None = None, download: bool = False) -> Dataset:
    """Load a dataset by spec.

    Args:
        spec: a registered name, optionally with ``:arg``.
        data_dir: where the files are; defaults to ``$ALPOOL_DATA``.
        download: allow the loader to download missing files.

    Raises:
        UnknownNameError: the name is not registered.
        DatasetFilesMissing: the files are not found.
    """
    name, arg = parse_spec(spec)
    loader = DATASETS.get(name)
    return loader(DataSource.from_env(data_dir, download, arg))


def validation_split(dataset: Dataset, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(pool_indices, val_indices)`` of the train split.

    With an official validation split (MedMNIST) every train index is in the pool and ``val`` is
    empty: callers use ``dataset.val_x``; an unlabeled dataset keeps every image in the pool.
    Otherwise ``fraction`` of the train split, drawn with ``rng``, is held out as validation and
    never enters the pool.
    """
    n = dataset.n_train
    if dataset.val_x is not None or fraction <= 0 or not dataset.has_labels:  # unlabeled: nothing to validate
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = rng.permutation(n)
    n_val = int(round(fraction * n))
    return np.sort(order[n_val:]).astype(np.int64), np.sort(order[:n_val]).astype(np.int64)
