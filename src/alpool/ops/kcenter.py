"""Greedy k-center (core-set): the farthest point from everything chosen, one pick at a time."""

from __future__ import annotations

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor, on_cpu, resolve_device
from alpool.ops.distances import squared_norms


def k_center(x: np.ndarray, start: np.ndarray, budget: int, rng: np.random.Generator,
             device: Device = None) -> tuple[np.ndarray, float]:
    """Return ``budget`` greedy k-center picks among the rows of ``x`` and the covering radius.

    The minimum squared distance to the chosen set is kept for every row and lowered after each
    pick by one matrix-vector product (``|x|^2 - 2 x.c + |c|^2``): a vectorised update, numpy on the
    CPU (no per-pick torch op), torch on CUDA. Squared distances pick the same farthest point.

    Args:
        x: ``[n, d]`` candidate features.
        start: ``[n]`` distance of each candidate to the nearest labeled point (``inf`` if none).
        budget: number of picks.
        rng: generator of the first pick when nothing is labeled.
        device: where to compute.
    """
    random_first = bool(np.isinf(start).all())  # nothing labeled
    first = int(rng.integers(len(x))) if random_first else None
    start2 = np.minimum(np.asarray(start, np.float64) ** 2, np.finfo(np.float32).max).astype(np.float32)
    if on_cpu(device):
        picks, best2 = _k_center_numpy(np.asarray(x, np.float32), start2, budget, first)
    else:
        picks, best2 = _k_center_torch(as_tensor(x, resolve_device(device)), start2, budget, first)
    return np.asarray(picks, dtype=np.int64), float(np.sqrt(max(best2, 0.0)))


def _k_center_numpy(x: np.ndarray, dist2: np.ndarray, budget: int,
                    first: int | None) -> tuple[list[int], float]:
    """Run the greedy loop in numpy; return the picks and the final max squared distance."""
    sq = np.einsum("ij,ij->i", x, x)  # [n]
    dist2 = dist2.copy()
    picks: list[int] = []
    for _ in range(budget):
        best = first if first is not None and not picks else int(np.argmax(dist2))
        picks.append(best)
        d2 = x @ (-2.0 * x[best])  # [n]
        d2 += sq
        d2 += sq[best]
        np.minimum(dist2, d2, out=dist2)
        dist2[best] = -1.0  # never pick twice, whatever the rounding of a self-distance
    return picks, _open_max(dist2)


def _k_center_torch(xt: torch.Tensor, start2: np.ndarray, budget: int,
                    first: int | None) -> tuple[list[int], float]:
    """Run the greedy loop with torch on the tensor's device."""
    sq = squared_norms(xt)
    dist2 = torch.as_tensor(start2, device=xt.device)
    picks: list[int] = []
    for _ in range(budget):
        best = first if first is not None and not picks else int(torch.argmax(dist2))
        picks.append(best)
        d2 = torch.addmv(sq + sq[best], xt, xt[best], alpha=-2.0)
        torch.minimum(dist2, d2, out=dist2)
        dist2[best] = -1.0
    return picks, _open_max(dist2.cpu().numpy())


def _open_max(dist2: np.ndarray) -> float:
    """Return the largest squared distance of the unpicked rows (0 when none is left)."""
    open_ = dist2 >= 0
    return float(dist2[open_].max()) if open_.any() else 0.0
