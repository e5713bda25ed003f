"""The in-memory dataset every step works on, and how loaders find their files."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from alpool.errors import DatasetFilesMissing


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 tensors ``[N, C, H, W]`` with int64 labels, and their class names.

    ``val_x``/``val_y`` hold an *official* validation split (MedMNIST) when the dataset has one;
    otherwise validation is held out of the train split by index (see :func:`alpool.data.split`).
    Indices passed around alpool are always indices of ``train_x``.
    """

    name: str
    train_x: torch.Tensor  # [N, C, H, W] uint8
    train_y: torch.Tensor  # [N] int64
    test_x: torch.Tensor  # [M, C, H, W] uint8
    test_y: torch.Tensor  # [M] int64
    classes: tuple[str, ...]
    val_x: torch.Tensor | None = None  # [V, C, H, W] uint8, official split only
    val_y: torch.Tensor | None = None  # [V] int64
    paths: tuple[str, ...] = ()  # relative file path of every train image (folders), else empty
    root: str | None = None  # the folder ``paths`` are relative to
    has_labels: bool = True  # False: no ground truth at all (train_y is -1, no test split)
    files_digest: str = ""  # sha256 over the source files' paths and bytes (folders)
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("train", "test", "val"):
            x, y = getattr(self, f"{name}_x"), getattr(self, f"{name}_y")
            if x is None:
                continue
            if x.dtype != torch.uint8 or x.ndim != 4:
                raise ValueError(f"{self.name}: {name}_x must be uint8 [N, C, H, W], got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"{self.name}: {name}_y must be int64 [{x.shape[0]}]")

    @property
    def num_classes(self) -> int:
        """Return the number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Return ``(C, H, W)``."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_train(self) -> int:
        """Return the size of the train split (the pool)."""
        return int(self.train_x.shape[0])

    @property
    def fingerprint(self) -> str:
        """Return the sha256 of the content (images, labels, class names), computed once."""
        if not self._fingerprint:
            digest = hashlib.sha256()
            for tensor in (self.train_x, self.train_y, self.test_x, self.test_y, self.val_x, self.val_y):
                if tensor is not None:
                    digest.update(str(tuple(tensor.shape)).encode())
                    digest.update(tensor.contiguous().numpy().tobytes())
            digest.update("\n".join(self.classes).encode())
            if self.paths or self.files_digest:  # folders: the files themselves, by path
                digest.update("\n".join(self.paths).encode())
                digest.update(self.files_digest.encode())
            self._fingerprint.append(digest.hexdigest())
        return self._fingerprint[0]

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Return per-channel mean and std of the train images in [0, 1]."""
        x = self.train_x[: min(self.n_train, 20000)].float().div_(255)
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return tuple(mean.tolist()), tuple(std.tolist())

    def subset_train(self, indices: np.ndarray, name: str | None = None) -> Dataset:
        """Return a dataset whose train split is ``train[indices]`` (used for long-tail variants)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        paths = tuple(self.paths[i] for i in idx.tolist()) if self.paths else ()
        return Dataset(
            name=name or self.name,
            train_x=self.train_x[idx].contiguous(),
            train_y=self.train_y[idx].contiguous(),
            test_x=self.test_x,
            test_y=self.test_y,
            classes=self.classes,
            val_x=self.val_x,
            val_y=self.val_y,
            paths=paths,
            root=self.root,
            has_labels=self.has_labels,
        )


@dataclass(frozen=True)
class DataSource:
    """Where and how a loader may find its files.

    Attributes:
        root: the data directory (``--data-dir`` or ``ALPOOL_DATA``); ``None`` means only the
            loader's built-in locations (e.g. the Debian package's folder, scikit-learn's data).
        download: whether the loader may download missing files.
        arg: the part after ``:`` in the dataset spec (``imagefolder:PATH``, ``cifar10-lt:0.01``).
    """

    root: Path | None = None
    download: bool = False
    arg: str | None = None

    @staticmethod
    def from_env(data_dir: Path | None = None, download: bool = False, arg: str | None = None) -> DataSource:
        """Build a source from an explicit directory or the ``ALPOOL_DATA`` variable."""
        if data_dir is None and os.environ.get("ALPOOL_DATA"):
            data_dir = Path(os.environ["ALPOOL_DATA"])
        return DataSource(root=data_dir, download=download, arg=arg)

    def candidates(self, *subdirs: str) -> list[Path]:
        """Return the folders to look in, in order: ``root/<subdir>`` then ``root``."""
        if self.root is None:
            return []
        return [self.root / s for s in subdirs] + [self.root]


def find_files(source: DataSource, dataset: str, names: list[str], subdirs: list[str],
               extra_dirs: list[Path] | None = None) -> Path:
    """Return the first folder holding every file of ``names`` or raise a teaching error."""
    folders = source.candidates(*subdirs) + list(extra_dirs or [])
    for folder in folders:
        if all((folder / n).exists() for n in names):
            return folder
    where = source.root / subdirs[0] if source.root is not None and subdirs else Path("$ALPOOL_DATA")
    looked = ", ".join(str(f) for f in folders) or "nowhere (no --data-dir and no ALPOOL_DATA)"
    raise DatasetFilesMissing(
        f"dataset {dataset!r}: files {', '.join(names)} not found (looked in {looked}); "
        f"put them in {where} or pass --data-dir DIR (or --download where the network allows)"
    )


def to_uint8_nchw(images: np.ndarray) -> torch.Tensor:
    """Convert ``[N, H, W]`` or ``[N, H, W, C]`` uint8 arrays to a contiguous ``[N, C, H, W]`` tensor."""
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {array.dtype}")
    if array.ndim == 3:
        array = array[:, None, :, :]
    elif array.ndim == 4:
        array = array.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"expected [N, H, W] or [N, H, W, C] images, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array))


def labels_tensor(labels: np.ndarray) -> torch.Tensor:
    """Convert any integer label array to a flat int64 tensor."""
    return torch.from_numpy(np.asarray(labels).reshape(-1).astype(np.int64))
