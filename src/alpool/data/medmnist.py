"""The 2-D MedMNIST family from its ``.npz`` files, with the official validation split.

ChestMNIST is left out on purpose: it is multi-label (14 binary labels per image) and every
alpool step assumes one class per image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from alpool.core.errors import ConfigError, CorruptFileError
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, labels_tensor, to_uint8_nchw
from alpool.data.download import Resource, locate
from alpool.data.medmnist_info import MEDMNIST_INFO

MEDMNIST_URL = "https://zenodo.org/records/10519652/files/"
MEDMNIST_HOME = Path.home() / ".medmnist"  # where the ``medmnist`` package saves its files
MEDMNIST_SIZES = ("28", "64", "128", "224")


def npz_filename(name: str, size: str | None) -> str:
    """Return ``<name>.npz`` for 28x28 and ``<name>_<size>.npz`` for the MedMNIST+ sizes."""
    if size is None or size in ("", "28"):
        return f"{name}.npz"
    if size not in MEDMNIST_SIZES:
        raise ConfigError(f"{name} size {size!r} is not one of {', '.join(MEDMNIST_SIZES)}; "
                          f"use e.g. {name}:64")
    return f"{name}_{size}.npz"


def read_split(archive: np.lib.npyio.NpzFile, split: str,
               path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``<split>_images`` (``[N, H, W]`` or ``[N, H, W, 3]`` uint8) and flat labels."""
    keys = (f"{split}_images", f"{split}_labels")
    if any(key not in archive.files for key in keys):
        raise CorruptFileError(f"{path}: arrays {', '.join(keys)} missing; download it again")
    images, labels = archive[keys[0]], archive[keys[1]]
    if images.dtype != np.uint8:
        raise CorruptFileError(f"{path}: {split} images are {images.dtype}, uint8 expected")
    if labels.ndim == 2 and labels.shape[1] != 1:
        raise CorruptFileError(f"{path}: {split} labels have shape {labels.shape}; one label "
                               "per image expected (multi-label sets such as chestmnist are "
                               "not supported)")
    if len(images) != len(labels):
        raise CorruptFileError(f"{path}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels.reshape(-1)


def load_medmnist(source: DataSource, name: str) -> Dataset:
    """Load one MedMNIST ``.npz`` with its train, official val and test splits."""
    filename = npz_filename(name, source.arg)
    md5 = MEDMNIST_INFO[name][2] if filename == f"{name}.npz" else None
    resource = Resource(f"{MEDMNIST_URL}{filename}?download=1", filename, md5, "medmnist")
    folder = locate(source, name, [filename], ["medmnist", name], (resource,), [MEDMNIST_HOME])
    path = folder / filename
    try:
        archive = np.load(path)
    except (ValueError, OSError) as exc:
        raise CorruptFileError(f"{path}: not an .npz archive ({exc}); download it again") from exc
    with archive:
        (train_x, train_y), (val_x, val_y), (test_x, test_y) = (
            read_split(archive, split, path) for split in ("train", "val", "test"))
    return Dataset(
        name=name,
        train_x=to_uint8_nchw(train_x),  # [N, 1 or 3, 28, 28]
        train_y=labels_tensor(train_y),
        test_x=to_uint8_nchw(test_x),
        test_y=labels_tensor(test_y),
        classes=MEDMNIST_INFO[name][1],
        val_x=to_uint8_nchw(val_x),
        val_y=labels_tensor(val_y),
    )


def _loader(name: str) -> Callable[[DataSource], Dataset]:
    """Return the registered loader of one MedMNIST dataset."""

    def load(source: DataSource) -> Dataset:
        return load_medmnist(source, name)

    load.__name__ = f"load_{name}"
    load.__doc__ = f"Load {name} from {name}.npz (or {name}_<size>.npz, spec {name}:<size>)."
    return load


for _name in MEDMNIST_INFO:
    DATASETS.add(_name, _loader(_name))
