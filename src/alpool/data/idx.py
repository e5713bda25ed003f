"""MNIST and Fashion-MNIST from their IDX files (``*-idx3-ubyte``/``*-idx1-ubyte``, gz or not)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from alpool.core.errors import CorruptFileError, DatasetFilesMissing
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, find_files, labels_tensor, to_uint8_nchw
from alpool.data.download import Resource, locate

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_UBYTE = 0x08  # the only element type the MNIST-style files use

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MD5 = ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
               "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` or plain) into an array of its shape.

    The header is two zero bytes, the element type (0x08 = ubyte), the number of dimensions,
    then one big-endian int32 per dimension; the data follow in C order.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise CorruptFileError(f"{path}: not an IDX ubyte file (bad magic number); "
                               "delete it and download it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(shape)):
        raise CorruptFileError(f"{path}: {len(raw) - header} data bytes but header shape {shape}; "
                               "delete it and download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _idx_folder(source: DataSource, dataset: str, subdirs: list[str], extra: list[Path],
                resources: tuple[Resource, ...]) -> tuple[Path, str]:
    """Return the folder with the four IDX files and their suffix (``""`` or ``".gz"``)."""
    try:
        return find_files(source, dataset, list(IDX_FILES), subdirs, extra), ""
    except DatasetFilesMissing:
        pass
    gz_names = [f"{name}.gz" for name in IDX_FILES]
    try:
        return locate(source, dataset, gz_names, subdirs, resources, extra), ".gz"
    except DatasetFilesMissing as exc:
        raise DatasetFilesMissing(f"{exc} (uncompressed files are accepted too)") from None


def load_idx_dataset(source: DataSource, name: str, subdirs: list[str], classes: tuple[str, ...],
                     resources: tuple[Resource, ...], extra: list[Path] | None = None) -> Dataset:
    """Load the train (60k) and t10k (10k) IDX files of an MNIST-style dataset."""
    folder, suffix = _idx_folder(source, name, subdirs, list(extra or []), resources)
    train_x, train_y, test_x, test_y = (read_idx(folder / f"{f}{suffix}") for f in IDX_FILES)
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise CorruptFileError(f"{folder}: {split} images {images.shape} and labels "
                                   f"{labels.shape} do not match; download them again")
    return Dataset(
        name=name,
        train_x=to_uint8_nchw(train_x),  # [60000, 1, 28, 28]
        train_y=labels_tensor(train_y),
        test_x=to_uint8_nchw(test_x),
        test_y=labels_tensor(test_y),
        classes=classes,
    )


def _resources(url: str, md5s: tuple[str, ...], subdir: str) -> tuple[Resource, ...]:
    """Return the four ``.gz`` downloads of an MNIST-style dataset."""
    return tuple(Resource(f"{url}{name}.gz", f"{name}.gz", md5, subdir)
                 for name, md5 in zip(IDX_FILES, md5s, strict=True))


@DATASETS.register("mnist")
def load_mnist(source: DataSource) -> Dataset:
    """Load MNIST from ``mnist/``, ``MNIST/raw/`` or the data directory itself."""
    return load_idx_dataset(source, "mnist", ["mnist", "MNIST/raw"],
                            tuple(str(d) for d in range(10)),
                            _resources(MNIST_URL, MNIST_MD5, "mnist"))


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(source: DataSource) -> Dataset:
    """Load Fashion-MNIST from the data directory or the Debian package's folder."""
    return load_idx_dataset(source, "fashion-mnist", ["fashion-mnist", "FashionMNIST/raw"],
                            FASHION_CLASSES, _resources(FASHION_URL, FASHION_MD5, "fashion-mnist"),
                            extra=[FASHION_DEBIAN_DIR])
