"""Generalised coverage with a Gaussian kernel (MaxHerding), sparse and dense.

The generalised coverage of a set ``L`` [MH] is ``C(L) = mean_x max_{l in L} k(x, l)`` over every
point ``x``; ProbCover's coverage is the top-hat kernel. Greedy MaxHerding adds, ``B`` times, the
candidate ``c`` with the largest gain ``sum_x max(0, k(x, c) - m(x))``, where ``m(x)`` is the
current ``max_l k(x, l)`` (0 for an empty set).

Sparse kernel (memory linear in N): each point ``x`` keeps ``k(x, y)`` for itself and its
``neighbours`` nearest points ``y`` (exact kNN, :func:`alpool.ops.distances.knn`, on the run's
device); the other entries are 0. The greedy is exact on this sparse objective: the gains start as
column sums and, after a pick, only the rows whose ``m(x)`` rose change the gains of their own
neighbours (a bincount over ``[changed, neighbours + 1]`` entries). With ``neighbours = n - 1``
the sparse objective is the dense one, so both give the same picks (tested).

:func:`dense_greedy` is the brute-force reference: the full ``[n, n]`` kernel, gains as column sums
of ``max(0, K - m)``; :func:`dense_coverage` evaluates ``C(L)`` exactly in blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpool.ops.device import Device
from alpool.ops.distances import CHUNK_ELEMENTS, knn, row_blocks, squared_distances_np


@dataclass(frozen=True)
class SparseKernel:
    """Row ``x`` holds ``k(x, x)`` = 1 and the kernel to its nearest neighbours.

    Attributes:
        cols: int64 ``[n, m]`` positions (column 0 is the point itself).
        vals: float64 ``[n, m]`` kernel values.
        sigma: the Gaussian bandwidth.
    """

    cols: np.ndarray
    vals: np.ndarray
    sigma: float

    @property
    def n(self) -> int:
        """Return the number of points."""
        return len(self.cols)


def default_sigma(knn_dist: np.ndarray) -> float:
    """Return half the median distance to the farthest kept neighbour.

    The kernel then falls to ``exp(-2) = 0.14`` at the edge of a median point's neighbourhood: wide
    enough that a pick spreads its coverage over its whole neighbourhood, narrow enough that the
    truncated entries are small (the share of the dense objective kept is in the benchmark).
    """
    edge = float(np.median(knn_dist[:, -1])) if knn_dist.size else 0.0
    return max(edge / 2.0, 1e-6)


def sparse_kernel(x: np.ndarray, neighbours: int, sigma: float | None,
                  chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> SparseKernel:
    """Return the Gaussian kernel of every point to itself and its ``neighbours`` nearest points.

    Args:
        x: ``[n, d]`` points (L2-normalised by the caller).
        neighbours: kept neighbours per point (clipped to ``n - 1``).
        sigma: bandwidth; None: :func:`default_sigma`.
        chunk_elements: entries per distance block.
        device: where the kNN runs.
    """
    n = len(x)
    k = min(int(neighbours), n - 1)
    if k < 1:
        return SparseKernel(np.zeros((n, 1), np.int64), np.ones((n, 1)), float(sigma or 1.0))
    dist, pos = knn(x, k, chunk_elements, device)  # [n, k] ascending
    return kernel_from_knn(dist, pos, sigma)


def kernel_from_knn(dist: np.ndarray, pos: np.ndarray, sigma: float | None) -> SparseKernel:
    """Return the sparse Gaussian kernel from ``[n, k]`` kNN distances and positions."""
    n = len(pos)
    s = float(sigma) if sigma is not None else default_sigma(dist)
    cols = np.concatenate([np.arange(n, dtype=np.int64)[:, None], pos], axis=1)  # [n, k + 1]
    vals = np.concatenate([np.ones((n, 1)), np.exp(-dist * dist / (2.0 * s * s))], axis=1)
    return SparseKernel(cols, vals, s)


def greedy_herding(kernel: SparseKernel, candidates: int, labeled: np.ndarray,
                   budget: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``budget`` of the first ``candidates`` positions greedily by coverage gain.

    Args:
        kernel: the sparse kernel of all ``n`` points.
        candidates: positions ``0 .. candidates - 1`` may be picked.
        labeled: int64 positions already labeled (counted as picked).
        budget: number of picks.

    Returns:
        The picks in order (ties: lowest position), each pick's gain, and every candidate's gain
        before the first pick (``[candidates]``).
    """
    n, cols, vals = kernel.n, kernel.cols, kernel.vals
    indptr, col_rows, col_vals = column_index(kernel)
    best_cover = np.zeros(n)  # m(x)
    for c in np.asarray(labeled, dtype=np.int64):
        rows = col_rows[indptr[c]:indptr[c + 1]]
        np.maximum.at(best_cover, rows, col_vals[indptr[c]:indptr[c + 1]])
    gains = np.bincount(cols.ravel(), np.maximum(vals - best_cover[:, None], 0).ravel(), minlength=n)
    initial = gains[:candidates].copy()
    gains[candidates:] = -np.inf
    gains[np.asarray(labeled, dtype=np.int64)] = -np.inf
    picks, picked_gains = [], []
    for _ in range(budget):
        best = int(np.argmax(gains))
        picks.append(best)
        picked_gains.append(float(gains[best]))
        gains[best] = -np.inf
        rows, row_vals = col_rows[indptr[best]:indptr[best + 1]], col_vals[indptr[best]:indptr[best + 1]]
        rise = row_vals > best_cover[rows]
        rows, new = rows[rise], row_vals[rise]
        if len(rows) == 0:
            continue
        old = best_cover[rows]
        best_cover[rows] = new
        block = vals[rows]  # [r, m]: the candidates these rows feed
        drop = np.maximum(block - old[:, None], 0) - np.maximum(block - new[:, None], 0)
        gains -= np.bincount(cols[rows].ravel(), drop.ravel(), minlength=n)
    return np.asarray(picks, dtype=np.int64), np.asarray(picked_gains), initial


def column_index(kernel: SparseKernel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the kernel's columns as CSR: ``indptr [n + 1]``, rows and values (who each point feeds)."""
    flat = kernel.cols.ravel()
    order = np.argsort(flat, kind="stable")
    rows = (order // kernel.cols.shape[1]).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=kernel.n))])
    return indptr, rows, kernel.vals.ravel()[order]


def coverage_of(kernel: SparseKernel, chosen: np.ndarray) -> float:
    """Return the sparse objective ``mean_x max_{l in chosen} k~(x, l)``."""
    mask = np.zeros(kernel.n, dtype=bool)
    mask[np.asarray(chosen, dtype=np.int64)] = True
    return float(np.where(mask[kernel.cols], kernel.vals, 0.0).max(1).mean())


def dense_kernel(x: np.ndarray, sigma: float) -> np.ndarray:
    """Return the full ``[n, n]`` Gaussian kernel in float64 (the brute-force reference; small n)."""
    x64 = np.asarray(x, dtype=np.float64)
    return np.exp(-squared_distances_np(x64, x64) / (2.0 * sigma * sigma))


def dense_greedy(kernel: np.ndarray, candidates: int, labeled: np.ndarray,
                 budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Return greedy MaxHerding picks on a dense kernel (rows = covered points) and their gains."""
    lab = np.asarray(labeled, dtype=np.int64)
    best_cover = kernel[:, lab].max(1) if len(lab) else np.zeros(len(kernel))
    open_ = np.zeros(len(kernel), dtype=bool)
    open_[:candidates] = True
    open_[lab] = False
    picks, gains = [], []
    for _ in range(budget):
        gain = np.maximum(kernel - best_cover[:, None], 0).sum(0)  # [n]
        best = int(np.argmax(np.where(open_, gain, -np.inf)))
        picks.append(best)
        gains.append(float(gain[best]))
        open_[best] = False
        best_cover = np.maximum(best_cover, kernel[:, best])
    return np.asarray(picks, dtype=np.int64), np.asarray(gains)


def dense_coverage(x: np.ndarray, chosen: np.ndarray, sigma: float,
                   chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """Return the exact ``C(L) = mean_x max_{l in chosen} k(x, l)`` of the dense kernel (blocks)."""
    x32 = np.asarray(x, dtype=np.float32)
    centres = x32[np.asarray(chosen, dtype=np.int64)]
    c_sq = np.einsum("ij,ij->i", centres, centres)
    total = 0.0
    for rows in row_blocks(len(x32), max(1, len(centres)), chunk_elements):
        d2 = squared_distances_np(x32[rows], centres, c_sq).min(1)
        total += float(np.exp(-d2.astype(np.float64) / (2.0 * sigma * sigma)).sum())
    return total / len(x32)
