"""ProbCover's purity radius and its delta-ball graph from one pass over the distances.

The purity rule [PC]: the largest delta such that at least ``purity`` of the balls are pure with
respect to pseudo-labels. A ball around ``x`` is pure iff no point of another label lies closer than
delta, i.e. iff ``delta <= d(x)``, the distance to the nearest point of another label; so the rule's
delta is the order statistic ``sorted(d)[floor((1 - purity) * n)]``.

One pass instead of two: a small sample of rows bounds delta from above first; the single pass over
all row blocks then computes ``d`` *and* keeps every edge shorter than that bound with its squared
distance. Once delta is known the edges are filtered to ``< delta``. Should the bound fail (delta
above it) or the candidate edges pass their memory limit, a second pass builds the graph (recorded
as ``passes=2``, which keeps the candidate edges up to delta itself).

Exactness: float32 matrix-product distances are off by ~1e-6. The rows whose ``d`` lies within a
rounding band of delta are recomputed in float64, then delta is the order statistic of the corrected
``d``: the exact one, since rows outside the band cannot change sides. Edges within the band of
delta are decided in float64 too. So the chosen radius meets the target purity exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor
from alpool.ops.distances import (
    CHUNK_ELEMENTS,
    exact_other_label_distance,
    nearest_other_label_distance,
    row_blocks,
    squared_distances,
    squared_norms,
)
from alpool.ops.graph import Graph, GraphTooLarge

SAMPLE_ROWS = 2000  # rows of the upper-bound estimate
FLOAT32_EPS = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class PurityGraph:
    """The purity radius, the purity it reaches, and (when built in the same pass) its graph."""

    delta: float
    achieved: float
    graph: Graph | None
    passes: int
    refined_rows: int


def rounding_bound(x: np.ndarray) -> float:
    """Return a bound on the float32 rounding of a squared distance between rows of ``x``."""
    max_sq = float(np.einsum("ij,ij->i", x, x).max()) if len(x) else 0.0
    return 8.0 * np.sqrt(x.shape[1]) * FLOAT32_EPS * 4.0 * max(max_sq, 1e-30)


def order_index(n: int, purity: float) -> int:
    """Return the position ``floor((1 - purity) n)`` of delta in the sorted ``d`` (at most n - 1)."""
    return min(int(np.floor((1.0 - purity) * n + 1e-9)), n - 1)


def upper_bound(x: np.ndarray, pseudo: np.ndarray, purity: float, chunk_elements: int,
                device: Device) -> float:
    """Return a radius that delta lies below with high probability, from a stride sample of rows."""
    n = len(x)
    rows = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_ROWS)).astype(np.int64))
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    lab = torch.as_tensor(np.asarray(pseudo, np.int64), device=xt.device)
    sample = torch.as_tensor(rows, device=xt.device)
    found = torch.empty(len(rows), device=xt.device)
    for block in row_blocks(len(rows), n, chunk_elements):
        part = sample[block]
        d2 = squared_distances(xt[part], xt, x_sq)  # [b, n]
        d2.masked_fill_(lab[part].unsqueeze(1) == lab.unsqueeze(0), float("inf"))
        found[block] = d2.min(1).values
    d = np.sort(np.sqrt(found.cpu().numpy().astype(np.float64)))
    q = order_index(n, purity) / n
    q_hi = min(1.0, q + 4.0 * np.sqrt(max(q * (1 - q), 1e-12) / len(rows)) + 2.0 / len(rows))
    return float(d[min(int(np.ceil(q_hi * len(d))), len(d) - 1)]) * 1.02 + 1e-6


def purity_graph(x: np.ndarray, pseudo: np.ndarray, purity: float, max_edges: int,
                 chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> PurityGraph:
    """Return the exact purity radius and its delta-ball graph, sharing one distance pass.

    Args:
        x: ``[n, d]`` points.
        pseudo: ``[n]`` pseudo-labels.
        purity: required share of pure balls.
        max_edges: refuse graphs with more edges than this.
        chunk_elements: entries per distance block.
        device: where the distances are computed.

    Raises:
        GraphTooLarge: the graph at delta has more than ``max_edges`` edges.
        ValueError: fewer than two pseudo-labels (delta would be infinite).
    """
    pseudo = np.asarray(pseudo, dtype=np.int64)
    if len(np.unique(pseudo)) < 2:
        raise ValueError("the purity rule needs at least two pseudo-labels")
    upper = upper_bound(x, pseudo, purity, chunk_elements, device)
    d32, candidates = _pass(x, pseudo, upper, 2 * max_edges, chunk_elements, device)
    err = rounding_bound(x)
    delta, achieved, refined = exact_delta(x, pseudo, d32, purity, err)
    if not (np.isfinite(delta) and delta > 0):
        return PurityGraph(delta, achieved, None, 1, refined)
    passes = 1
    if candidates is None or delta > upper:  # the bound failed or the candidates overflowed
        passes = 2
        reach = float(np.sqrt(delta * delta + 4 * err))  # keeps every edge that may be < delta
        _, candidates = _pass(x, pseudo, reach, 2 * max_edges, chunk_elements, device)
        if candidates is None:
            raise GraphTooLarge(2 * max_edges / len(x))
    graph = _filtered(x, candidates, delta, err, max_edges)
    return PurityGraph(delta, achieved, graph, passes, refined)


def exact_delta(x: np.ndarray, pseudo: np.ndarray, d32: np.ndarray, purity: float,
                err_d2: float) -> tuple[float, float, int]:
    """Return delta and its purity from float32 ``d``, rows near delta redone in float64.

    Returns:
        delta, the share of ``d >= delta`` (exact), and how many rows were recomputed.
    """
    m = order_index(len(d32), purity)
    approx = float(np.partition(d32, m)[m])
    if not np.isfinite(approx):
        return approx, float("nan"), 0
    root = np.sqrt(err_d2)
    tol = root if approx <= 2 * root else 2 * err_d2 / approx  # |sqrt(a) - sqrt(b)| bound
    band = np.flatnonzero(np.abs(d32 - approx) <= 3 * tol)
    d = d32.astype(np.float64)
    d[band] = exact_other_label_distance(x, pseudo, band)
    delta = float(np.partition(d, m)[m])
    return delta, float((d >= delta).mean()), len(band)


def _pass(x: np.ndarray, pseudo: np.ndarray, upper: float, max_candidates: int,
          chunk_elements: int, device: Device) -> tuple[np.ndarray, tuple | None]:
    """Return ``d`` (float32 nearest other label) and the edges shorter than ``upper`` (or None)."""
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    lab = torch.as_tensor(pseudo, device=xt.device)
    u2 = upper * upper
    out = torch.empty(len(xt), device=xt.device)
    indptr = np.zeros(len(xt) + 1, dtype=np.int64)
    cols, vals, total, keep = [], [], 0, True
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        local = torch.arange(rows.stop - rows.start, device=xt.device)
        d2[local, local + rows.start] = 0.0
        if keep:
            flat = torch.nonzero((d2 < u2).view(-1)).squeeze(1)  # row-major positions of the hits
            total += len(flat)
            keep = total <= max_candidates
            if keep:
                hit_rows = torch.div(flat, len(xt), rounding_mode="floor")
                indptr[rows.start + 1:rows.stop + 1] = np.bincount(hit_rows.cpu().numpy(),
                                                                   minlength=rows.stop - rows.start)
                cols.append((flat - hit_rows * len(xt)).to(torch.int32).cpu().numpy())
                vals.append(d2.view(-1)[flat].cpu().numpy())
            else:
                cols, vals = [], []
        d2.masked_fill_(lab[rows].unsqueeze(1) == lab.unsqueeze(0), float("inf"))
        out[rows] = d2.min(1).values.sqrt()
        del d2
    d = out.cpu().numpy().astype(np.float64)
    if not keep:
        return d, None
    return d, (np.cumsum(indptr), np.concatenate(cols), np.concatenate(vals))


def _filtered(x: np.ndarray, candidates: tuple, delta: float, err_d2: float, max_edges: int) -> Graph:
    """Return the candidate edges shorter than ``delta``, boundary cases decided in float64."""
    indptr, cols, d2 = candidates
    r2 = delta * delta
    keep = d2 < r2
    unsure = np.flatnonzero(np.abs(d2 - r2) <= 3 * err_d2)
    if len(unsure):
        rows = np.searchsorted(indptr, unsure, side="right") - 1
        diff = x[rows].astype(np.float64) - x[cols[unsure]].astype(np.float64)
        exact = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        keep[unsure] = (exact < delta) | (rows == cols[unsure])
    if int(keep.sum()) > max_edges:
        raise GraphTooLarge(keep.sum() / len(x))
    kept = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    return Graph(kept[indptr], cols[keep])


def purity_delta(x: np.ndarray, pseudo: np.ndarray, purity: float,
                 chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> tuple[float, float]:
    """Return the exact purity radius and the purity it reaches, without building a graph."""
    d32 = nearest_other_label_distance(x, pseudo, chunk_elements, device)
    delta, achieved, _ = exact_delta(x, np.asarray(pseudo, np.int64), d32, purity, rounding_bound(x))
    return delta, achieved
