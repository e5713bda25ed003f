"""Decode image files as a person sees them, into one uint8 tensor, through a cache of decoded pixels.

Rules (the decisions):

* The EXIF orientation is applied (the pixels equal ``PIL.ImageOps.exif_transpose``), as a browser
  and Label Studio show the photo.
* Any mode becomes 8-bit ``L`` or ``RGB``: 16-bit greys (``I;16``) are scaled ``v / 257`` (65535 ->
  255), 32-bit integers likewise when a value passes 255 (else taken as 8-bit), floats as ``[0, 1]``
  when none passes 1 (else clipped to ``[0, 255]``); palettes, CMYK, YCbCr through Pillow's
  ``convert``. Alpha is dropped (RGBA -> RGB, as ``convert("RGB")`` does).
* Channels are decided for the whole dataset by the caller (RGB when any image holds colour, else
  grey); a grey image in a colour dataset is repeated into three channels, never the reverse.
* ``size`` given: the shorter side is resized to ``size`` (antialiased bilinear) and the centre
  ``size x size`` cropped; JPEGs are decoded at a reduced DCT scale first (at least ``2 * size`` a side),
  so a 4000x3000 photo is never expanded in memory at full size.
* A file that fails to decode although its header read well is left black and named in one line.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.core import reporting
from alpool.core.atomic_files import atomic_write_bytes
from alpool.core.errors import ConfigError
from alpool.data.folder_index import named

DECODER_VERSION = 1  # part of the cache key: raise it when decoded pixels change
CACHE_ENV = "ALPOOL_CACHE"
SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def to_uint8(image: Any, colour: bool) -> np.ndarray:
    """Return an opened, upright image as ``[H, W]`` (grey) or ``[H, W, 3]`` (colour) uint8."""
    if image.mode in SIXTEEN_BIT or image.mode in ("I", "F"):
        grey = _scale(np.asarray(image), image.mode)
        return np.repeat(grey[..., None], 3, axis=2) if colour else grey
    target = "RGB" if colour else "L"
    converted = image if image.mode == target else image.convert(target)
    return np.asarray(converted, dtype=np.uint8)


def _scale(values: np.ndarray, mode: str) -> np.ndarray:
    """Map 16-bit, 32-bit integer or float pixel values to uint8 (see the module docstring)."""
    array = values.astype(np.float64)
    top = float(array.max(initial=0.0))
    if mode in SIXTEEN_BIT or (mode == "I" and top > 255):
        factor = 255.0 / 65535.0
    elif mode == "F" and top <= 1.0:
        factor = 255.0
    else:
        factor = 1.0
    return np.clip(np.rint(array * factor), 0, 255).astype(np.uint8)


def resize_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side of ``[C, H, W]`` uint8 to ``size`` (antialiased) and centre-crop."""
    from torchvision.transforms.v2 import functional as tvf

    return tvf.center_crop(tvf.resize(image, [size], antialias=True), [size, size])


def decode_file(path: Path, colour: bool, size: int | None) -> torch.Tensor:
    """Decode one file upright into ``[C, H, W]`` uint8 (``C`` 3 if ``colour`` else 1), resized when ``size``."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        if size is not None and image.format == "JPEG":
            image.draft(None, (2 * size, 2 * size))  # DCT-domain downscale: far less to decode
        image.load()
        array = to_uint8(ImageOps.exif_transpose(image), colour)
    tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)  # [C, H, W]
    return resize_crop(tensor, size).contiguous() if size is not None else tensor


def decode_files(files: list[Path], names: list[str], shape: tuple[int, int, int, int], colour: bool,
                 size: int | None) -> tuple[torch.Tensor, list[str]]:
    """Decode ``files`` into ``[N, C, H, W]`` uint8 in a thread pool; return it and the failures by name.

    Raises:
        ConfigError: an image has another size than its header promised (without ``size``).
    """
    from PIL import Image

    out = torch.zeros(shape, dtype=torch.uint8)  # a file that fails stays black (and is named)
    failed: list[str] = []
    odd: list[str] = []

    def one(i: int) -> None:
        try:
            image = decode_file(files[i], colour, size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            failed.append(f"{names[i]} ({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc})")
            return
        if tuple(image.shape) != shape[1:]:
            odd.append(f"{names[i]} is {image.shape[2]}x{image.shape[1]}")
            return
        out[i] = image

    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in reporting.progress(pool.map(one, range(len(files))), "decoding images", total=len(files)):
            pass
    if odd:
        raise ConfigError(f"{named(sorted(odd))} once upright, not {shape[3]}x{shape[2]} as the others; "
                          "pass --image-size S to resize every image")
    return out, sorted(failed)


def cache_folder(default: Path | None) -> Path | None:
    """Return where decoded pixels are kept: ``$ALPOOL_CACHE`` if set, else ``default`` (the run's cache)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else default


def cache_file(folder: Path, digest: str, split: str) -> Path:
    """Return ``<folder>/images-<key>.npz``, the key hashing the folder index digest, the split and the decoder."""
    key = hashlib.sha256(f"decoder v{DECODER_VERSION}\n{split}\n{digest}\n".encode()).hexdigest()[:32]
    return folder / f"images-{key}.npz"


def read_cache(path: Path, shape: tuple[int, int, int, int]) -> tuple[torch.Tensor, list[str]] | None:
    """Return cached ``(images, failures)``, or ``None`` when absent or not of ``shape``."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            images, failed = data["images"], [str(f) for f in data["failed"].tolist()]
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache entry is decoded again (and rewritten)
    if images.shape != shape or images.dtype != np.uint8:
        return None
    return torch.from_numpy(images), failed


def write_cache(path: Path, images: torch.Tensor, failed: list[str]) -> None:
    """Store decoded images (atomically); an unwritable cache only costs the next decode."""
    buffer = io.BytesIO()
    np.savez(buffer, images=images.numpy(), failed=np.array(failed, dtype=str))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        reporting.info(f"could not keep the decoded images in {path.parent} ({exc.strerror or exc}); "
                       "the next command decodes them again")
