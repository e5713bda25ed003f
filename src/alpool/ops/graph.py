"""Sparse radius graphs (CSR, int32 targets) and greedy maximum coverage on them.

A radius graph has an edge ``i -> j`` whenever ``||x_i - x_j|| < radius`` (and ``i -> i``). It is
built in row blocks, the last partial block included; only the edges are kept, as int32 targets in
one growing buffer, so memory is linear in the number of points plus edges (a list of small arrays
between large temporaries fragments the C heap: ten times the graph's size in resident memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor, on_cpu
from alpool.ops.distances import CHUNK_ELEMENTS, blas_threads, matmul_t, row_blocks, squared_norms


class GraphTooLarge(Exception):
    """A radius graph passed its edge limit; ``edges_per_point`` estimates its mean degree."""

    def __init__(self, edges_per_point: float) -> None:
        super().__init__(f"mean degree above {edges_per_point:.0f}")
        self.edges_per_point = edges_per_point


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
                 chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> Graph:
    """Return the graph with an edge ``i -> j`` whenever ``||x_i - x_j|| < radius``, and ``i -> i``.

    Args:
        x: ``[n, d]`` points.
        radius: the ball radius delta (> 0).
        max_edges: refuse graphs with more edges than this (their memory would explode).
        chunk_elements: entries per distance block.
        device: where the distances are computed (edges always come back to the CPU).

    Raises:
        GraphTooLarge: the graph has more than ``max_edges`` edges.
    """
    if on_cpu(device):
        return _radius_graph_cpu(np.asarray(x, dtype=np.float32), float(radius), max_edges, chunk_elements)
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    half_sq = (x_sq / 2).unsqueeze(0)  # [1, n]
    r2 = float(radius) ** 2
    builder = EdgeBuffer(len(xt), max_edges)
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        # ||a - y||^2 < r^2  <=>  a.y - |y|^2 / 2 > (|a|^2 - r^2) / 2: two passes over the block
        # after the product instead of five (scale, two norms, clamp, compare)
        score = matmul_t(xt[rows], xt).sub_(half_sq)  # [r, n]
        local = torch.arange(rows.stop - rows.start, device=xt.device)
        score[local, local + rows.start] = float("inf")  # a point always lies in its own ball
        bound = ((x_sq[rows] - r2) / 2).unsqueeze(1)  # [r, 1]
        hit_rows, hit_cols = hits(score > bound)  # [e] each, row-major order
        del score
        builder.add(rows, hit_rows, hit_cols)
    return builder.graph()


def _radius_graph_cpu(x: np.ndarray, radius: float, max_edges: int, chunk_elements: int) -> Graph:
    """Return :func:`radius_graph` on the CPU: one product per block decides every edge by its sign.

    With ``a' = [a, -1/2, -(|a|^2 - r^2)/2]`` and ``y' = [y, |y|^2, 1]``, ``a'.y' > 0`` iff
    ``||a - y|| < r``: the block's only passes after the (OpenBLAS) product are one comparison
    with 0 and one ``flatnonzero``.
    """
    n = len(x)
    sq = np.einsum("ij,ij->i", x, x)
    left = np.concatenate([x, np.full((n, 1), -0.5, np.float32),
                           (-(sq - radius * radius) / 2).astype(np.float32)[:, None]], axis=1)  # [n, d + 2]
    right = np.concatenate([x, sq[:, None], np.ones((n, 1), np.float32)], axis=1)  # [n, d + 2]
    builder = EdgeBuffer(n, max_edges)
    with blas_threads(torch.get_num_threads()):
        for rows in row_blocks(n, n, chunk_elements):
            score = block_product(left[rows], right)  # [r, n]
            local = np.arange(rows.stop - rows.start)
            score[local, local + rows.start] = np.inf  # a point always lies in its own ball
            flat = np.flatnonzero(score > 0)
            del score
            row_of = flat // n
            builder.add(rows, row_of, flat - row_of * n)
    return builder.graph()


def block_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``a @ b.T`` (numpy's BLAS): one block of the CPU radius graph."""
    return a @ b.T


def hits(mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Return the (row, column) positions of the True entries of a 2-D mask, row-major, as numpy.

    On the CPU ``np.flatnonzero`` of the flat mask (one pass, 5x faster than ``torch.nonzero``,
    which counts and then fills); on CUDA ``torch.nonzero`` on the device.
    """
    if mask.device.type == "cpu":
        flat = np.flatnonzero(mask.numpy())
        row_of = flat // mask.shape[1]
        return row_of, flat - row_of * mask.shape[1]
    found = torch.nonzero(mask, as_tuple=True)
    return found[0].cpu().numpy(), found[1].cpu().numpy()


class EdgeBuffer:
    """Collect row-major edges block by block into CSR arrays (int32 targets, one growing buffer)."""

    def __init__(self, n: int, max_edges: int) -> None:
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        self.targets = np.empty(min(max_edges, 16 * n + 1024), dtype=np.int32)
        self.total = 0
        self.max_edges = max_edges

    def add(self, rows: slice, hit_rows: np.ndarray, hit_cols: np.ndarray) -> None:
        """Append the edges of the block ``rows`` (``hit_rows`` local to the block, sorted)."""
        self.indptr[rows.start + 1:rows.stop + 1] = np.bincount(hit_rows, minlength=rows.stop - rows.start)
        if self.total + len(hit_cols) > self.max_edges:
            raise GraphTooLarge((self.total + len(hit_cols)) / rows.stop)
        if self.total + len(hit_cols) > len(self.targets):
            self.targets = _grown(self.targets, self.total,
                                  min(self.max_edges, 2 * (self.total + len(hit_cols))))
        self.targets[self.total:self.total + len(hit_cols)] = hit_cols
        self.total += len(hit_cols)

    def graph(self) -> Graph:
        """Return the collected graph."""
        indptr = np.cumsum(self.indptr)
        return Graph(indptr, self.targets[:self.total].copy())


def _grown(buffer: np.ndarray, used: int, capacity: int) -> np.ndarray:
    """Return a larger buffer holding the first ``used`` entries of ``buffer``."""
    bigger = np.empty(capacity, dtype=buffer.dtype)
    bigger[:used] = buffer[:used]
    return bigger


def cover(graph: Graph, sources: np.ndarray, covered: np.ndarray, degree: np.ndarray) -> int:
    """Mark what ``sources`` reach as covered, lower the degrees of what covered it; return how many.

    The graph must be symmetric (distance graphs are): the points covering ``y`` are ``y``'s
    neighbours, so one pick costs the degrees of what it newly covers.
    """
    reached = np.unique(graph.neighbours_of_many(sources))
    return mark_covered(graph, reached[~covered[reached]], covered, degree)


def mark_covered(graph: Graph, new: np.ndarray, covered: np.ndarray, degree: np.ndarray) -> int:
    """Mark the uncovered points ``new`` as covered and lower the degrees of their neighbours."""
    if len(new) == 0:
        return 0
    covered[new] = True
    degree -= np.bincount(graph.neighbours_of_many(new), minlength=len(degree))
    return len(new)
