"""Cosine nearest neighbours in chunks, and label-based checks of embeddings (evaluation only).

The label checks (k-NN accuracy, NMI / ACC / ARI of clusters) go into manifests so a researcher
can see whether a pretext model learned anything; no selection ever reads them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

CHUNK_ELEMENTS = 1 << 24  # similarity entries per chunk: 64 MB of float32


def cosine_neighbours(embeddings: np.ndarray | torch.Tensor, k: int, device: torch.device | None = None,
                      chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Return ``[N, k]`` int64 indices of each point's ``k`` most cosine-similar other points.

    Rows are processed in chunks, so memory is ``O(N * (k + chunk))`` rather than ``O(N^2)``.
    """
    x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    x = F.normalize(x.to(device or "cpu"), dim=1)
    n = x.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k = {k} neighbours needs 0 < k < N = {n}; choose a smaller k")
    rows = max(1, chunk_elements // n)
    out = torch.empty((n, k), dtype=torch.int64)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        sims = x[start:stop] @ x.T
        sims[torch.arange(stop - start), torch.arange(start, stop)] = float("-inf")  # not oneself
        out[start:stop] = sims.topk(k, dim=1).indices.cpu()
    return out.numpy()


def knn_accuracy(embeddings: np.ndarray, labels: np.ndarray, k: int = 20) -> float:
    """Return the leave-one-out accuracy of a ``k``-nearest-neighbour (cosine) majority vote."""
    k = min(k, len(labels) - 1)
    votes = np.asarray(labels)[cosine_neighbours(embeddings, k)]
    num_classes = int(np.max(labels)) + 1
    counts = np.stack([(votes == c).sum(axis=1) for c in range(num_classes)], axis=1)
    return float((counts.argmax(axis=1) == labels).mean())


def cluster_agreement(clusters: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Return NMI, ACC (best one-to-one cluster-to-class matching, Hungarian) and ARI."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    clusters, labels = np.asarray(clusters), np.asarray(labels)
    table = np.zeros((int(clusters.max()) + 1, int(labels.max()) + 1), dtype=np.int64)
    np.add.at(table, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-table)
    return {
        "nmi": float(normalized_mutual_info_score(labels, clusters)),
        "acc": float(table[rows, cols].sum() / len(labels)),
        "ari": float(adjusted_rand_score(labels, clusters)),
    }
