"""Any folder of images with one sub-folder per class (``imagefolder:PATH``).

Layouts:
    * ``PATH/train/<class>/*`` with ``PATH/test/<class>/*`` (or ``PATH/val/<class>/*``): the
      given splits are used as they are.
    * ``PATH/<class>/*``: a fixed stratified split; in each class (sorted names, files in sorted
      path order) a generator seeded with 0 permutes the images and ``round(0.2 * n)`` of them
      (keeping at least one for training) go to the test split.

Every image is decoded once at load time (JPEG and PNG by torchvision, the other formats
and every header by Pillow). All images are stored as grayscale (``L``) when every
file is grayscale, else as RGB. Images whose size differs from the most common size are resized
to it (bilinear) and a note says how many.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alpool import reporting
from alpool.data.base import Dataset, DataSource, labels_tensor, to_uint8_nchw
from alpool.data.registry import DATASETS
from alpool.errors import ConfigError, CorruptFileError, DatasetFilesMissing

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pbm"})
GRAY_MODES = frozenset({"1", "L", "LA"})
TORCHVISION_DECODES = frozenset({".jpg", ".jpeg", ".png"})
IMAGEFOLDER_TEST_FRACTION = 0.2
IMAGEFOLDER_SPLIT_SEED = 0
TEST_DIR_NAMES = ("test", "val")
Split = tuple[list[Path], np.ndarray]  # image paths and their [N] int64 labels


def list_images(folder: Path) -> list[Path]:
    """Return the image files under ``folder`` (recursively), sorted by path."""
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_folders(folder: Path) -> list[str]:
    """Return the names of the non-hidden sub-folders of ``folder``, sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def collect(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Return every image path of ``folder/<class>/`` and its class index (``[N]`` int64)."""
    paths: list[Path] = []
    labels: list[int] = []
    for k, name in enumerate(classes):
        files = list_images(folder / name) if (folder / name).is_dir() else []
        paths += files
        labels += [k] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def probe(paths: list[Path]) -> tuple[tuple[int, int], str, int]:
    """Read only the headers and return the common ``(width, height)``, the mode and #off-size."""
    from PIL import Image, UnidentifiedImageError

    sizes: Counter[tuple[int, int]] = Counter()
    gray = True
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes[image.size] += 1
                gray = gray and image.mode in GRAY_MODES
        except (UnidentifiedImageError, OSError) as exc:
            raise CorruptFileError(f"{path}: not a readable image ({exc}); remove it") from exc
    size = min(sizes, key=lambda s: (-sizes[s], s))  # most common; ties -> smallest
    return size, ("L" if gray else "RGB"), len(paths) - sizes[size]


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
    path = Path(source.arg).expanduser()
    if not path.is_absolute() and source.root is not None and (source.root / path).is_dir():
        path = source.root / path
    if not path.is_dir():
        raise DatasetFilesMissing(f"imagefolder: folder {path} not found; "
                                  "pass imagefolder:PATH with an existing folder")
    return path


def _splits(path: Path) -> tuple[list[str], Split, Split]:
    """Return the class names and the ``(paths, labels)`` of the train and test splits."""
    test_dir = next((path / n for n in TEST_DIR_NAMES if (path / n).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        classes = class_folders(path / "train")
        unknown = sorted(set(class_folders(test_dir)) - set(classes))
        if unknown:
            raise ConfigError(f"imagefolder: class folders {', '.join(unknown)} of {test_dir} have "
                              f"no train folder in {path / 'train'}; add them or remove them")
        return classes, collect(path / "train", classes), collect(test_dir, classes)
    classes = class_folders(path)
    paths, labels = collect(path, classes)
    train_idx, test_idx = stratified_split(labels, IMAGEFOLDER_TEST_FRACTION,
                                           IMAGEFOLDER_SPLIT_SEED)
    return (classes, ([paths[i] for i in train_idx], labels[train_idx]),
            ([paths[i] for i in test_idx], labels[test_idx]))


@DATASETS.register("imagefolder")
def load_imagefolder(source: DataSource) -> Dataset:
    """Load ``imagefolder:PATH`` (see the module docstring for the layouts and rules).

    A folder with no sub-folders at all is an unlabeled dataset (:mod:`alpool.data.unlabeled`).
    """
    from dataclasses import replace

    from alpool.data.unlabeled import load_folder, split_size

    arg, resize = split_size(source.arg or "", source.root)
    path = resolve_path(replace(source, arg=arg))
    if not class_folders(path):
        reporting.info(f"imagefolder: {path} has no class sub-folders: loading it as unlabeled images")
        return load_folder(path, resize, "imagefolder")
    if resize is not None:
        raise ConfigError("--image-size resizes unlabeled folders only; imagefolder:PATH with class "
                          "folders resizes to the most common size (drop --image-size)")
    classes, (train_paths, train_y), (test_paths, test_y) = _splits(path)
    empty = [name for k, name in enumerate(classes) if not np.any(train_y == k)]
    if not classes or empty:
        raise DatasetFilesMissing(
            f"imagefolder: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in class folders "
            f"{', '.join(empty) or '(none found)'} under {path}; put at least one image in each "
            "(for a folder of unlabeled images use images:PATH)")
    size, mode, off_size = probe(train_paths + test_paths)
    if off_size:
        reporting.info(f"imagefolder: {off_size} images are not {size[0]}x{size[1]} "
                       "(the most common size); resized them to it")
    return Dataset(
        name="imagefolder",
        train_x=to_uint8_nchw(read_images(train_paths, size, mode)),  # [N, C, H, W]
        train_y=labels_tensor(train_y),
        test_x=to_uint8_nchw(read_images(test_paths, size, mode)),
        test_y=labels_tensor(test_y),
        classes=tuple(classes),
    )
