"""The SimCLR augmentation [SimCLR, IP, SCAN] on whole batches of tensors (no PIL, no workers).

Per image, independently: random resized crop (area 0.2-1 of the image, aspect ratio 3/4-4/3,
resized back to the input size), horizontal flip (p 0.5), colour jitter (brightness, contrast,
saturation 0.4, hue 0.1) with p 0.8, grayscale with p 0.2. Random numbers are drawn on the CPU
from the given generator and moved to the images' device, so a seed gives the same views on any
device.

Differences from torchvision's PIL pipeline, chosen for batch speed and written down here:
- the crop box is clamped to the image instead of torchvision's 10 rejection tries;
- the jitter is applied in the fixed order brightness, contrast, saturation, hue (torchvision
  shuffles the order per image); hue is a rotation of the chroma plane in YIQ space;
- on one-channel images saturation, hue and grayscale do nothing (as in torchvision).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ContrastiveAugment:
    """The options of :func:`contrastive_views` (defaults: SimCLR's CIFAR settings)."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale: float = 0.2


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_resized_crop(x: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float],
                        generator: torch.Generator) -> torch.Tensor:
    """Crop a random box of each image (area fraction in ``scale``, aspect in ``ratio``), resize back."""
    n = x.shape[0]
    area = _uniform(n, *scale, generator)
    log_ratio = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator)
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # box side as a fraction of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (1 - width) * (2 * torch.rand(n, generator=generator) - 1)  # box centre in [-1, 1] coordinates
    cy = (1 - height) * (2 * torch.rand(n, generator=generator) - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Return the luma ``[n, 1, H, W]`` of RGB images (the image itself for one channel)."""
    if x.shape[1] != 3:
        return x
    weights = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Return ``factor * x + (1 - factor) * other`` clamped to [0, 1] (``factor`` per image)."""
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp(0, 1)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images by ``turns`` (fractions of a full turn) in YIQ space."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device, dtype=x.dtype)
    from_yiq = torch.linalg.inv(to_yiq)
    angle = 2 * math.pi * turns.to(x.device, x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.zeros(len(turns), 3, 3, device=x.device, dtype=x.dtype)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    matrix = from_yiq @ rotation @ to_yiq  # [n, 3, 3]
    return torch.einsum("nij,njhw->nihw", matrix, x).clamp(0, 1)


def color_jitter(x: torch.Tensor, options: ContrastiveAugment, generator: torch.Generator) -> torch.Tensor:
    """Jitter brightness, contrast, saturation and hue of each image (factors drawn per image)."""
    n = x.shape[0]
    brightness = _uniform(n, 1 - options.brightness, 1 + options.brightness, generator).to(x.device, x.dtype)
    contrast = _uniform(n, 1 - options.contrast, 1 + options.contrast, generator).to(x.device, x.dtype)
    saturation = _uniform(n, 1 - options.saturation, 1 + options.saturation, generator).to(x.device, x.dtype)
    hue = _uniform(n, -options.hue, options.hue, generator)
    x = (x * brightness.view(-1, 1, 1, 1)).clamp(0, 1)
    x = _blend(x, _gray(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), contrast)
    if x.shape[1] == 3:
        x = _blend(x, _gray(x).expand_as(x), saturation)
        x = _rotate_hue(x, hue)
    return x


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.to(a.device).view(-1, 1, 1, 1), a, b)


def contrastive_views(x: torch.Tensor, generator: torch.Generator,
                      options: ContrastiveAugment = ContrastiveAugment()) -> torch.Tensor:
    """Return one random SimCLR view of each float image of ``x`` ``[n, C, H, W]`` in [0, 1]."""
    n = x.shape[0]
    x = random_resized_crop(x, options.crop_scale, options.crop_ratio, generator)
    x = _where(torch.rand(n, generator=generator) < options.flip, x.flip(-1), x)
    x = _where(torch.rand(n, generator=generator) < options.jitter, color_jitter(x, options, generator), x)
    gray = torch.rand(n, generator=generator) < options.grayscale
    return _where(gray, _gray(x).expand_as(x), x)
