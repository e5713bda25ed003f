"""RandAugment-style strong augmentation on whole batches of tensors (FixMatch's ``A(.)``), no PIL.

Each image gets ``n_ops`` operations drawn uniformly from :data:`OPS`, each with its own magnitude
``v`` in [0, 1] drawn per image (FixMatch's "RandAugment with random magnitude"), then Cutout: a
gray square whose side is ``U(0, cutout)`` times the image height, at a random centre
(FixMatch paper, appendix table: "Cutout, L in [0, 0.5]").

The operations follow the FixMatch RandAugment list, re-expressed on float tensors in [0, 1]:
identity, autocontrast, equalize, brightness, contrast, color, sharpness (blend with a 3x3
smoothing as PIL does), posterize (4-8 bits), solarize, rotate (<= 30 deg), shear x/y (<= 0.3),
translate x/y (<= 30% of the size). Signed magnitudes get a random sign per image. Geometric
operations fill uncovered pixels with gray 0.5.

Vectorised: for each drawn round and each operation, the images that drew it are gathered and
transformed in one call; all random numbers come from the explicit CPU ``torch.Generator`` (drawn in
a fixed order) and are moved to the images' device, so a seed gives the same images on any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F

from alpool.data.augment import to_float

FILL = 0.5  # gray used by the geometric operations and Cutout
Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x [m, C, H, W], v [m] signed) -> x


def _factor(v: torch.Tensor) -> torch.Tensor:
    """Map signed magnitudes in [-1, 1] to enhancement factors in [0.1, 1.9] ``[m, 1, 1, 1]``."""
    return (1.0 + 0.9 * v).view(-1, 1, 1, 1)


def identity(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Return ``x`` unchanged."""
    return x


def autocontrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to span [0, 1] (constant channels are kept)."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    scale = torch.where(hi > lo, 1.0 / (hi - lo).clamp_min(1e-6), torch.ones_like(hi))
    offset = torch.where(hi > lo, lo, torch.zeros_like(lo))
    return ((x - offset) * scale).clamp(0, 1)


def equalize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Equalize the 256-level histogram of each channel of each image (PIL-like, constant kept)."""
    m, c, h, w = x.shape
    q = (x * 255).round().long().clamp(0, 255).view(m, c, h * w)  # [m, C, HW]
    hist = torch.zeros(m, c, 256, device=x.device).scatter_add_(
        2, q, torch.ones_like(q, dtype=x.dtype)
    )
    cdf = hist.cumsum(2)  # [m, C, 256]
    lowest = cdf.gather(2, q.amin(2, keepdim=True))  # count of the darkest value [m, C, 1]
    spread = (h * w - lowest).clamp_min(1.0)
    out = ((cdf.gather(2, q) - lowest) / spread).clamp(0, 1)
    return torch.where(lowest < h * w, out, q.float() / 255).view(m, c, h, w)


def brightness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with black by a factor in [0.1, 1.9]."""
    return (x * _factor(v)).clamp(0, 1)


def contrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean gray level by a factor in [0.1, 1.9]."""
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _factor(v) * (x - mean)).clamp(0, 1)


def color(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with the grayscale image by a factor in [0.1, 1.9] (no-op on one channel)."""
    gray = _gray(x)
    return (gray + _factor(v) * (x - gray)).clamp(0, 1)


def sharpness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with a 3x3 smoothed image (PIL's SMOOTH kernel) by a factor in [0.1, 1.9]."""
    c = x.shape[1]
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device) / 13
    smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)
    return (smooth + _factor(v) * (x - smooth)).clamp(0, 1)


def posterize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Keep ``8 - round(4 |v|)`` bits of each pixel (4 to 8 bits)."""
    shift = 2.0 ** torch.round(4 * v.abs()).view(-1, 1, 1, 1)
    return torch.floor((x * 255).round() / shift) * shift / 255


def solarize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Invert every pixel at or above the threshold ``1 - |v|``."""
    threshold = (1.0 - v.abs()).view(-1, 1, 1, 1)
    return torch.where(x >= threshold, 1.0 - x, x)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Return the luminance ``[m, 1, H, W]`` (the image itself for one channel)."""
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp each image by its ``[m, 2, 3]`` matrix (output -> input, normalised coordinates)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return (
        F.grid_sample(x - FILL, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        + FILL
    )


def _theta(
    v: torch.Tensor, a: float, b: float, c: float, d: float, e: float, f: float
) -> torch.Tensor:
    """Return ``[m, 2, 3]`` constant matrices ``[[a, b, e], [c, d, f]]`` (one per ``v``)."""
    row = torch.stack(
        [
            torch.full_like(v, a),
            torch.full_like(v, b),
            torch.full_like(v, e),
            torch.full_like(v, c),
            torch.full_like(v, d),
            torch.full_like(v, f),
        ],
        dim=1,
    )
    return row.view(-1, 2, 3)


def rotate(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate by ``30 v`` degrees about the centre."""
    angle = v * math.radians(30)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([cos, -sin, torch.zeros_like(v), sin, cos, torch.zeros_like(v)], dim=1)
    return _affine(x, theta.view(-1, 2, 3))


def shear_x(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Shear horizontally by ``0.3 v``."""
    theta = _theta(v, 1, 0, 0, 1, 0, 0)
    theta[:, 0, 1] = 0.3 * v
    return _affine(x, theta)


def shear_y(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Shear vertically by ``0.3 v``."""
    theta = _theta(v, 1, 0, 0, 1, 0, 0)
    theta[:, 1, 0] = 0.3 * v
    return _affine(x, theta)


def translate_x(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Shift horizontally by ``0.3 v`` of the width."""
    theta = _theta(v, 1, 0, 0, 1, 0, 0)
    theta[:, 0, 2] = 2 * 0.3 * v  # normalised coordinates span 2
    return _affine(x, theta)


def translate_y(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Shift vertically by ``0.3 v`` of the height."""
    theta = _theta(v, 1, 0, 0, 1, 0, 0)
    theta[:, 1, 2] = 2 * 0.3 * v
    return _affine(x, theta)


OPS: dict[str, Op] = {
    "identity": identity,
    "autocontrast": autocontrast,
    "equalize": equalize,
    "brightness": brightness,
    "contrast": contrast,
    "color": color,
    "sharpness": sharpness,
    "posterize": posterize,
    "solarize": solarize,
    "rotate": rotate,
    "shear_x": shear_x,
    "shear_y": shear_y,
    "translate_x": translate_x,
    "translate_y": translate_y,
}


def cutout(x: torch.Tensor, generator: torch.Generator, max_fraction: float) -> torch.Tensor:
    """Set a gray square of side ``U(0, max_fraction) * H`` at a random centre in each image."""
    n, _, h, w = x.shape
    side = torch.rand(n, generator=generator) * max_fraction * h  # [n]
    cy = torch.rand(n, generator=generator) * h
    cx = torch.rand(n, generator=generator) * w
    rows = torch.arange(h, dtype=torch.float32) + 0.5
    cols = torch.arange(w, dtype=torch.float32) + 0.5
    inside_y = (rows[None, :] - cy[:, None]).abs() < side[:, None] / 2  # [n, H]
    inside_x = (cols[None, :] - cx[:, None]).abs() < side[:, None] / 2  # [n, W]
    mask = (inside_y[:, :, None] & inside_x[:, None, :]).to(x.device)  # [n, H, W]
    return torch.where(mask[:, None], torch.full_like(x, FILL), x)


def strong_augment(
    x: torch.Tensor,
    generator: torch.Generator,
    n_ops: int = 2,
    magnitude: float | None = None,
    cutout_fraction: float = 0.5,
    ops: tuple[str, ...] | None = None,
) -> torch.Tensor:
    """Apply RandAugment (random magnitudes) and Cutout to each image of a batch.

    Args:
        x: images ``[n, C, H, W]``, uint8 or float in [0, 1], on any device.
        generator: CPU generator for every random choice.
        n_ops: operations per image.
        magnitude: fixed magnitude in [0, 1]; ``None`` draws one per image and operation.
        cutout_fraction: largest Cutout side as a fraction of the height (0 disables Cutout).
        ops: names of :data:`OPS` to draw from (default: all).

    Returns:
        Float32 images ``[n, C, H, W]`` in [0, 1] on ``x``'s device.
    """
    out = to_float(x) if x.dtype == torch.uint8 else x.float().clone()
    names = list(ops) if ops is not None else list(OPS)
    n = out.shape[0]
    for _ in range(n_ops):
        choice = torch.randint(0, len(names), (n,), generator=generator)  # [n]
        level = (
            torch.rand(n, generator=generator) if magnitude is None else torch.full((n,), magnitude)
        )
        sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        signed = (level * sign).to(out.device)  # [n] in [-1, 1]
        for k, name in enumerate(names):
            rows = (choice == k).nonzero().flatten().to(out.device)
            if rows.numel():
                out[rows] = OPS[name](out[rows], signed[rows])
    return cutout(out, generator, cutout_fraction) if cutout_fraction > 0 else out
