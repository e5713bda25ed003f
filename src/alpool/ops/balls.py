"""Balls of a radius per centre: purity-searched radii (DCoM) and the points they cover."""

from __future__ import annotations

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor
from alpool.ops.distances import CHUNK_ELEMENTS, row_blocks, squared_distances, squared_norms


def purity_radii(x: np.ndarray, centres: np.ndarray, labels: np.ndarray, threshold: float,
                 max_radius: float, resolution: float, chunk_elements: int = CHUNK_ELEMENTS,
                 device: Device = None) -> np.ndarray:
    """Return per centre the largest radius on ``[0, max_radius]`` whose ball is pure enough.

    A ball's purity is the share of the points inside it (``||x - c|| < r``, the centre included)
    whose label equals the centre's. Binary search, vectorised over a block of centres: while the
    interval is wider than ``resolution``, the midpoint becomes the lower end when its purity
    reaches ``threshold`` and the upper end otherwise; the result is the lower end (the largest
    radius checked to be pure enough).

    Args:
        x: ``[n, d]`` points.
        centres: int64 ``[L]`` positions of the centres in ``x``.
        labels: ``[n]`` (predicted) labels.
        threshold: required purity.
        max_radius: upper end of the search.
        resolution: stop when the interval is at most this wide.
        chunk_elements: entries per distance block.
        device: where to compute.
    """
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    lab = torch.as_tensor(np.asarray(labels, np.int64), device=xt.device)
    out = np.zeros(len(centres))
    for rows in row_blocks(len(centres), len(xt), chunk_elements):
        idx = torch.as_tensor(centres[rows], device=xt.device)
        d2 = squared_distances(xt[idx], xt, x_sq)  # [r, n]
        d2[torch.arange(len(idx), device=xt.device), idx] = 0.0
        same = lab.unsqueeze(0) == lab[idx].unsqueeze(1)  # [r, n]
        lo = torch.zeros(len(idx), dtype=torch.float64, device=xt.device)
        hi = torch.full_like(lo, float(max_radius))
        while float(hi[0] - lo[0]) > resolution:  # every row shares the interval width
            mid = (lo + hi) / 2
            inside = d2 < (mid * mid).to(d2.dtype).unsqueeze(1)
            purity = (inside & same).sum(1) / inside.sum(1).clamp_min(1)
            ok = purity >= threshold
            lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
        out[rows] = lo.cpu().numpy()
    return out


def covered_by_balls(x: np.ndarray, centres: np.ndarray, radii: np.ndarray,
                     chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> np.ndarray:
    """Return ``[n]`` bool: the points inside at least one ball (``||x - c|| < r_c``) or a centre."""
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    covered = torch.zeros(len(xt), dtype=torch.bool, device=xt.device)
    r2 = torch.as_tensor(np.asarray(radii, np.float64) ** 2, device=xt.device)
    for rows in row_blocks(len(centres), len(xt), chunk_elements):
        idx = torch.as_tensor(centres[rows], device=xt.device)
        d2 = squared_distances(xt[idx], xt, x_sq)  # [r, n]
        covered |= (d2 < r2[rows].to(d2.dtype).unsqueeze(1)).any(0)
    out = covered.cpu().numpy()
    out[centres] = True
    return out
