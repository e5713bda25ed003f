"""Tiny ImageNet (200 classes, 64x64 RGB) from the ``tiny-imagenet-200`` folder.

The official test split has no labels, so the labelled ``val`` split (``val/images`` with
``val/val_annotations.txt``) serves as the test split. Classes are the wnids of ``wnids.txt`` in
sorted order (as an ImageFolder over ``train/`` would number them); a class is named by the
first synonym in ``words.txt`` (with its wnid added where two classes share that synonym).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from alpool.core.errors import CorruptFileError
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, labels_tensor, to_uint8_nchw
from alpool.data.download import Resource, locate
from alpool.data.imagefolder import list_images, read_images

TINY_DIR = "tiny-imagenet-200"
TINY_SIZE = (64, 64)
TINY_DOWNLOAD = Resource("http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                         "tiny-imagenet-200.zip", "90528d7ca1a48142e341f4ef8d21d0de", extract=True)
TINY_FILES = ["wnids.txt", "words.txt", "val/val_annotations.txt"]


def read_wnids(path: Path) -> list[str]:
    """Return the wnids listed one per line in ``wnids.txt``, sorted."""
    return sorted({line.strip() for line in path.read_text().splitlines() if line.strip()})


def class_names(path: Path, wnids: list[str]) -> tuple[str, ...]:
    """Return a readable, unique name per wnid from ``words.txt`` (``wnid<TAB>a, b, c``)."""
    words: dict[str, str] = {}
    for line in path.read_text().splitlines():
        wnid, _, text = line.partition("\t")
        words[wnid.strip()] = text.split(",")[0].strip()
    names = [words.get(w) or w for w in wnids]
    seen = Counter(names)
    return tuple(n if seen[n] == 1 else f"{n} ({w})" for n, w in zip(names, wnids, strict=True))


def train_files(folder: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    """Return the train images ``train/<wnid>/images/*.JPEG`` in sorted order and their labels."""
    paths: list[Path] = []
    labels: list[int] = []
    for k, wnid in enumerate(wnids):
        files = list_images(folder / "train" / wnid / "images")
        if not files:
            raise CorruptFileError(f"{folder / 'train' / wnid / 'images'} holds no images; "
                                   "extract tiny-imagenet-200.zip again")
        paths += files
        labels += [k] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def val_files(folder: Path, wnids: list[str]) -> tuple[list[Path], np.ndarray]:
    """Return the val images in annotation order and their labels (``file<TAB>wnid<TAB>box``)."""
    index = {w: k for k, w in enumerate(wnids)}
    annotations = folder / "val" / "val_annotations.txt"
    paths: list[Path] = []
    labels: list[int] = []
    for line in annotations.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        if fields[1] not in index:
            raise CorruptFileError(f"{annotations}: wnid {fields[1]!r} is not in wnids.txt")
        paths.append(folder / "val" / "images" / fields[0])
        labels.append(index[fields[1]])
    return paths, np.asarray(labels, dtype=np.int64)


@DATASETS.register("tinyimagenet")
def load_tinyimagenet(source: DataSource) -> Dataset:
    """Load ``tiny-imagenet-200``: train images, and the labelled val split as the test split."""
    folder = locate(source, "tinyimagenet", TINY_FILES,
                    [TINY_DIR, f"tinyimagenet/{TINY_DIR}", "tinyimagenet"], (TINY_DOWNLOAD,))
    wnids = read_wnids(folder / "wnids.txt")
    train_paths, train_y = train_files(folder, wnids)
    test_paths, test_y = val_files(folder, wnids)
    missing = [p for p in test_paths if not p.is_file()]
    if missing:
        raise CorruptFileError(f"{missing[0]} (and {len(missing) - 1} more val images) not found; "
                               "extract tiny-imagenet-200.zip again")
    return Dataset(
        name="tinyimagenet",
        train_x=to_uint8_nchw(read_images(train_paths, TINY_SIZE, "RGB")),  # [100000, 3, 64, 64]
        train_y=labels_tensor(train_y),
        test_x=to_uint8_nchw(read_images(test_paths, TINY_SIZE, "RGB")),  # [10000, 3, 64, 64]
        test_y=labels_tensor(test_y),
        classes=class_names(folder / "words.txt", wnids),
    )
