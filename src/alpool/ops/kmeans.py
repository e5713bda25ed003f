"""Seeded k-means (Lloyd) and k-means++ D^2 seeding, on the CPU or the GPU.

Initial centres: random distinct points when ``k > KMEANSPP_MAX_K`` (faiss's choice: for hundreds
of clusters it reaches an equal or lower error than k-means++ at a fraction of the cost, whose
seeding was 75 % of the old run time), greedy k-means++ seeding on a subsample of at most
``SEEDING_SAMPLE`` points otherwise (few clusters: the seeding matters for finding them and costs
``2 + log k`` matrix-vector products per centre, scikit-learn's rule). Then at most ``iters``
Lloyd iterations, each one GEMM-based assignment in row blocks and one ``index_add`` of the
members; they stop early when no label moves.
An emptied cluster is moved to the point farthest from its centre. ``n_init`` restarts keep the run
of lowest inertia. Every random choice comes from the caller's generator, so the result is the same
on the CPU and the GPU up to float ties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor, on_cpu, resolve_device
from alpool.ops.distances import CHUNK_ELEMENTS, matmul_t, row_blocks, squared_norms

KMEANSPP_MAX_K = 64  # k-means++ seeding up to this many clusters, random centres above
SEEDING_SAMPLE = 20_000  # points the k-means++ seeding looks at
ITERS = 20  # Lloyd iterations (faiss's default is 20-25)


@dataclass(frozen=True)
class Clustering:
    """A k-means result.

    Attributes:
        labels: int64 ``[n]`` cluster of each point, in ``0..k-1``.
        centers: float32 ``[k, d]`` centroids.
        algorithm: ``"kmeans"`` (or ``"identity"`` when ``k >= n``).
        inertia: sum of squared distances of the points to their centres.
        iterations: Lloyd iterations of the kept run.
    """

    labels: np.ndarray
    centers: np.ndarray
    algorithm: str
    inertia: float = 0.0
    iterations: int = 0


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, device: Device = None,
           n_init: int = 1, iters: int = ITERS, chunk_elements: int = CHUNK_ELEMENTS) -> Clustering:
    """Cluster the rows of ``x`` into ``k`` groups with seeded k-means.

    Args:
        x: ``[n, d]`` points.
        k: number of clusters.
        rng: generator of the initial centres.
        device: where to compute.
        n_init: restarts; the run of lowest inertia is kept.
        iters: Lloyd iterations at most.
        chunk_elements: entries per distance block of the assignment.

    Returns:
        The labels, centroids, inertia and iterations of the best run.
    """
    if k < 1:
        raise ValueError(f"k-means needs k >= 1 clusters, got {k}")
    if k >= len(x):
        x32 = np.array(x, dtype=np.float32)
        return Clustering(np.arange(len(x), dtype=np.int64), x32, "identity")
    xt = as_tensor(x, device)
    best: Clustering | None = None
    for _ in range(n_init):
        start = initial_centers(xt, k, rng)
        run = lloyd(xt, start, iters, chunk_elements)
        if best is None or run.inertia < best.inertia:
            best = run
    assert best is not None  # n_init >= 1
    return best


def initial_centers(xt: torch.Tensor, k: int, rng: np.random.Generator) -> torch.Tensor:
    """Return ``[k, d]`` starting centres: random distinct points, or k-means++ for small ``k``."""
    n = len(xt)
    if k > KMEANSPP_MAX_K:
        return xt[torch.as_tensor(np.sort(rng.choice(n, size=k, replace=False)), device=xt.device)].clone()
    sample = min(n, max(SEEDING_SAMPLE, 20 * k))
    rows = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else np.arange(n)
    sub = xt[torch.as_tensor(rows, device=xt.device)]
    picks = greedy_kmeanspp(sub.cpu().numpy(), k, rng)
    return sub[torch.as_tensor(picks, device=xt.device)].clone()


def greedy_kmeanspp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``k`` seed rows by greedy k-means++ (scikit-learn's rule), in numpy on the CPU.

    Each step draws ``2 + log(k)`` candidates by D^2 sampling and keeps the one that lowers the
    potential (sum of squared distances to the nearest seed) most: on well-separated blobs it
    finds every blob far more often than plain D^2 sampling. Seeding only looks at ``k <= 64``
    centres of a subsample, so it stays cheap even when the rest runs on a GPU.
    """
    trials = 2 + int(np.log(k))
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    picks = [int(rng.integers(len(x)))]
    closest = np.maximum(sq - 2.0 * (x @ x[picks[0]]) + sq[picks[0]], 0.0)  # [s] float64
    for _ in range(1, k):
        total = float(closest.sum())
        if total <= 0.0:  # every point coincides with a seed: the rest uniformly
            rest = np.setdiff1d(np.arange(len(x)), picks)
            return np.concatenate([picks, rng.choice(rest, size=k - len(picks), replace=False)])
        cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total, side="right")
        cand = np.minimum(cand, len(x) - 1)
        d2 = np.maximum(sq[None] - 2.0 * (x[cand] @ x.T) + sq[cand][:, None], 0.0)  # [t, s]
        np.minimum(d2, closest[None], out=d2)
        best = int(np.argmin(d2.sum(1)))
        picks.append(int(cand[best]))
        closest = d2[best]
    return np.asarray(picks, dtype=np.int64)


def assign(xt: torch.Tensor, centers: torch.Tensor,
           chunk_elements: int = CHUNK_ELEMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the nearest centre of every row ``[n]`` and ``|c|^2 - 2 x.c`` at it ``[n]``."""
    c_sq = squared_norms(centers)
    labels = torch.empty(len(xt), dtype=torch.int64, device=xt.device)
    partial = torch.empty(len(xt), device=xt.device)
    for rows in row_blocks(len(xt), len(centers), chunk_elements):
        scores = matmul_t(xt[rows], centers).mul_(-2.0).add_(c_sq.unsqueeze(0))  # [r, k]
        best = scores.min(1)
        labels[rows], partial[rows] = best.indices, best.values
    return labels, partial


def lloyd(xt: torch.Tensor, centers: torch.Tensor, iters: int,
          chunk_elements: int = CHUNK_ELEMENTS) -> Clustering:
    """Run Lloyd iterations from ``centers`` and return the clustering."""
    k = len(centers)
    x_sq = squared_norms(xt)
    labels, partial = assign(xt, centers, chunk_elements)
    done = 0
    for done in range(1, iters + 1):  # noqa: B007  (the count is reported)
        centers = update_centers(xt, labels, partial + x_sq, centers, k)
        new_labels, partial = assign(xt, centers, chunk_elements)
        moved = bool((new_labels != labels).any())
        labels = new_labels
        if not moved:
            break
    inertia = float((partial + x_sq).clamp_min_(0).double().sum())
    return Clustering(labels.cpu().numpy(), centers.float().cpu().numpy(), "kmeans", inertia, done)


def update_centers(xt: torch.Tensor, labels: torch.Tensor, d2: torch.Tensor, old: torch.Tensor,
                   k: int) -> torch.Tensor:
    """Return the member means; an empty cluster takes the point farthest from its centre."""
    sums = torch.zeros_like(old).index_add_(0, labels, xt)  # [k, d]
    counts = torch.bincount(labels, minlength=k)  # [k]
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        far = torch.topk(d2, len(empty)).indices  # distinct points, farthest first
        sums[empty], counts[empty] = xt[far], 1
    return sums / counts.clamp_min(1).unsqueeze(1).to(sums.dtype)


def kmeanspp(x: np.ndarray | torch.Tensor, k: int, rng: np.random.Generator, first: int,
             device: Device = None, chunk_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``k`` rows by k-means++ D^2 sampling, starting at row ``first``.

    Each next row is drawn with probability proportional to its squared distance to the nearest
    row picked so far (uniform among the untaken rows when all of those are 0). Used by k-means
    seeding and by BADGE. On the CPU the per-pick update is numpy (no torch op per pick).

    Args:
        x: ``[n, d]`` points (a tensor stays on its device).
        k: rows to pick, at most ``n``.
        rng: generator of the draws.
        first: the first row.
        device: where to compute when ``x`` is a numpy array.
        chunk_rows: rows per matrix-vector product.

    Returns:
        int64 ``[k]`` rows in pick order, and float64 ``[k]`` the squared distance of each pick to
        the nearest earlier one when it was drawn (``inf`` for the first).
    """
    dev = x.device if isinstance(x, torch.Tensor) else resolve_device(device)
    distance_to: Callable[[int], np.ndarray]
    if on_cpu(dev):
        xn = x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        sq_n = np.einsum("ij,ij->i", xn, xn)
        distance_to = lambda c: _numpy_distance_to(xn, sq_n, c, chunk_rows)  # noqa: E731
    else:
        xt = as_tensor(x, dev)
        sq_t = squared_norms(xt)
        distance_to = lambda c: _torch_distance_to(xt, sq_t, c, chunk_rows)  # noqa: E731
    n = len(x)
    picks, gaps = [first], [float("inf")]
    taken = np.zeros(n, dtype=bool)
    d2 = np.full(n, np.inf)
    while True:
        taken[picks[-1]] = True
        np.minimum(d2, distance_to(picks[-1]), out=d2)
        d2[taken] = 0.0
        if len(picks) == k:
            break
        pick = sample_d2(d2, taken, rng)
        picks.append(pick)
        gaps.append(float(d2[pick]))
    return np.asarray(picks, dtype=np.int64), np.asarray(gaps)


def _numpy_distance_to(x: np.ndarray, sq: np.ndarray, center: int, chunk_rows: int) -> np.ndarray:
    """Return ``[n]`` float64 squared distances to row ``center`` (numpy, CPU)."""
    d2 = (x @ (-2.0 * x[center])).astype(np.float64)
    d2 += sq
    d2 += sq[center]
    return np.maximum(d2, 0.0, out=d2)


def _torch_distance_to(x: torch.Tensor, sq: torch.Tensor, center: int, chunk_rows: int) -> np.ndarray:
    """Return ``[n]`` float64 squared distances to row ``center`` (torch, one transfer)."""
    c = x[center]
    parts = [torch.addmv(sq[i:i + chunk_rows] + sq[center], x[i:i + chunk_rows], c, alpha=-2.0)
             for i in range(0, len(x), chunk_rows)]
    return torch.cat(parts).clamp_min_(0).double().cpu().numpy()


def sample_d2(d2: np.ndarray, taken: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an untaken position with probability proportional to ``d2`` (``d2[taken]`` is 0).

    When every untaken distance is 0 (exact duplicates of picked points) the draw is uniform
    among the untaken positions.
    """
    total = float(d2.sum())
    if total > 0 and np.isfinite(total):
        cumulative = np.cumsum(d2)  # [n]
        pick = min(int(np.searchsorted(cumulative, rng.random() * total, side="right")), len(d2) - 1)
        if not taken[pick] and d2[pick] > 0:
            return pick
        positive = np.flatnonzero(~taken & (d2 > 0))  # floating-point edge of the cumulative sum
        if len(positive):
            return int(positive[np.argmax(d2[positive])])
    return int(rng.choice(np.flatnonzero(~taken)))
