"""Datasets: a registry of loaders that read the real file formats into uint8 tensors.

Importing this package is cheap (names and descriptions only); a loader's module, with numpy and
torch, is imported when the dataset is first loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alpool.core.registry import Registry, lazy_exports
from alpool.data.medmnist_info import MEDMNIST_BUDGET, MEDMNIST_INFO

if TYPE_CHECKING:
    import numpy as np

    from alpool.data.base import Dataset, DataSource
    from alpool.data.folder_reader import FolderStore
    from alpool.data.registry import Loader

__all__ = ["DATASETS", "Dataset", "DataSource", "load_dataset", "parse_spec", "validation_split"]

DATASETS: Registry[Loader] = Registry("dataset")
DATASETS.declare("cifar10", "alpool.data.cifar",
                 "CIFAR-10, 50k/10k 32x32 colour images of 10 classes (python pickles)", default_budget=5000)
DATASETS.declare("cifar10-lt", "alpool.data.cifar",
                 "long-tail CIFAR-10: class k keeps floor(5000*r^(k/9)) train images (spec cifar10-lt:r, default "
                 "r=0.02 -> 13,996 images); test unchanged", default_budget=1399)
DATASETS.declare("cifar100", "alpool.data.cifar",
                 "CIFAR-100, 50k/10k 32x32 colour images of 100 fine classes (python pickles)", default_budget=5000)
DATASETS.declare("digits", "alpool.data.digits",
                 "scikit-learn's 1,797 8x8 handwritten digits (bundled, no download)", default_budget=10)
DATASETS.declare("fashion-mnist", "alpool.data.idx",
                 "Zalando Fashion-MNIST, 60k/10k 28x28 grayscale clothing (IDX files)", default_budget=60)
DATASETS.declare("images", "alpool.data.unlabeled",
                 "a folder of unlabeled images, flat or nested: images:PATH (JPEG/PNG/WebP/GIF/TIFF/BMP; "
                 "--image-size S to resize); no ground truth")
DATASETS.declare("imagefolder", "alpool.data.imagefolder",
                 "any folder of class sub-folders: imagefolder:PATH (PATH/train + PATH/test or a fixed seeded "
                 "80/20 split; --image-size S to resize)")
DATASETS.declare("mnist", "alpool.data.idx",
                 "MNIST handwritten digits, 60k/10k 28x28 grayscale (IDX files)", default_budget=60)
DATASETS.declare("svhn", "alpool.data.svhn", "SVHN street-view house-number digits, 73k/26k 32x32 colour (.mat files)")
DATASETS.declare("tinyimagenet", "alpool.data.tinyimagenet",
                 "Tiny ImageNet, 100k/10k 64x64 colour images of 200 classes (val as test)", default_budget=10000)
for _name, (_description, _classes, _md5) in MEDMNIST_INFO.items():
    DATASETS.declare(_name, "alpool.data.medmnist", f"MedMNIST {_description} (.npz; {_name}:64 for 64x64)",
                     default_budget=MEDMNIST_BUDGET)


__getattr__ = lazy_exports(__name__, {"Dataset": "alpool.data.base", "DataSource": "alpool.data.base"})


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``name[:arg]`` (``imagefolder:/data/x``, ``cifar10-lt:0.01``)."""
    name, sep, arg = spec.partition(":")
    return name, (arg if sep else None)


def load_dataset(spec: str, data_dir: Path | None = None, download: bool = False,
                 store: FolderStore | None = None) -> Dataset:
    """Load a dataset by spec.

    Args:
        spec: a registered name, optionally with ``:arg``.
        data_dir: where the files are; defaults to ``$ALPOOL_DATA``.
        download: allow the loader to download missing files.
        store: a run's index and pixel cache for image folders (see :mod:`alpool.data.folder_reader`).

    Raises:
        UnknownNameError: the name is not registered.
        DatasetFilesMissing: the files are not found.
    """
    from alpool.data.base import DataSource

    name, arg = parse_spec(spec)
    loader = DATASETS.get(name)
    return loader(DataSource.from_env(data_dir, download, arg, store))


def validation_split(dataset: Dataset, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(pool_indices, val_indices)`` of the train split.

    With an official validation split (MedMNIST) every train index is in the pool and ``val`` is
    empty: callers use ``dataset.val_x``; an unlabeled dataset keeps every image in the pool.
    Otherwise ``fraction`` of the train split, drawn with ``rng``, is held out as validation and
    never enters the pool.
    """
    import numpy as np

    n = dataset.n_train
    if dataset.val_x is not None or fraction <= 0 or not dataset.has_labels:  # unlabeled: nothing to validate
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = rng.permutation(n)
    n_val = int(round(fraction * n))
    return np.sort(order[n_val:]).astype(np.int64), np.sort(order[:n_val]).astype(np.int64)
