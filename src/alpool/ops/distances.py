"""Chunked Euclidean geometry: nearest distances, k nearest neighbours, nearest other label.

Nothing here builds an ``N x N`` matrix. Distances are computed in row blocks of at most
``chunk_elements`` entries (64 MiB of float32 by default), so the temporary memory is fixed and the
rest grows linearly with the number of points. Squared distances use the matrix-product form
``|a|^2 + |b|^2 - 2 a.b`` (one GEMM per block on the CPU or the GPU) and are clamped at 0; where a
point meets itself the diagonal is set exactly instead of trusting the rounding. Small problems
(``n <= SMALL``) run in numpy on the CPU: at that size torch's per-op overhead dominates.

Exact kNN on the CPU uses faiss-cpu (a dependency; the torch route stands in where it is missing):
the torch route (GEMM block, then ``topk``) reads every distance block once more after writing it
and measured 1.2-1.5x faiss's time, which fuses the selection into its GEMM tiles. Without faiss
the torch route is used, and on CUDA always; the neighbour sets agree up to distance ties.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from alpool.ops.device import Device, as_tensor, on_cpu, resolve_device

CHUNK_ELEMENTS = 1 << 24  # entries of one distance block: 64 MiB of float32
SMALL = 2048  # point sets up to this size are handled in numpy on the CPU


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


def matmul_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Return ``a @ b.T`` ``[r, m]``; float32 on the CPU through numpy's BLAS.

    On the CPU numpy's OpenBLAS sgemm took 0.17-0.19 s of CPU time where torch's MKL took
    0.28-0.32 s for the same ``[1250, 512] x [512, 12500]`` product (AMD EPYC, 1 and 2 threads:
    MKL does not pick its fast kernels on AMD); faiss-cpu, the peer of the selector benchmark,
    uses OpenBLAS too. OpenBLAS gets torch's thread count (threadpoolctl). CUDA uses cuBLAS.
    """
    if a.device.type != "cpu" or a.dtype != torch.float32 or b.dtype != torch.float32:
        return a @ b.T
    with blas_threads(torch.get_num_threads()):
        return torch.from_numpy(np.matmul(a.numpy(), b.numpy().T))


_CONTROLLER: list[Any] = []


def blas_threads(threads: int) -> Any:
    """Return a context that runs numpy's BLAS with ``threads`` threads (a no-op without threadpoolctl)."""
    if not _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER.append(ThreadpoolController())
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _CONTROLLER.append(None)
    controller = _CONTROLLER[0]
    return contextlib.nullcontext() if controller is None else controller.limit(limits=threads, user_api="blas")


def squared_distances(a: torch.Tensor, b: torch.Tensor,
                      b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``[r, m]`` squared Euclidean distances between the rows of ``a`` and of ``b``."""
    if b_sq is None:
        b_sq = squared_norms(b)
    d2 = matmul_t(a, b).mul_(-2.0).add_(b_sq.unsqueeze(0))  # [r, m]
    return d2.add_(squared_norms(a).unsqueeze(1)).clamp_min_(0.0)


def squared_distances_np(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray | None = None) -> np.ndarray:
    """Return ``[r, m]`` squared distances in numpy (for small blocks on the CPU)."""
    b_sq = np.einsum("ij,ij->i", b, b) if b_sq is None else b_sq
    d2 = a @ (-2.0 * b.T)
    d2 += b_sq[None]
    d2 += np.einsum("ij,ij->i", a, a)[:, None]
    return np.maximum(d2, 0.0, out=d2)


def min_distances(x: np.ndarray, y: np.ndarray, chunk_elements: int = CHUNK_ELEMENTS,
                  device: Device = None) -> np.ndarray:
    """Return ``[n]`` the Euclidean distance of each row of ``x`` to its nearest row of ``y``.

    Both sides are chunked, so ``y`` may be as large as ``x``. With an empty ``y`` every distance is
    ``inf``.
    """
    dev = resolve_device(device)
    xt, yt = as_tensor(x, dev), as_tensor(y, dev)
    best = torch.full((len(xt),), float("inf"), device=dev)  # [n] squared
    if len(yt) == 0:
        return best.cpu().numpy().astype(np.float64)
    y_step = max(1, min(len(yt), chunk_elements // 64))
    for ys in range(0, len(yt), y_step):
        yb = yt[ys:ys + y_step]
        yb_sq = squared_norms(yb)
        for rows in row_blocks(len(xt), len(yb), chunk_elements):
            block = squared_distances(xt[rows], yb, yb_sq).min(1).values
            best[rows] = torch.minimum(best[rows], block)
    return best.sqrt().cpu().numpy().astype(np.float64)


def knn(x: np.ndarray, k: int, chunk_elements: int = CHUNK_ELEMENTS,
        device: Device = None, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Return the ``k`` nearest other rows of every row: Euclidean distances and positions.

    Args:
        x: ``[n, d]`` points; ``1 <= k < n``.
        k: neighbours per point, the point itself excluded (a duplicate of it is not).
        chunk_elements: entries per distance block.
        device: where to compute.
        backend: ``auto`` (faiss on the CPU when installed, else torch) or ``torch``.

    Returns:
        float64 ``[n, k]`` distances (ascending) and int64 ``[n, k]`` positions.
    """
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} neighbours needs 1 <= k < {len(x)} points")
    if len(x) <= SMALL and len(x) ** 2 <= chunk_elements and on_cpu(device):
        return _knn_np(np.asarray(x, dtype=np.float32), k)
    if backend == "auto" and on_cpu(device) and faiss_or_none() is not None:
        return _knn_faiss(np.asarray(x, dtype=np.float32), k)
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    dist = torch.empty((len(xt), k), device=xt.device)
    pos = torch.empty((len(xt), k), dtype=torch.int64, device=xt.device)
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        local = torch.arange(rows.stop - rows.start, device=xt.device)
        d2[local, local + rows.start] = float("inf")  # exclude the point itself
        nearest = torch.topk(d2, k, dim=1, largest=False, sorted=True)  # [r, k]
        dist[rows], pos[rows] = nearest.values, nearest.indices
    return dist.sqrt_().cpu().numpy().astype(np.float64), pos.cpu().numpy()


def faiss_or_none() -> Any:
    """Return the faiss module, or None where faiss-cpu is not installed (then torch computes kNN)."""
    try:
        import faiss  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        return None
    return faiss


def _knn_faiss(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`knn` with faiss's exact flat index (the point itself removed from its list)."""
    index = faiss_or_none().IndexFlatL2(x.shape[1])
    index.add(np.ascontiguousarray(x))
    d2, pos = index.search(np.ascontiguousarray(x), k + 1)  # [n, k + 1], usually self first
    keep = pos != np.arange(len(x))[:, None]
    keep[keep.all(1), -1] = False  # a duplicate pushed the point itself out of its list
    shape = (len(x), k)
    return np.sqrt(np.maximum(d2[keep], 0)).reshape(shape).astype(np.float64), pos[keep].reshape(shape)


def _knn_np(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`knn` of a small point set, in numpy."""
    d2 = squared_distances_np(x, x)  # [n, n]
    np.fill_diagonal(d2, np.inf)
    part = np.argpartition(d2, k - 1, axis=1)[:, :k]  # [n, k] unordered
    vals = np.take_along_axis(d2, part, axis=1)
    order = np.argsort(vals, axis=1, kind="stable")
    pos = np.take_along_axis(part, order, axis=1)
    return np.sqrt(np.take_along_axis(vals, order, axis=1)).astype(np.float64), pos.astype(np.int64)


def knn_mean_distance(x: np.ndarray, k: int, chunk_elements: int = CHUNK_ELEMENTS,
                      device: Device = None) -> np.ndarray:
    """Return ``[n]`` the mean Euclidean (not squared) distance of each row to its k nearest others.

    Args:
        x: ``[n, d]`` points; ``1 <= k < n``.
        k: number of neighbours, the point itself excluded.
        chunk_elements: entries per distance block.
        device: where to compute.
    """
    return knn(x, k, chunk_elements, device)[0].mean(1)


def nearest_other_label_distance(x: np.ndarray, labels: np.ndarray,
                                 chunk_elements: int = CHUNK_ELEMENTS,
                                 device: Device = None) -> np.ndarray:
    """Return ``[n]`` the Euclidean distance of each row to the nearest row with another label."""
    xt = as_tensor(x, device)
    x_sq = squared_norms(xt)
    lab = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=xt.device)
    out = torch.empty(len(xt), device=xt.device)
    for rows in row_blocks(len(xt), len(xt), chunk_elements):
        d2 = squared_distances(xt[rows], xt, x_sq)  # [r, n]
        d2.masked_fill_(lab[rows].unsqueeze(1) == lab.unsqueeze(0), float("inf"))
        out[rows] = d2.min(1).values.sqrt()
    return out.cpu().numpy().astype(np.float64)


def exact_other_label_distance(x: np.ndarray, labels: np.ndarray, rows: np.ndarray,
                               block_elements: int = 1 << 22) -> np.ndarray:
    """Return ``[len(rows)]`` float64 distances of ``x[rows]`` to the nearest point of another label.

    The value is ``sqrt(sum((a - b)^2))`` in float64 (no matrix-product rounding, and the same value
    from either end of a pair), for the few rows whose float32 distance lies too close to a
    threshold to be trusted. A float32 matrix product screens the candidates (``[rows, n]`` blocks); the
    direct difference is then taken for those within a wide rounding slack of each row's minimum.
    """
    labels = np.asarray(labels)
    rows = np.asarray(rows, dtype=np.int64)
    group = max(1, block_elements // max(1, len(x)))  # rows screened together: [group, n] float64
    parts = [_exact_rows(x, labels, rows[g:g + group]) for g in range(0, len(rows), group)]
    return np.concatenate(parts) if parts else np.empty(0)


def _exact_rows(x: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return :func:`exact_other_label_distance` for one group of rows."""
    x32 = np.asarray(x, dtype=np.float32)
    sq = np.einsum("ij,ij->i", x32, x32)
    a = x32[rows]  # [r, d]
    screen = squared_distances_np(a, x32, sq)  # [r, n] float32, off by ~1e-6 at most
    screen[labels[rows][:, None] == labels[None]] = np.inf
    slack = 1e-4 * max(float(sq.max()), 1e-30)  # far above the float32 rounding
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        near = np.flatnonzero(screen[i] <= screen[i].min() + slack)
        diff = np.asarray(x[near], dtype=np.float64) - np.asarray(x[row], dtype=np.float64)
        out[i] = np.sqrt(np.einsum("ij,ij->i", diff, diff).min())
    return out
