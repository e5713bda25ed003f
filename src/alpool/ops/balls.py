"""Balls of a radius per centre: purity-searched radii (DCoM) and the points they cover."""

from __future__ import annotations

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor
from alpool.ops.distances import CHUNK_ELEMENTS, row_blocks, squared_distances, squared_norms


def purity_radii(x: np.ndarray, centres: np.ndarray, labels: np.ndarray, threshold: float,
                 max_radius: float, resolution: float, chunk_elements: int = CHUNK_ELEMENTS,
                 device: Device = None, centre_labels: np.ndarray | None = None) -> np.ndarray:
    """Return per centre the largest radius on ``[0, max_radius]`` whose ball is pure enough.

    A ball's purity is the share of the points inside it (``||x - c|| < r``, the centre included)
    whose label (``labels``: DCoM's predicted labels) equals the centre's label (``centre_labels``:
    DCoM's annotated labels; default ``labels[centres]``). Binary search, vectorised over a block of centres: while the
    interval is wider than ``resolution``, the midpoint becomes the lower end when its purity
    reaches ``threshold`` and the upper end otherwise; the result is the lower end (the largest
    radius checked to be pure enough).

    Args:
        x: ``[n, d]`` points.
        centres: int64 ``[L]`` positions of the centres in ``x``.
        labels: ``[n]`` (predicted) labels.
        centre_labels: ``[L]`` the centres' own labels (annotated); default ``labels[centres]``.
        threshold: required purity.
        max_radius: upper end of the search.
        resolution: stop when the interval is at most this wide.
        chunk_elements: entries per distance block.
        device: where to compute.
    """
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    lab = torch.as_tensor(np.asarray(labels, np.int64), device=xt.device)
    own = np.asarray(labels)[centres] if centre_labels is None else np.asarray(centre_labels)
    own_t = torch.as_tensor(np.asarray(own, np.int64), device=xt.device)
    out = np.zeros(len(centres))
    for rows in row_blocks(len(centres), len(xt), chunk_elements):
        idx = torch.as_tensor(centres[rows], device=xt.device)
        d2 = squared_distances(xt[idx], xt, x_sq)  # [r, n]
        d2[torch.arange(len(idx), device=xt.device), idx] = 0.0
        same = lab.unsqueeze(0) == own_t[rows].unsqueeze(1)  # [r, n]
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


def radius_for_mean_degree(x: np.ndarray, degree: float, sample_rows: int = 2000,
                           chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> float:
    """Return the radius whose ball graph has about ``degree`` edges per point (itself included).

    From an evenly spaced sample of rows: each keeps its ``2 * degree`` nearest distances, and the
    radius is found by bisection so that the mean count of ``d < r`` over the sample is ``degree``
    (a count that reaches ``2 * degree`` stops there, which errs towards a larger graph only
    where the ball is already twice the target). A data rule for a default radius: it depends on
    the embedding's scale and density, not on a constant.
    """
    n = len(x)
    degree = float(min(max(degree, 1.0), n))
    keep = int(min(n, np.ceil(2 * degree)))
    rows = np.unique(np.linspace(0, n - 1, min(n, sample_rows)).astype(np.int64))
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    sample = torch.as_tensor(rows, device=xt.device)
    near = torch.empty((len(rows), keep), device=xt.device)
    for block in row_blocks(len(rows), n, chunk_elements):
        part = sample[block]
        d2 = squared_distances(xt[part], xt, x_sq)  # [b, n]
        d2[torch.arange(len(part), device=xt.device), part] = 0.0
        near[block] = torch.topk(d2, keep, dim=1, largest=False, sorted=True).values
    d = np.sqrt(near.cpu().numpy().astype(np.float64))  # [s, keep] ascending
    lo, hi = 0.0, float(d[:, -1].max()) + 1e-6
    for _ in range(50):
        mid = (lo + hi) / 2
        count = (d < mid).sum(1).mean()
        lo, hi = (mid, hi) if count < degree else (lo, mid)
    return hi
