"""CIFAR-10, CIFAR-100 and long-tail CIFAR-10 from the python pickle batches."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.core.errors import ConfigError, CorruptFileError
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, labels_tensor
from alpool.data.download import Resource, locate

CIFAR10_DIR = "cifar-10-batches-py"
CIFAR100_DIR = "cifar-100-python"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_DOWNLOAD = Resource("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                            "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                            extract=True)
CIFAR100_DOWNLOAD = Resource("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                             "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                             extract=True)
LONG_TAIL_DEFAULT_RATIO = 0.02  # [IP]: 13,996 train images; [CS] uses 0.01
FLOOR_GUARD = 1e-9  # keeps floor() of an exact integer such as 5000 * 0.02 from rounding down


def unpickle(path: Path) -> dict[bytes, Any]:
    """Load one CIFAR python batch (a dict with ``bytes`` keys)."""
    try:
        with path.open("rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise CorruptFileError(
            f"{path}: not a CIFAR python batch ({exc}); download it again"
        ) from exc
    if not isinstance(batch, dict):
        raise CorruptFileError(f"{path}: not a CIFAR python batch (no dict); download it again")
    return batch


def _field(batch: dict[bytes, Any], key: bytes, path: Path) -> Any:
    """Return ``batch[key]`` or raise a CorruptFileError naming the file and the key."""
    if key not in batch:
        raise CorruptFileError(f"{path}: key {key.decode()!r} missing; download the file again")
    return batch[key]


def read_batches(folder: Path, names: tuple[str, ...],
                 label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read and concatenate batches into ``[N, 3, 32, 32]`` uint8 images and ``[N]`` labels.

    Each row of ``b"data"`` is 3072 bytes: the 1024 red, then green, then blue pixels of a
    32x32 image in row-major order, so a reshape gives NCHW directly.
    """
    images, labels = [], []
    for name in names:
        batch = unpickle(folder / name)
        data = np.asarray(_field(batch, b"data", folder / name), dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32))  # [n, 3, 32, 32]
        labels.append(np.asarray(_field(batch, label_key, folder / name), dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def class_names(path: Path, key: bytes) -> tuple[str, ...]:
    """Return the class names stored under ``key`` of a meta pickle, decoded."""
    names = _field(unpickle(path), key, path)
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _dataset(name: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
             classes: tuple[str, ...]) -> Dataset:
    """Wrap NCHW uint8 arrays and labels into a Dataset."""
    return Dataset(
        name=name,
        train_x=torch.from_numpy(np.ascontiguousarray(train[0])),
        train_y=labels_tensor(train[1]),
        test_x=torch.from_numpy(np.ascontiguousarray(test[0])),
        test_y=labels_tensor(test[1]),
        classes=classes,
    )


@DATASETS.register("cifar10")
def load_cifar10(source: DataSource) -> Dataset:
    """Load CIFAR-10 from ``cifar-10-batches-py`` (``data_batch_1..5``, ``test_batch``)."""
    names = [*CIFAR10_TRAIN, "test_batch", "batches.meta"]
    folder = locate(source, "cifar10", names, [CIFAR10_DIR, f"cifar10/{CIFAR10_DIR}", "cifar10"],
                    (CIFAR10_DOWNLOAD,))
    train = read_batches(folder, CIFAR10_TRAIN, b"labels")
    test = read_batches(folder, ("test_batch",), b"labels")
    return _dataset("cifar10", train, test, class_names(folder / "batches.meta", b"label_names"))


@DATASETS.register("cifar100")
def load_cifar100(source: DataSource) -> Dataset:
    """Load CIFAR-100 (fine labels) from ``cifar-100-python`` (``train``, ``test``, ``meta``)."""
    folder = locate(source, "cifar100", ["train", "test", "meta"],
                    [CIFAR100_DIR, f"cifar100/{CIFAR100_DIR}", "cifar100"], (CIFAR100_DOWNLOAD,))
    train = read_batches(folder, ("train",), b"fine_labels")
    test = read_batches(folder, ("test",), b"fine_labels")
    return _dataset("cifar100", train, test, class_names(folder / "meta", b"fine_label_names"))


def long_tail_counts(n_max: int, num_classes: int, ratio: float) -> list[int]:
    """Return ``n_k = floor(n_max * ratio ** (k / (K - 1)))`` for classes ``k = 0..K-1``.

    Class 0 keeps ``n_max`` images and the last class ``n_max * ratio``; with CIFAR-10
    (``n_max=5000``) and ratio 0.02 the counts sum to 13,996.
    """
    if num_classes == 1:
        return [n_max]
    return [math.floor(n_max * ratio ** (k / (num_classes - 1)) + FLOOR_GUARD)
            for k in range(num_classes)]


def long_tail_indices(labels: np.ndarray, num_classes: int, ratio: float) -> np.ndarray:
    """Return the sorted train indices kept: the first ``n_k`` images of class ``k`` in file order.

    ``n_max`` is the size of the smallest class (5,000 for CIFAR-10), so the rule is
    deterministic and needs no random generator.
    """
    per_class = np.bincount(labels, minlength=num_classes)  # [K]
    counts = long_tail_counts(int(per_class.min()), num_classes, ratio)
    kept = [np.flatnonzero(labels == k)[:n] for k, n in enumerate(counts)]
    return np.sort(np.concatenate(kept)).astype(np.int64)


def parse_ratio(arg: str | None) -> float:
    """Parse the imbalance ratio of ``cifar10-lt:RATIO`` (default 0.02)."""
    if arg is None or arg == "":
        return LONG_TAIL_DEFAULT_RATIO
    try:
        ratio = float(arg)
    except ValueError:
        ratio = -1.0
    if not 0.0 < ratio <= 1.0:
        raise ConfigError(f"cifar10-lt imbalance ratio {arg!r} is not a number in (0, 1]; "
                          "use e.g. cifar10-lt:0.02 (the [IP] setting) or cifar10-lt:0.01")
    return ratio


@DATASETS.register("cifar10-lt")
def load_cifar10_lt(source: DataSource) -> Dataset:
    """Load CIFAR-10 and keep the first ``n_k`` train images of each class (test unchanged)."""
    ratio = parse_ratio(source.arg)
    full = load_cifar10(DataSource(root=source.root, download=source.download))
    labels = full.train_y.numpy()
    keep = long_tail_indices(labels, full.num_classes, ratio)
    return full.subset_train(keep, name="cifar10-lt")
