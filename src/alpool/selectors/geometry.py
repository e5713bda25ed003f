"""Chunked distance computations: nearest distances, k-NN typicality and radius graphs.

Nothing here builds an ``N x N`` matrix. Distances are computed in row blocks of at most
``chunk_elements`` entries (64 MiB of float32 by default), so the temporary memory is fixed and the
rest grows linearly with the number of points. Squared distances use the matrix-product form
``|a|^2 + |b|^2 - 2 a.b`` (fast BLAS on CPU and GPU) and are clamped at 0; where a point meets
itself the diagonal is set exactly instead of trusting the rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

CHUNK_ELEMENTS = 1 << 24  # entries of one distance block: 64 MiB of float32


class GraphTooLarge(Exception):
    """A radius graph passed its edge limit; ``edges_per_point`` estimates its mean degree."""

    def __init__(self, edges_per_point: float) -> None:
        super().__init__(f"mean degree above {edges_per_point:.0f}")
        self.edges_per_point = edges_per_point


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """Return ``x`` as a contiguous CPU float32 tensor (shares memory when it can)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Return the rows of ``x`` scaled to unit Euclidean norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # [n, 1]
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def row_blocks(n_rows: int, n_cols: int, chunk_elements: int = CHUNK_ELEMENTS) -> Iterator[slice]:
    """Yield row slices covering ``range(n_rows)``, the last one partial, of about ``chunk_elements``."""
    step = max(1, chunk_elements // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def squared_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``[r, m]`` squared Euclidean distances between rows of ``a`` ``[r, d]`` and ``b`` ``[m, d]``."""
    if b_sq is None:
        b_sq = b.pow(2).sum(1)
    d2 = torch.addmm(b_sq.unsqueeze(0), a, b.T, alpha=-2.0)  # [r, m]
    return d2.add_(a.pow(2).sum(1, keepdim=True)).clamp_min_(0.0)


def min_distances(x: np.ndarray, y: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Return ``[n]`` the Euclidean distance of each row of ``x`` to its nearest row of ``y``.

    Both sides are chunked, so ``y`` may be as large as ``x``. With an empty ``y`` every distance is
    ``inf``.
    """
    xt, yt = as_tensor(x), as_tensor(y)
    best = torch.full((len(xt),), float("inf"))  # [n] squared
    if len(yt) == 0:
        return best.numpy().astype(np.float64)
    y_step = max(1, min(len(yt), chunk_elements // 64))
    for ys in range(0, len(yt), y_step):
        yb = yt[ys:ys + y_step]
        yb_sq = yb.pow(2).sum(1)
        for rows in row_blocks(len(xt), len(yb), chunk_elements):
            block = squared_distances(xt[rows], yb, yb_sq).min(1).values
            best[rows] = torch.minimum(best[rows], block)
    return best.sqrt().numpy().astype(np.float64)


def distances_to_point(x: torch.Tensor, x_sq: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Return ``[n]`` Euclidean distances of the rows of ``x`` to one ``point`` ``[d]``."""
    d2 = x_sq - 2.0 * (x @ point) + point.pow(2).sum()
    return d2.clamp_min_(0.0).sqrt_()


def knn_mean_distance(x: np.ndarray, k: int, chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Return ``[n]`` the mean Euclidean (not squared) distance of each row to its ``k`` nearest others.

    Args:
        x: ``[n, d]`` points; ``1 <= k < n``.
        k: number of neighbours, the point itself excluded.
        chunk_elements: entries per distance block.
    """
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} neighbours needs 1 <= k < {len(x)} points")
    xt = as_tensor(x)
    x_sq = xt.pow(2).sum(1)
    out = torch.empty(len(xt))
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        local = torch.arange(rows.stop - rows.start)
        d2[local, local + rows.start] = float("inf")  # exclude the point itself
        nearest = torch.topk(d2, k, dim=1, largest=False).values  # [r, k]
        out[rows] = nearest.sqrt().mean(1)
    return out.numpy().astype(np.float64)


def nearest_other_label_distance(x: np.ndarray, labels: np.ndarray,
                                 chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Return ``[n]`` the Euclidean distance of each row to the nearest row with another label."""
    xt = as_tensor(x)
    x_sq = xt.pow(2).sum(1)
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    out = torch.empty(len(xt))
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        d2[lab[rows].unsqueeze(1) == lab.unsqueeze(0)] = float("inf")
        out[rows] = d2.min(1).values.sqrt()
    return out.numpy().astype(np.float64)


@dataclass(frozen=True)
class Graph:
    """A sparse directed graph in CSR form: the out-neighbours of ``i`` are ``indices[indptr[i]:indptr[i+1]]``.

    Attributes:
        indptr: int64 ``[n + 1]`` row offsets.
        indices: int32 ``[E]`` target positions, sorted within each row.
    """

    indptr: np.ndarray
    indices: np.ndarray

    @property
    def n_edges(self) -> int:
        """Return the number of edges E."""
        return len(self.indices)

    def degrees(self) -> np.ndarray:
        """Return ``[n]`` int64 out-degrees."""
        return np.diff(self.indptr)

    def neighbours(self, i: int) -> np.ndarray:
        """Return the out-neighbours of node ``i``."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]

    def neighbours_of_many(self, nodes: np.ndarray) -> np.ndarray:
        """Return the concatenated out-neighbours of ``nodes`` (repeats kept) as int64."""
        starts, stops = self.indptr[nodes], self.indptr[nodes + 1]
        lengths = stops - starts
        if lengths.sum() == 0:
            return np.empty(0, dtype=np.int64)
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.indices[np.arange(lengths.sum()) + offsets].astype(np.int64)


def radius_graph(x: np.ndarray, radius: float, max_edges: int,
                 chunk_elements: int = CHUNK_ELEMENTS) -> Graph:
    """Return the graph with an edge ``i -> j`` whenever ``||x_i - x_j|| < radius`` (self-loops included).

    Rows are processed in blocks, the last partial block included; only the edges are kept, as
    int32 targets, so memory is linear in the number of points plus edges.

    Args:
        x: ``[n, d]`` points.
        radius: the ball radius delta (> 0).
        max_edges: refuse graphs with more edges than this (their memory would explode).
        chunk_elements: entries per distance block.

    Raises:
        GraphTooLarge: the graph has more than ``max_edges`` edges.
    """
    xt = as_tensor(x)
    x_sq = xt.pow(2).sum(1)
    r2 = float(radius) ** 2
    counts, targets, total = [], [], 0
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        local = torch.arange(rows.stop - rows.start)
        d2[local, local + rows.start] = 0.0  # a point always lies in its own ball
        mask = d2 < r2
        counts.append(mask.sum(1).numpy())
        targets.append(torch.nonzero(mask)[:, 1].to(torch.int32).numpy())
        total += len(targets[-1])
        if total > max_edges:
            raise GraphTooLarge(total / rows.stop)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    return Graph(indptr, np.concatenate(targets) if targets else np.empty(0, dtype=np.int32))
