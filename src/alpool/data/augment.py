"""Batched tensor augmentations that run on the training device (no PIL, no workers)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Convert uint8 images to float32 in [0, 1]."""
    return x.float().div_(255.0)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Crop each image of ``x`` ``[n, C, H, W]`` at a random offset after zero padding.

    One gather for the whole batch: offsets are drawn on CPU with ``generator`` and moved.
    """
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # [n, H]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # [n, W]
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # [n, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image horizontally with probability ``p``."""
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int, flip: bool) -> torch.Tensor:
    """Apply the standard training augmentation: pad-and-crop, then (optionally) horizontal flip."""
    x = random_crop(x, padding, generator)
    return random_hflip(x, generator) if flip else x
