"""Folders of images without classes: ``images:PATH`` (flat or nested) and ``imagefolder:PATH`` (flat).

What a practitioner has before labelling anything. The folder is read by the one image-folder
reader (:mod:`alpool.data.folder_reader`: index, changed-file checks, lazy decoding, the run's
cache; :mod:`alpool.data.decode`: EXIF orientation, any bit depth). Rules specific to this layout:

* Files: images anywhere under ``PATH`` (hidden files and folders skipped), in sorted relative-path
  order; that order is the dataset's index order and every image keeps its relative path
  (``Dataset.paths``, NFC-normalised). Other files are named in a note and ignored.
* No ground truth: ``train_y`` is ``-1`` everywhere, there are no classes and no test split, and
  the run keeps every image in the pool (no validation hold-out: a held-out unlabeled image would
  measure nothing). Quality is estimated from the labels a person imports (``alpool next``).
* The fingerprint covers the folder's index (every kept file's relative path, byte size,
  modification time and header) and the image size; computing it decodes nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch

from alpool.core.errors import ConfigError, DatasetFilesMissing
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource
from alpool.data.folder_reader import FolderStore, locate, open_folder, split_size
from alpool.data.pixels import Pixels


def load_folder(folder: Path, size: int | None, name: str, store: FolderStore | None = None) -> Dataset:
    """Load every image under ``folder`` as an unlabeled dataset (see the module docstring); decode nothing yet."""
    read = open_folder(folder, size, name, store)
    kept = read.index.kept
    _, c, h, w = read.shape(len(kept), kept)
    files = tuple(e.disk for e in kept)
    paths = tuple(e.path for e in kept)
    return Dataset(
        name=name, train_pixels=read.pixels(kept, "train", store, name),
        train_y=torch.full((len(kept),), -1, dtype=torch.int64),
        test_pixels=Pixels.of(torch.empty((0, c, h, w), dtype=torch.uint8)), test_y=torch.empty(0, dtype=torch.int64),
        classes=(), paths=paths, root=str(read.root), has_labels=False, files_digest=read.digest,
        files=files if files != paths else (),
    )


def resolve(source: DataSource, name: str) -> tuple[Path, int | None]:
    """Return the folder and image size named by ``name:PATH[@S]``."""
    if not source.arg:
        raise ConfigError(f"{name} needs a folder: use {name}:PATH (and --image-size S to resize)")
    arg, size = split_size(source.arg, source.root)
    folder = locate(arg, source.root)
    if not folder.is_dir():
        raise DatasetFilesMissing(f"{name}: folder {folder} not found; pass {name}:PATH with an existing folder")
    return folder, size


@DATASETS.register("images")
def load_images(source: DataSource) -> Dataset:
    """Load ``images:PATH[@S]`` (see the module docstring)."""
    folder, size = resolve(source, "images")
    return load_folder(folder, size, "images", source.store)
