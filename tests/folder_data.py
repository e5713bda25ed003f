"""A generated folder of unlabeled PNGs of a few visually distinct kinds; the truth stays with the generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

KINDS = ("red-square", "green-bar", "blue-ring")


def _draw(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Return one ``[size, size, 3]`` uint8 image of ``kind`` with noise and a random position."""
    image = rng.integers(0, 60, (size, size, 3)).astype(np.int64)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    if kind == 0:
        mask = (abs(yy - cy) < size // 4) & (abs(xx - cx) < size // 4)
    elif kind == 1:
        mask = abs(xx - cx) < max(1, size // 8)
    else:
        radius = np.hypot(yy - cy, xx - cx)
        mask = (radius > size / 6) & (radius < size / 3)
    image[mask, kind] += 180
    return np.clip(image, 0, 255).astype(np.uint8)


def make_image_folder(root: Path, per_kind: int = 20, size: int = 16, seed: int = 0,
                      nested: bool = False) -> dict[str, str]:
    """Write ``per_kind`` PNGs of every kind under ``root`` with shuffled, meaningless names.

    Returns:
        The hidden truth: relative path -> kind (only a scripted annotator may read it).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    kinds = rng.permutation(np.repeat(np.arange(len(KINDS)), per_kind))
    truth = {}
    for i, kind in enumerate(kinds):
        relative = f"{'batch-' + str(i % 2) + '/' if nested else ''}img-{rng.integers(1e9):09d}-{i:04d}.png"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_draw(int(kind), size, rng)).save(root / relative)
        truth[relative] = KINDS[int(kind)]
    return truth
