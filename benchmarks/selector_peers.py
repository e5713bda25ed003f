"""The best peer implementations the selectors are measured against, and alpool's own entries.

Peers: faiss-cpu where it is the fastest known route (k-means, exact kNN, range search), numpy
where the issue measured a vectorised loop as best (k-center). Without faiss the peers fall back to
scikit-learn and numpy (slower: the table then says so). Every entry takes the same L2-normalised
``[n, d]`` float32 points and returns what the agreement checks compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import faiss  # type: ignore[import-not-found]
except ModuleNotFoundError:  # the peers then use scikit-learn / numpy
    faiss = None

BUDGET = 1000
KMEANS_K = 500
KNN_K = 20
PSEUDO_K = 10
ITERS = 20
MAX_DEGREE = 20_000  # the balls of this data hold ~N/100 points: allow the graph at 100,000


def peer_name() -> str:
    """Return which library the peers use."""
    return f"faiss {faiss.__version__}" if faiss is not None else "scikit-learn/numpy (no faiss)"


# --- peers ---------------------------------------------------------------------------------------


def peer_kcenter(x: np.ndarray, budget: int) -> dict[str, Any]:
    """Greedy k-center with a vectorised min-distance update in numpy."""
    sq = np.einsum("ij,ij->i", x, x)
    dist = np.full(len(x), np.inf, np.float32)
    picks = [int(np.random.default_rng(0).integers(len(x)))]
    for i in range(budget):
        if i:
            picks.append(int(np.argmax(dist)))
        b = picks[-1]
        np.minimum(dist, sq - 2 * (x @ x[b]) + sq[b], out=dist)
        dist[b] = -1
    return {"picks": np.asarray(picks), "radius": float(np.sqrt(dist.max()))}


def peer_kmeans(x: np.ndarray, k: int, seed: int = 1, nredo: int = 1) -> tuple[np.ndarray, float]:
    """Return labels and inertia of faiss k-means (random init, 20 Lloyd iterations)."""
    if faiss is None:
        from sklearn.cluster import KMeans
        model = KMeans(k, init="random", n_init=nredo, max_iter=ITERS, random_state=seed).fit(x)
        return model.labels_.astype(np.int64), float(model.inertia_)
    km = faiss.Kmeans(x.shape[1], k, niter=ITERS, seed=seed, nredo=nredo, max_points_per_centroid=10**7)
    km.train(x)
    dist, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64), float(dist.sum())


def peer_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the k nearest other points: distances and positions (exact, brute force)."""
    if faiss is None:
        from sklearn.neighbors import NearestNeighbors
        dist, pos = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x).kneighbors(x)
        return dist[:, 1:], pos[:, 1:]
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    d2, pos = index.search(x, k + 1)
    return np.sqrt(np.maximum(d2[:, 1:], 0)), pos[:, 1:]


def peer_typiclust(x: np.ndarray, budget: int) -> dict[str, Any]:
    """k-means into min(B, 500) clusters, per-cluster kNN typicality, alpool's pick rule."""
    from alpool.selectors.common import PointSet
    from alpool.selectors.typiclust import pick_typical

    labels, _ = peer_kmeans(x, min(budget, KMEANS_K))
    typical = np.full(len(x), np.nan)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = min(KNN_K, len(members) // 2)
        if k >= 1:
            typical[members] = 1.0 / peer_knn(x[members], k)[0].mean(1)
    points = PointSet(np.arange(len(x)), len(x))
    picks, _ = pick_typical(points, labels, typical, budget, 5)
    return {"picks": picks}


def peer_probcover(x: np.ndarray, budget: int) -> dict[str, Any]:
    """Purity radius (pass 1: nearest other label), range-search graph (pass 2), CSR greedy cover."""
    from alpool.ops.graph import Graph
    from alpool.selectors.common import PointSet
    from alpool.selectors.probcover import greedy_cover

    pseudo, _ = peer_kmeans(x, PSEUDO_K, nredo=10)
    d = np.empty(len(x))
    sq = np.einsum("ij,ij->i", x, x)
    for s in range(0, len(x), 1024):
        d2 = sq[s:s + 1024, None] + sq[None] - 2 * (x[s:s + 1024] @ x.T)
        d2[pseudo[s:s + 1024, None] == pseudo[None]] = np.inf
        d[s:s + 1024] = np.sqrt(np.maximum(d2.min(1), 0))
    delta = float(np.sort(d)[int(np.floor(0.05 * len(x)))])
    if faiss is not None:
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        lims, _, ids = index.range_search(x, delta * delta)
        graph = Graph(lims.astype(np.int64), ids.astype(np.int32))
    else:
        from alpool.ops.graph import radius_graph
        graph = radius_graph(x, delta, 10**10)
    picks, _, stats = greedy_cover(graph, PointSet(np.arange(len(x)), len(x)), budget,
                                   np.random.default_rng(0))
    return {"picks": picks, "delta": delta, "coverage": stats["coverage"]}


GIVEN_DELTA = 0.9  # balls of ~N/100 points on the benchmark's data


def peer_probcover_delta(x: np.ndarray, budget: int) -> dict[str, Any]:
    """ProbCover with a given radius: faiss range search, then the same CSR greedy cover."""
    from alpool.ops.graph import Graph
    from alpool.selectors.common import PointSet
    from alpool.selectors.probcover import greedy_cover

    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    lims, _, ids = index.range_search(x, GIVEN_DELTA * GIVEN_DELTA)
    graph = Graph(lims.astype(np.int64), ids.astype(np.int32))
    picks, _, stats = greedy_cover(graph, PointSet(np.arange(len(x)), len(x)), budget, np.random.default_rng(0))
    return {"picks": picks, "delta": GIVEN_DELTA, "coverage": stats["coverage"]}


def peer_maxherding(x: np.ndarray, budget: int, neighbours: int = 0) -> dict[str, Any]:
    """MaxHerding on the same sparse kernel: faiss kNN, a scipy CSR kernel, lazy greedy (a heap).

    An independent route to alpool's objective: the gains are recomputed lazily (the coverage is
    submodular, so a stale gain is an upper bound) from the CSR columns of the kernel.
    """
    import heapq

    from scipy import sparse

    n = len(x)
    k = neighbours or herding_neighbours(n, budget)
    dist, pos = peer_knn(x, k)
    sigma = float(np.median(dist[:, -1])) / 2.0
    rows = np.repeat(np.arange(n), k + 1)
    cols = np.concatenate([np.arange(n)[:, None], pos], axis=1).ravel()
    vals = np.concatenate([np.ones((n, 1)), np.exp(-dist ** 2 / (2 * sigma ** 2))], axis=1).ravel()
    by_col = sparse.csr_matrix((vals, (cols, rows)), shape=(n, n))  # row c: the points c feeds
    best = np.zeros(n)
    gains = np.asarray(by_col.sum(1)).ravel()
    heap = [(-g, c) for c, g in enumerate(gains)]
    heapq.heapify(heap)
    picks: list[int] = []
    while len(picks) < budget:
        _, c = heapq.heappop(heap)
        start, stop = by_col.indptr[c], by_col.indptr[c + 1]
        fed, kv = by_col.indices[start:stop], by_col.data[start:stop]
        gain = float(np.maximum(kv - best[fed], 0).sum())
        if heap and gain < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-gain, c))
            continue
        picks.append(c)
        best[fed] = np.maximum(best[fed], kv)
    return {"picks": np.asarray(picks), "sigma": sigma}


def herding_neighbours(n: int, budget: int) -> int:
    """Return alpool's default kernel neighbours for ``n`` points and ``budget`` picks."""
    from alpool.selectors.maxherding import MaxHerdingParams, default_neighbours

    return default_neighbours(MaxHerdingParams(), n, budget, 0)


def dense_maxherding(x: np.ndarray, budget: int) -> dict[str, Any]:
    """Brute force: the full Gaussian kernel (alpool's default sigma), greedy on its exact gains."""
    from alpool.ops.herding import dense_greedy, dense_kernel

    dist, _ = peer_knn(x, herding_neighbours(len(x), budget))
    sigma = float(np.median(dist[:, -1])) / 2.0  # alpool's default rule at this budget
    picks, _ = dense_greedy(dense_kernel(x, sigma), len(x), np.empty(0, np.int64), budget)
    every = select(x, "maxherding", budget, neighbours=len(x) - 1, sigma=sigma).indices  # sparse = dense
    return {"picks": picks, "sigma": sigma, "x": x, "every_neighbour": every}


# --- alpool --------------------------------------------------------------------------------------


def select(x: np.ndarray, strategy: str, budget: int, **params: Any) -> Any:
    """Run one alpool selector on ``x`` through the public entry, on the CPU."""
    import alpool

    return alpool.select(x, budget, strategy=strategy, seed=0, device="cpu", **params)


def alpool_kcenter(x: np.ndarray, budget: int) -> dict[str, Any]:
    """alpool's greedy k-center."""
    from alpool.ops.kcenter import k_center

    picks, radius = k_center(x, np.full(len(x), np.inf), budget, np.random.default_rng(0))
    return {"picks": picks, "radius": radius}


def alpool_kmeans(x: np.ndarray) -> dict[str, Any]:
    """alpool's k-means, K = 500."""
    from alpool.ops.kmeans import kmeans

    result = kmeans(x, KMEANS_K, np.random.default_rng(1))
    return {"inertia": result.inertia}


def alpool_knn(x: np.ndarray, backend: str = "auto") -> dict[str, Any]:
    """alpool's exact kNN, k = 20 (``auto``: faiss on the CPU when installed; ``torch``: never)."""
    from alpool.ops.distances import knn

    return {"pos": knn(x, KNN_K, backend=backend)[1]}


def alpool_typiclust(x: np.ndarray, budget: int) -> dict[str, Any]:
    """alpool's typiclust selector end to end."""
    return {"picks": select(x, "typiclust", budget).indices}


def alpool_probcover(x: np.ndarray, budget: int) -> dict[str, Any]:
    """alpool's probcover selector end to end (purity rule, K = 10 pseudo-classes, no cache)."""
    result = select(x, "probcover", budget, pseudo_classes=PSEUDO_K, max_mean_degree=MAX_DEGREE)
    return {"picks": result.indices, "delta": result.info["delta"], "coverage": result.info["coverage"]}


def alpool_probcover_delta(x: np.ndarray, budget: int) -> dict[str, Any]:
    """alpool's probcover selector end to end with a given radius (no cache)."""
    result = select(x, "probcover", budget, delta=GIVEN_DELTA, max_mean_degree=MAX_DEGREE, cache=False)
    return {"picks": result.indices, "delta": result.info["delta"], "coverage": result.info["coverage"]}


def alpool_maxherding(x: np.ndarray, budget: int) -> dict[str, Any]:
    """alpool's maxherding selector end to end (default neighbours and sigma)."""
    result = select(x, "maxherding", budget)
    return {"picks": result.indices, "sigma": result.info["sigma"]}


ENTRIES: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]], str]] = {
    "kcenter": (alpool_kcenter, peer_kcenter, "numpy vectorised update"),
    "kmeans": (lambda x, b: alpool_kmeans(x), lambda x, b: {"inertia": peer_kmeans(x, KMEANS_K)[1]},
               "k-means K=500 (random init, 20 Lloyd)"),
    "knn": (lambda x, b: alpool_knn(x), lambda x, b: {"pos": peer_knn(x, KNN_K)[1]},
            "exact kNN k=20; alpool uses faiss on the CPU when installed"),
    "knn-torch": (lambda x, b: alpool_knn(x, "torch"), lambda x, b: {"pos": peer_knn(x, KNN_K)[1]},
                  "exact kNN k=20, alpool's torch route (no faiss; the CUDA route)"),
    "typiclust": (alpool_typiclust, peer_typiclust, "k-means + per-cluster kNN + picks"),
    "probcover": (alpool_probcover, peer_probcover, "pseudo k-means, 2 passes, range graph, greedy"),
    "probcover-delta": (alpool_probcover_delta, peer_probcover_delta,
                        "given radius: faiss range search + the same greedy"),
    "maxherding": (alpool_maxherding, peer_maxherding, "faiss kNN + scipy CSR kernel + lazy greedy"),
    "maxherding-dense": (alpool_maxherding, dense_maxherding,
                         "dense N x N kernel brute force (small N only: N^2 float64 memory)"),
}


def agreement(method: str, ours: dict[str, Any], peer: dict[str, Any]) -> str:
    """Return a short statement of how far the two outputs agree."""
    if method == "kcenter":
        same = np.array_equal(ours["picks"], peer["picks"])
        return f"same picks: {same}; radius {ours['radius']:.4f} vs {peer['radius']:.4f}"
    if method == "kmeans":
        return f"inertia ratio alpool/peer {ours['inertia'] / peer['inertia']:.4f}"
    if method.startswith("knn"):
        a, b = np.sort(ours["pos"], 1), np.sort(peer["pos"], 1)
        return f"same neighbour sets: {np.mean((a == b).all(1)):.2%} of rows"
    if method.startswith("maxherding"):
        from alpool.ops.herding import dense_coverage

        same = np.array_equal(ours["picks"], peer["picks"])
        common = len(np.intersect1d(ours["picks"], peer["picks"])) / len(ours["picks"])
        text = f"same picks: {same} ({common:.0%} in common), sigma {ours['sigma']:.4f} vs {peer['sigma']:.4f}"
        if method == "maxherding-dense":
            kept = dense_coverage(peer["x"], ours["picks"], peer["sigma"]) / \
                dense_coverage(peer["x"], peer["picks"], peer["sigma"])
            exact = np.array_equal(peer["every_neighbour"], peer["picks"])
            text += (f"; alpool with every neighbour: same picks {exact}; dense objective kept by the "
                     f"default sparse picks {kept:.2%}")
        return text
    if method == "typiclust":
        overlap = len(np.intersect1d(ours["picks"], peer["picks"])) / len(ours["picks"])
        return f"picks in common {overlap:.0%} (different k-means runs)"
    return (f"same picks: {np.array_equal(ours['picks'], peer['picks'])}; delta {ours['delta']:.4f} vs "
            f"{peer['delta']:.4f}; coverage {ours['coverage']:.3f} vs {peer['coverage']:.3f}")
