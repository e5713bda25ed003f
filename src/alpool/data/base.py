"""The in-memory dataset every step works on, and how loaders find their files."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from alpool.core.errors import DatasetFilesMissing
from alpool.data.pixels import Pixels

if TYPE_CHECKING:
    from alpool.data.folder_reader import FolderStore


@dataclass(frozen=True, init=False)
class Dataset:
    """Images as uint8 tensors ``[N, C, H, W]`` with int64 labels, and their class names.

    ``val_x``/``val_y`` hold an *official* validation split (MedMNIST) when the dataset has one;
    otherwise validation is held out of the train split by index (see :func:`alpool.data.split`).
    Indices passed around alpool are always indices of ``train_x``.

    ``train_x`` and ``test_x`` are read through :class:`Pixels`: an image folder is decoded only when
    a step first reads them (``n_train``, ``image_shape``, ``paths`` and ``fingerprint`` need no pixel).
    """

    name: str
    train_pixels: Pixels  # train images [N, C, H, W] uint8 (read as ``train_x``)
    train_y: torch.Tensor  # [N] int64
    test_pixels: Pixels  # [M, C, H, W] uint8 (read as ``test_x``)
    test_y: torch.Tensor  # [M] int64
    classes: tuple[str, ...]
    val_x: torch.Tensor | None  # [V, C, H, W] uint8, official split only
    val_y: torch.Tensor | None  # [V] int64
    paths: tuple[str, ...]  # relative file path (NFC) of every train image (folders), else empty
    root: str | None  # the absolute folder ``paths`` are relative to
    has_labels: bool  # False: no ground truth at all (train_y is -1, no test split)
    files_digest: str  # folders: sha256 of the folder's index (paths, sizes, times, headers, image size)
    files: tuple[str, ...]  # the on-disk relative path of every train image where one differs from ``paths``
    _fingerprint: list[str] = field(repr=False, compare=False)

    def __init__(self, name: str, train_x: torch.Tensor | None = None, train_y: torch.Tensor | None = None,
                 test_x: torch.Tensor | None = None, test_y: torch.Tensor | None = None,
                 classes: tuple[str, ...] = (), val_x: torch.Tensor | None = None, val_y: torch.Tensor | None = None,
                 paths: tuple[str, ...] = (), root: str | None = None, has_labels: bool = True,
                 files_digest: str = "", files: tuple[str, ...] = (), *, train_pixels: Pixels | None = None,
                 test_pixels: Pixels | None = None, _fingerprint: list[str] | None = None) -> None:
        train = _pixels(name, "train", train_x, train_pixels)
        test = _pixels(name, "test", test_x, test_pixels)
        if train_y is None or test_y is None:
            raise ValueError(f"{name}: train_y and test_y are required")
        values = {"name": name, "train_pixels": train, "train_y": train_y, "test_pixels": test, "test_y": test_y,
                  "classes": tuple(classes), "val_x": val_x, "val_y": val_y, "paths": tuple(paths), "root": root,
                  "has_labels": has_labels, "files_digest": files_digest, "files": tuple(files),
                  "_fingerprint": [] if _fingerprint is None else _fingerprint}
        for key, value in values.items():
            object.__setattr__(self, key, value)
        for split, n, y in (("train", train.shape[0], train_y), ("test", test.shape[0], test_y)):
            if y.dtype != torch.int64 or tuple(y.shape) != (n,):
                raise ValueError(f"{name}: {split}_y must be int64 [{n}]")
        if val_x is not None:
            Pixels.of(val_x)
            if val_y is None or val_y.dtype != torch.int64 or tuple(val_y.shape) != (val_x.shape[0],):
                raise ValueError(f"{name}: val_y must be int64 [{val_x.shape[0]}]")
        if files and len(files) != len(paths):
            raise ValueError(f"{name}: files must name one file per path")

    @property
    def train_x(self) -> torch.Tensor:
        """Return the train images ``[N, C, H, W]`` uint8 (decoded on first use for folders)."""
        return self.train_pixels.get()

    @property
    def test_x(self) -> torch.Tensor:
        """Return the test images ``[M, C, H, W]`` uint8."""
        return self.test_pixels.get()

    @property
    def num_classes(self) -> int:
        """Return the number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Return ``(C, H, W)``."""
        _, c, h, w = self.train_pixels.shape
        return c, h, w

    @property
    def n_train(self) -> int:
        """Return the size of the train split (the pool)."""
        return self.train_pixels.shape[0]

    @property
    def n_test(self) -> int:
        """Return the size of the test split."""
        return self.test_pixels.shape[0]

    def file(self, index: int) -> Path:
        """Return the absolute path of train image ``index``'s file (folders only)."""
        if self.root is None or not self.paths:
            raise ValueError(f"{self.name} has no files")
        return Path(self.root) / (self.files[index] if self.files else self.paths[index])

    @property
    def fingerprint(self) -> str:
        """Return the sha256 of the content (images, labels, class names), computed once.

        A folder's images are stood for by its index (``files_digest``: paths, sizes, times, headers),
        so computing it decodes nothing.
        """
        if not self._fingerprint:
            digest = hashlib.sha256()
            if self.files_digest:
                tensors: tuple[torch.Tensor | None, ...] = (self.train_y, self.test_y, self.val_x, self.val_y)
                digest.update(str(self.train_pixels.shape + self.test_pixels.shape).encode())
            else:
                tensors = (self.train_x, self.train_y, self.test_x, self.test_y, self.val_x, self.val_y)
            for tensor in tensors:
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
        files = tuple(self.files[i] for i in idx.tolist()) if self.files else ()
        return Dataset(
            name=name or self.name,
            train_x=self.train_x[idx].contiguous(),
            train_y=self.train_y[idx].contiguous(),
            test_pixels=self.test_pixels,
            test_y=self.test_y,
            classes=self.classes,
            val_x=self.val_x,
            val_y=self.val_y,
            paths=paths,
            root=self.root,
            has_labels=self.has_labels,
            files=files,
        )


def _pixels(name: str, split: str, tensor: torch.Tensor | None, pixels: Pixels | None) -> Pixels:
    """Return the images of a split given either as a tensor or as :class:`Pixels`."""
    if (tensor is None) == (pixels is None):
        raise ValueError(f"{name}: give {split}_x or {split}_pixels")
    if pixels is not None:
        return pixels
    assert tensor is not None  # noqa: S101 - checked above
    try:
        return Pixels.of(tensor)
    except ValueError as exc:
        raise ValueError(f"{name}: {split}_x {exc}") from exc


@dataclass(frozen=True)
class DataSource:
    """Where and how a loader may find its files.

    Attributes:
        root: the data directory (``--data-dir`` or ``ALPOOL_DATA``); ``None`` means only the
            loader's built-in locations (e.g. the Debian package's folder, scikit-learn's data).
        download: whether the loader may download missing files.
        arg: the part after ``:`` in the dataset spec (``imagefolder:PATH``, ``cifar10-lt:0.01``).
        store: where a run keeps an image folder's index and decoded pixels (folder loaders only).
    """

    root: Path | None = None
    download: bool = False
    arg: str | None = None
    store: FolderStore | None = None

    @staticmethod
    def from_env(data_dir: Path | None = None, download: bool = False, arg: str | None = None,
                 store: FolderStore | None = None) -> DataSource:
        """Build a source from an explicit directory or the ``ALPOOL_DATA`` variable."""
        if data_dir is None and os.environ.get("ALPOOL_DATA"):
            data_dir = Path(os.environ["ALPOOL_DATA"])
        return DataSource(root=data_dir, download=download, arg=arg, store=store)

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
