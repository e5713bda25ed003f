"""Seeded k-means for the selectors: fast k-means++ seeding, then scikit-learn's Lloyd iterations.

scikit-learn's own k-means++ (greedy, several local trials per centre) dominates the run time for
hundreds of clusters (minutes for 500 clusters of 50,000 x 512 points on two cores), so the seeding
here is plain k-means++ (D^2 sampling) computed with torch on a random subsample and handed to
scikit-learn as ``init``. Small problems (``n * k <= FULL_KMEANS_WORK``) then run full ``KMeans``,
larger ones ``MiniBatchKMeans`` (the TypiClust reference switched to mini-batches above 50
clusters). Every random choice comes from the caller's generator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from alpool.selectors.common import seed_from
from alpool.selectors.geometry import as_tensor, distances_to_point, squared_norms

FULL_KMEANS_WORK = 5_000_000  # n * k up to which full Lloyd k-means is affordable
SEEDING_SAMPLE = 20_000  # points k-means++ seeding looks at (at least 20 per cluster)
MINIBATCH_SIZE = 4096


@dataclass(frozen=True)
class Clustering:
    """A k-means result.

    Attributes:
        labels: int64 ``[n]`` cluster of each point, in ``0..k-1``.
        centers: float32 ``[k, d]`` centroids.
        algorithm: ``"kmeans"`` or ``"minibatch-kmeans"``.
    """

    labels: np.ndarray
    centers: np.ndarray
    algorithm: str


def kmeanspp_init(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``[k, d]`` initial centres by k-means++ D^2 sampling on a subsample of ``x``."""
    n = len(x)
    sample = min(n, max(SEEDING_SAMPLE, 20 * k))
    rows = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else np.arange(n)
    xt = as_tensor(x[rows])  # [s, d]
    x_sq = squared_norms(xt)
    picks = [int(rng.integers(sample))]
    d2 = distances_to_point(xt, x_sq, xt[picks[0]]).pow_(2).double()  # [s]
    for _ in range(1, k):
        d2[picks] = 0.0
        total = float(d2.sum())
        if total <= 0.0:  # every point coincides with a centre: draw the rest uniformly
            rest = np.setdiff1d(np.arange(sample), picks)
            picks.extend(rng.choice(rest, size=k - len(picks), replace=False).tolist())
            break
        cdf = torch.cumsum(d2, 0).numpy()
        pick = min(int(np.searchsorted(cdf, rng.random() * total, side="right")), sample - 1)
        picks.append(pick)
        d2 = torch.minimum(d2, distances_to_point(xt, x_sq, xt[pick]).pow_(2).double())
    return x[rows[np.asarray(picks)]].astype(np.float32)


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator,
           minibatch: bool | None = None) -> Clustering:
    """Cluster the rows of ``x`` into ``k`` groups with seeded k-means.

    Args:
        x: ``[n, d]`` float32 points; full k-means shifts them by their mean and back in place, so
            they may differ in the last bits afterwards.
        k: number of clusters.
        rng: generator of the seeding and of scikit-learn's ``random_state``.
        minibatch: force (True) or forbid (False) mini-batches; ``None`` chooses by size.

    Returns:
        The labels, centroids and the algorithm used.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if k >= len(x):
        return Clustering(np.arange(len(x), dtype=np.int64), x.copy(), "identity")
    init = kmeanspp_init(x, k, rng)
    use_minibatch = len(x) * k > FULL_KMEANS_WORK if minibatch is None else minibatch
    seed = seed_from(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points give fewer clusters
        if use_minibatch:
            model = MiniBatchKMeans(k, init=init, n_init=1, batch_size=MINIBATCH_SIZE,
                                    random_state=seed)
        else:
            # copy_x=False centres x in place and restores it: no second copy of the data.
            model = KMeans(k, init=init, n_init=1, random_state=seed, copy_x=False)
        model.fit(x)
    algorithm = "minibatch-kmeans" if use_minibatch else "kmeans"
    centers = model.cluster_centers_.astype(np.float32)
    return Clustering(model.labels_.astype(np.int64), centers, algorithm)

