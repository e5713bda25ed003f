"""Folders of images without classes: ``images:PATH`` (flat or nested) and ``imagefolder:PATH`` (flat).

What a practitioner has before labelling anything. Rules (the decisions):

* Files: ``.png``, ``.jpg``/``.jpeg``, ``.webp``, ``.gif`` anywhere under ``PATH`` (hidden files and
  folders skipped), in sorted relative-path order; that order is the dataset's index order and
  every image keeps its relative path (``Dataset.paths``). Other files are ignored and named in a
  note. Decoding uses :func:`torchvision.io.decode_image` in a thread pool, with progress.
* Colour: grey (and grey + alpha) images stay one channel when every image is grey; otherwise all
  are RGB. Alpha is dropped (RGBA -> RGB, as ``PIL.Image.convert("RGB")`` does).
* Size: ``PATH@S`` (``alpool pretrain --image-size S``) resizes the shorter side to ``S``
  (antialiased bilinear) and centre-crops ``S x S``, image by image, so large photos never sit in
  memory at full size. Without ``@S`` every image must have one size of at most
  :data:`MAX_RAW_SIDE` pixels a side; mixed or larger sizes are refused with one line naming an
  example file: a model is never built from a raw photo's pixel count.
* A file that does not decode is skipped and named in a note (one broken JPEG in a folder of
  thousands should not stop the loop); a folder with no readable image is refused.
* No ground truth: ``train_y`` is ``-1`` everywhere, there are no classes and no test split, and
  the run keeps every image in the pool (no validation hold-out: a held-out unlabeled image would
  measure nothing). Quality is estimated from the labels a person imports (``alpool next``).
* The fingerprint covers every kept file's relative path and bytes, and the size.
* Every command decodes the folder again (and checks the fingerprint). With ``ALPOOL_CACHE=DIR``
  the decoded images are kept in ``DIR/images-<key>.npz``, the key hashing the size and every
  file's path and bytes, so a changed file is never served from the cache; only decoding is saved.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from alpool import reporting
from alpool.atomic_files import atomic_write_bytes
from alpool.data.base import Dataset, DataSource
from alpool.data.registry import DATASETS
from alpool.errors import ConfigError, DatasetFilesMissing

DECODABLE = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
MAX_RAW_SIDE = 128
UNREADABLE = "not a readable PNG/JPEG/WebP/GIF"
CACHE_ENV = "ALPOOL_CACHE"
NAMED_IN_NOTES = 5


@dataclass
class Decoded:
    """One file after decoding: the image ``[C, H, W]`` uint8 (``None`` if broken) and its sha256."""

    image: torch.Tensor | None
    sha256: str
    error: str = ""


def split_size(arg: str, root: Path | None) -> tuple[str, int | None]:
    """Split ``PATH@S`` into ``(PATH, S)``; a folder whose own name holds ``@`` is kept whole."""
    head, sep, tail = arg.rpartition("@")
    if not sep or not tail.isdigit() or _folder(arg, root).is_dir():
        return arg, None
    size = int(tail)
    if size < 8:
        raise ConfigError(f"image size {size} is too small; use --image-size 8 or more (e.g. 64)")
    return head, size


def _folder(arg: str, root: Path | None) -> Path:
    """Return ``arg`` as a folder, relative to the data directory when it exists there."""
    path = Path(arg).expanduser()
    if not path.is_absolute() and root is not None and (root / path).is_dir():
        return root / path
    return path


def list_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Return ``(images, others)`` under ``folder``: non-hidden files sorted by relative path."""
    images: list[Path] = []
    others: list[Path] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        (images if path.suffix.lower() in DECODABLE else others).append(path)
    return images, others


def decode_file(path: Path, size: int | None) -> Decoded:
    """Read, hash and decode one file; resize/crop to ``size`` when given; errors are kept, not raised."""
    from torchvision.io import decode_image

    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    except (RuntimeError, ValueError):
        return Decoded(None, sha, UNREADABLE)
    if image.ndim == 4:  # animated GIF: the first frame
        image = image[0]
    image = image[:1] if image.shape[0] in (1, 2) else image[:3]  # drop alpha
    if size is not None:
        image = resize_crop(image, size)
    elif max(image.shape[1:]) > MAX_RAW_SIDE:
        h, w = image.shape[1:]
        raise ConfigError(f"{path} is {w}x{h}, larger than {MAX_RAW_SIDE} px; pass --image-size S "
                          "(e.g. 64 or 96) to resize every image")
    return Decoded(image.contiguous(), sha)


def resize_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side of ``[C, H, W]`` uint8 to ``size`` (antialiased) and centre-crop."""
    from torchvision.transforms.v2 import functional as tvf

    return tvf.center_crop(tvf.resize(image, [size], antialias=True), [size, size])


def decode_all(paths: list[Path], size: int | None) -> list[Decoded]:
    """Decode every file in a thread pool, in order, with progress."""
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda p: decode_file(p, size), paths)
        return list(reporting.progress(results, "decoding images", total=len(paths)))


def stack(images: list[torch.Tensor], relative: list[str]) -> torch.Tensor:
    """Stack ``[C, H, W]`` images into ``[N, C, H, W]``: grey only if all are; one size required."""
    sizes = Counter(tuple(im.shape[1:]) for im in images)
    if len(sizes) > 1:
        common = sizes.most_common(1)[0][0]
        odd = next(i for i, im in enumerate(images) if tuple(im.shape[1:]) != common)
        h, w = images[odd].shape[1:]
        raise ConfigError(f"the images have {len(sizes)} sizes (e.g. {relative[odd]} is {w}x{h}, most are "
                          f"{common[1]}x{common[0]}); pass --image-size S to resize them all")
    channels = max(im.shape[0] for im in images)
    return torch.stack([im.expand(channels, -1, -1) for im in images]).contiguous()


def _note(what: str, names: list[str]) -> None:
    """Report files by name (the first few, then a count)."""
    shown = ", ".join(names[:NAMED_IN_NOTES]) + (f" and {len(names) - NAMED_IN_NOTES} more"
                                                  if len(names) > NAMED_IN_NOTES else "")
    reporting.info(f"{what} {len(names)} file(s): {shown}")


def load_folder(folder: Path, size: int | None, name: str) -> Dataset:
    """Load every image under ``folder`` as an unlabeled dataset (see the module docstring)."""
    paths, others = list_files(folder)
    if not paths:
        raise DatasetFilesMissing(f"{name}: no images ({', '.join(sorted(DECODABLE))}) under {folder}; "
                                  "put the images to label there")
    if others:
        _note(f"{name}: ignored (not {'/'.join(sorted(e[1:] for e in DECODABLE))})",
              [str(p.relative_to(folder)) for p in others])
    decoded = _cached(paths, folder, size) or decode_all(paths, size)
    broken = [f"{p.relative_to(folder)} ({d.error})" for p, d in zip(paths, decoded, strict=True) if d.image is None]
    if broken:
        _note(f"{name}: skipped unreadable", broken)
    kept = [(str(p.relative_to(folder).as_posix()), d) for p, d in zip(paths, decoded, strict=True)
            if d.image is not None]
    if not kept:
        raise DatasetFilesMissing(f"{name}: none of the {len(paths)} image files under {folder} could be decoded")
    relative = [r for r, _ in kept]
    images = stack([d.image for _, d in kept if d.image is not None], relative)  # [N, C, H, W]
    digest = hashlib.sha256(f"size={size}\n".encode())
    for rel, d in kept:
        digest.update(f"{rel}\0{d.sha256}\n".encode())
    _store(paths, folder, size, decoded, images)
    c, h, w = images.shape[1:]
    return Dataset(
        name=name, train_x=images, train_y=torch.full((len(images),), -1, dtype=torch.int64),
        test_x=torch.empty((0, c, h, w), dtype=torch.uint8), test_y=torch.empty(0, dtype=torch.int64),
        classes=(), paths=tuple(relative), root=str(folder.resolve()), has_labels=False,
        files_digest=digest.hexdigest(),
    )


def _cache_path(paths: list[Path], folder: Path, size: int | None) -> Path | None:
    """Return ``$ALPOOL_CACHE/images-<key>.npz`` (key: size, relative paths and file bytes), if caching."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        return None
    digest = hashlib.sha256(f"v1 size={size}\n".encode())
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        for path, sha in zip(paths, pool.map(lambda p: hashlib.sha256(p.read_bytes()).hexdigest(), paths), strict=True):
            digest.update(f"{path.relative_to(folder).as_posix()}\0{sha}\n".encode())
    return Path(root).expanduser() / f"images-{digest.hexdigest()[:32]}.npz"


def _cached(paths: list[Path], folder: Path, size: int | None) -> list[Decoded] | None:
    """Return the decoded images from the cache (``ALPOOL_CACHE``), or ``None`` on a miss or no cache."""
    path = _cache_path(paths, folder, size)
    if path is None or not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        images, kept, shas = torch.from_numpy(data["images"]), data["kept"], data["sha256"].tolist()
    rows = iter(range(len(images)))
    return [Decoded(images[next(rows)], sha) if ok else Decoded(None, sha, UNREADABLE)
            for ok, sha in zip(kept.tolist(), shas, strict=True)]


def _store(paths: list[Path], folder: Path, size: int | None, decoded: list[Decoded], images: torch.Tensor) -> None:
    """Write the decoded images to the cache (atomically) when ``ALPOOL_CACHE`` is set."""
    path = _cache_path(paths, folder, size)
    if path is None or path.is_file():
        return
    buffer = io.BytesIO()
    np.savez(buffer, images=images.numpy(), kept=np.array([d.image is not None for d in decoded]),
             sha256=np.array([d.sha256 for d in decoded]))
    atomic_write_bytes(path, buffer.getvalue())


def resolve(source: DataSource, name: str) -> tuple[Path, int | None]:
    """Return the folder and image size named by ``name:PATH[@S]``."""
    if not source.arg:
        raise ConfigError(f"{name} needs a folder: use {name}:PATH (and --image-size S to resize)")
    arg, size = split_size(source.arg, source.root)
    folder = _folder(arg, source.root)
    if not folder.is_dir():
        raise DatasetFilesMissing(f"{name}: folder {folder} not found; pass {name}:PATH with an existing folder")
    return folder, size


@DATASETS.register("images")
def load_images(source: DataSource) -> Dataset:
    """Load ``images:PATH[@S]`` (see the module docstring)."""
    folder, size = resolve(source, "images")
    return load_folder(folder, size, "images")
