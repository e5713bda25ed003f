"""Any folder of images with one sub-folder per class (``imagefolder:PATH[@S]``).

Layouts:
    * ``PATH/train/<class>/*`` with ``PATH/test/<class>/*`` (or ``PATH/val/<class>/*``): the
      given splits are used as they are.
    * ``PATH/<class>/*``: a fixed stratified split; in each class (sorted names, files in sorted
      path order) a generator seeded with 0 permutes the images and ``round(0.2 * n)`` of them
      (keeping at least one for training) go to the test split.

The folder goes through the same reader as ``images:PATH`` (:mod:`alpool.data.folder_reader`):
paths kept (``Dataset.paths``, relative to ``PATH``, so export and embeddings matched by path
work), unreadable files skipped and named, ``--image-size S`` honoured (without it one size is
required, as for ``images:``), the same index-based fingerprint, and pixels decoded only when a
step reads them. The class-folder labels are the dataset's ground truth (``train_y``, ``classes``).

:func:`list_images` and :func:`read_images` decode eagerly for fixed-format datasets (Tiny ImageNet).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alpool.core import reporting
from alpool.core.errors import ConfigError, CorruptFileError, DatasetFilesMissing
from alpool.data import DATASETS
from alpool.data.base import Dataset, DataSource, labels_tensor
from alpool.data.folder_index import Entry, named
from alpool.data.folder_reader import locate, open_folder, split_size
from alpool.data.unlabeled import load_folder

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pbm"})
GRAY_MODES = frozenset({"1", "L", "LA"})
TORCHVISION_DECODES = frozenset({".jpg", ".jpeg", ".png"})
IMAGEFOLDER_TEST_FRACTION = 0.2
IMAGEFOLDER_SPLIT_SEED = 0
TEST_DIR_NAMES = ("test", "val")


def list_images(folder: Path) -> list[Path]:
    """Return the image files under ``folder`` (recursively), sorted by path."""
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_folders(folder: Path) -> list[str]:
    """Return the names of the non-hidden sub-folders of ``folder``, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_images(paths: list[Path], size: tuple[int, int], mode: str) -> np.ndarray:
    """Decode images into ``[N, H, W]`` (mode ``L``) or ``[N, H, W, 3]`` (``RGB``) uint8.

    Args:
        paths: image files.
        size: ``(width, height)``; other sizes are resized bilinearly.
        mode: ``"L"`` or ``"RGB"``.

    Returns:
        The stacked images.
    """
    width, height = size
    shape = (len(paths), height, width) if mode == "L" else (len(paths), height, width, 3)
    out = np.empty(shape, dtype=np.uint8)

    def read_one(index: int) -> None:
        out[index] = _decode(paths[index], size, mode)

    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = pool.map(read_one, range(len(paths)))
        for _ in reporting.progress(done, "decoding images", total=len(paths)):
            pass
    return out


def _decode(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """Decode one image, convert it to ``mode`` and resize it to ``size`` when needed.

    JPEG and PNG go through ``torchvision.io.decode_image`` (libjpeg-turbo / libpng,
    no PIL object per image); WebP, GIF, BMP, TIFF and PNM through Pillow.
    """
    if path.suffix.lower() in TORCHVISION_DECODES:
        return _decode_torchvision(path, size, mode)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            converted = image.convert(mode)
    except (UnidentifiedImageError, OSError) as exc:
        raise CorruptFileError(f"{path}: not a readable image ({exc}); remove it") from exc
    if converted.size != size:
        converted = converted.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(converted, dtype=np.uint8)


def _decode_torchvision(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """Decode with torchvision into ``[H, W]`` (``L``) or ``[H, W, 3]`` (``RGB``) uint8."""
    from torchvision.io import ImageReadMode, decode_image, read_file
    from torchvision.transforms.v2.functional import InterpolationMode, resize

    read_mode = ImageReadMode.GRAY if mode == "L" else ImageReadMode.RGB
    try:
        image = decode_image(read_file(str(path)), mode=read_mode)  # [C, H, W] uint8
    except RuntimeError as exc:
        raise CorruptFileError(f"{path}: not a readable image ({exc}); remove it") from exc
    width, height = size
    if tuple(image.shape[1:]) != (height, width):
        image = resize(image, [height, width], interpolation=InterpolationMode.BILINEAR, antialias=True)
    array = image.permute(1, 2, 0).numpy()
    return array[..., 0] if mode == "L" else array


def stratified_split(labels: np.ndarray, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted ``(train_idx, test_idx)``: ``round(fraction * n_k)`` test images per class."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        n_test = min(int(round(fraction * len(members))), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    empty = np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate([empty, *train])), np.sort(np.concatenate([empty, *test]))


def resolve_path(source: DataSource) -> Path:
    """Return the folder named by ``imagefolder:PATH`` (relative to the data directory if there)."""
    if not source.arg:
        raise ConfigError("imagefolder needs a folder: use imagefolder:PATH "
                          "(PATH holds one sub-folder per class, or train/ and test/)")
    path = locate(source.arg, source.root)
    if not path.is_dir():
        raise DatasetFilesMissing(f"imagefolder: folder {path} not found; "
                                  "pass imagefolder:PATH with an existing folder")
    return path


def _layout(path: Path) -> tuple[list[str], str | None]:
    """Return the class names and the test folder's name (``None``: the flat layout, split by seed)."""
    test_dir = next((n for n in TEST_DIR_NAMES if (path / n).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        classes = class_folders(path / "train")
        unknown = sorted(set(class_folders(path / test_dir)) - set(classes))
        if unknown:
            raise ConfigError(f"imagefolder: class folders {', '.join(unknown)} of {path / test_dir} have "
                              f"no train folder in {path / 'train'}; add them or remove them")
        return classes, test_dir
    return class_folders(path), None


def _place(entry: Entry, classes: dict[str, int], test_dir: str | None) -> tuple[str, int] | None:
    """Return ``(split, class index)`` of an indexed file, or ``None`` when it is in no class folder."""
    parts = entry.path.split("/")
    if test_dir is None:
        return ("all", classes[parts[0]]) if len(parts) >= 2 and parts[0] in classes else None
    if len(parts) >= 3 and parts[0] in ("train", test_dir) and parts[1] in classes:
        return ("train" if parts[0] == "train" else "test"), classes[parts[1]]
    return None


def _no_images(path: Path, empty: list[str]) -> DatasetFilesMissing:
    """Return the refusal for class folders without a readable image."""
    return DatasetFilesMissing(
        f"imagefolder: no readable images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in class folders "
        f"{', '.join(empty) or '(none found)'} under {path}; put at least one image in each "
        "(for a folder of unlabeled images use images:PATH)")


@DATASETS.register("imagefolder")
def load_imagefolder(source: DataSource) -> Dataset:
    """Load ``imagefolder:PATH[@S]`` (see the module docstring for the layouts and rules).

    A folder with no sub-folders at all is an unlabeled dataset (:mod:`alpool.data.unlabeled`).
    """
    from dataclasses import replace

    arg, size = split_size(source.arg or "", source.root)
    path = resolve_path(replace(source, arg=arg))
    if not class_folders(path):
        reporting.info(f"imagefolder: {path} has no class sub-folders: loading it as unlabeled images")
        return load_folder(path, size, "imagefolder", source.store)
    names, test_dir = _layout(path)
    classes = {name: k for k, name in enumerate(names)}
    try:
        read = open_folder(path, size, "imagefolder", source.store, lambda e: _place(e, classes, test_dir) is not None)
    except DatasetFilesMissing as exc:
        raise _no_images(path, names) from exc
    placed = [(e, _place(e, classes, test_dir)) for e in read.index.kept]
    outside = [e.path for e, where in placed if where is None]
    if outside:
        reporting.info(f"imagefolder: ignored {len(outside)} image(s) outside the class folders: {named(outside)}")
    entries = [(e, where) for e, where in placed if where is not None]
    labels = np.asarray([k for _, (_, k) in entries], dtype=np.int64)
    if test_dir is None:
        train_idx, test_idx = stratified_split(labels, IMAGEFOLDER_TEST_FRACTION, IMAGEFOLDER_SPLIT_SEED)
    else:
        train_idx = np.flatnonzero([split == "train" for _, (split, _) in entries])
        test_idx = np.flatnonzero([split == "test" for _, (split, _) in entries])
    empty = [name for k, name in enumerate(names) if not np.any(labels[train_idx] == k)]
    if empty:
        raise _no_images(path, empty)
    train = [entries[i][0] for i in train_idx]
    test = [entries[i][0] for i in test_idx]
    paths = tuple(e.path for e in train)
    files = tuple(e.disk for e in train)
    return Dataset(
        name="imagefolder",
        train_pixels=read.pixels(train, "train", source.store, "imagefolder"),  # [N, C, H, W], decoded on first use
        train_y=labels_tensor(labels[train_idx]),
        test_pixels=read.pixels(test, "test", source.store, "imagefolder"),
        test_y=labels_tensor(labels[test_idx]),
        classes=tuple(names),
        paths=paths, root=str(read.root), files_digest=read.digest, files=files if files != paths else (),
    )
