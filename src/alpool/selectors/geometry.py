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


def l2_normalize(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Return the rows of ``x`` scaled to unit Euclidean norm (zero rows stay zero).

    With ``inplace`` a float32 ``x`` is overwritten instead of copied (for arrays the caller owns).
    """
    out = x if inplace and x.dtype == np.float32 else np.array(x, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))[:, None]  # [n, 1], no [n, d] temporary
    return np.divide(out, np.maximum(norms, 1e-12), out=out)


def squared_norms(x: torch.Tensor) -> torch.Tensor:
    """Return ``[n]`` the squared norms of the rows of ``x`` (no ``[n, d]`` temporary)."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def row_blocks(n_rows: int, n_cols: int, chunk_elements: int = CHUNK_ELEMENTS) -> Iterator[slice]:
    """Yield row slices covering ``range(n_rows)`` (the last one partial) of ~``chunk_elements``."""
    step = max(1, chunk_elements // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def squared_distances(a: torch.Tensor, b: torch.Tensor,
                      b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``[r, m]`` squared Euclidean distances between the rows of ``a`` and of ``b``."""
    if b_sq is None:
        b_sq = squared_norms(b)
    d2 = torch.addmm(b_sq.unsqueeze(0), a, b.T, alpha=-2.0)  # [r, m]
    return d2.add_(squared_norms(a).unsqueeze(1)).clamp_min_(0.0)


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
        yb_sq = squared_norms(yb)
        for rows in row_blocks(len(xt), len(yb), chunk_elements):
            block = squared_distances(xt[rows], yb, yb_sq).min(1).values
            best[rows] = torch.minimum(best[rows], block)
    return best.sqrt().numpy().astype(np.float64)


def distances_to_point(x: torch.Tensor, x_sq: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Return ``[n]`` Euclidean distances of the rows of ``x`` to one ``point`` ``[d]``."""
    d2 = x_sq - 2.0 * (x @ point) + point.dot(point)
    return d2.clamp_min_(0.0).sqrt_()


def knn_mean_distance(x: np.ndarray, k: int, chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Return ``[n]`` the mean Euclidean (not squared) distance of each row to its k nearest others.

    Args:
        x: ``[n, d]`` points; ``1 <= k < n``.
        k: number of neighbours, the point itself excluded.
        chunk_elements: entries per distance block.
    """
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} neighbours needs 1 <= k < {len(x)} points")
    xt = as_tensor(x)
    x_sq = squared_norms(xt)
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
    x_sq = squared_norms(xt)
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    out = torch.empty(len(xt))
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        d2.masked_fill_(lab[rows].unsqueeze(1) == lab.unsqueeze(0), float("inf"))
        out[rows] = d2.min(1).values.sqrt()
    return out.numpy().astype(np.float64)


@dataclass(frozen=True)
class Graph:
    """A sparse directed graph in CSR form.

    The out-neighbours of node ``i`` are ``indices[indptr[i]:indptr[i + 1]]``.

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
    """Return the graph with an edge ``i -> j`` whenever ``||x_i - x_j|| < radius``, and ``i -> i``.

    Rows are processed in blocks, the last partial block included; only the edges are kept, as
    int32 targets, so memory is linear in the number of points plus edges. The targets go into one
    growing buffer rather than a list of small arrays: small survivors between large temporaries
    fragment the C heap, which cost ten times the graph's size in resident memory.

    Args:
        x: ``[n, d]`` points.
        radius: the ball radius delta (> 0).
        max_edges: refuse graphs with more edges than this (their memory would explode).
        chunk_elements: entries per distance block.

    Raises:
        GraphTooLarge: the graph has more than ``max_edges`` edges.
    """
    xt = as_tensor(x)
    x_sq = squared_norms(xt)
    r2 = float(radius) ** 2
    indptr = np.zeros(len(xt) + 1, dtype=np.int64)
    targets = np.empty(min(max_edges, 16 * len(xt) + 1024), dtype=np.int32)
    total = 0
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        local = torch.arange(rows.stop - rows.start)
        d2[local, local + rows.start] = 0.0  # a point always lies in its own ball
        hit_rows, hit_cols = torch.nonzero(d2 < r2, as_tuple=True)  # [e] each, row-major order
        del d2
        # Row counts from the hits: a bool row sum over the block costs as much as the compare.
        indptr[rows.start + 1:rows.stop + 1] = np.bincount(hit_rows.numpy(), minlength=rows.stop - rows.start)
        found = hit_cols.numpy()
        if total + len(found) > max_edges:
            raise GraphTooLarge((total + len(found)) / rows.stop)
        if total + len(found) > len(targets):
            targets = _grown(targets, total, min(max_edges, 2 * (total + len(found))))
        targets[total:total + len(found)] = found
        total += len(found)
    np.cumsum(indptr, out=indptr)
    return Graph(indptr, targets[:total].copy())


def _grown(buffer: np.ndarray, used: int, capacity: int) -> np.ndarray:
    """Return a larger buffer holding the first ``used`` entries of ``buffer``."""
    bigger = np.empty(capacity, dtype=buffer.dtype)
    bigger[:used] = buffer[:used]
    return bigger
