"""The ops layer: torch (device) paths against the numpy paths on the CPU, k-means restarts, kNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alpool.ops.device import as_tensor, resolve_device
from alpool.ops.distances import knn, squared_distances_np
from alpool.ops.kcenter import _k_center_numpy, _k_center_torch, k_center
from alpool.ops.kmeans import _numpy_distance_to, _torch_distance_to, kmeans, kmeanspp
from alpool.ops.ranking import rank_top


def points(n: int = 300, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_k_center_torch_path_matches_numpy_path_on_cpu() -> None:
    x = points()
    start2 = np.full(len(x), np.finfo(np.float32).max, dtype=np.float32)
    a, ra = _k_center_numpy(x, start2, 25, first=7)
    b, rb = _k_center_torch(torch.from_numpy(x), start2, 25, first=7)
    assert a == b and ra == pytest.approx(rb, rel=1e-5)


def test_k_center_picks_the_farthest_point_first_after_labeled() -> None:
    x = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    start = np.array([0.0, 1.0, 5.0, 2.0])  # distance to a labeled point at the origin
    picks, radius = k_center(x, start, 2, np.random.default_rng(0), device="cpu")
    assert picks.tolist() == [2, 3] and radius == pytest.approx(1.0)


def test_distance_update_torch_matches_numpy() -> None:
    x = points()
    sq = np.einsum("ij,ij->i", x, x)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(_torch_distance_to(xt, xt.square().sum(1), 5, 64),
                               _numpy_distance_to(x, sq, 5, 64), rtol=1e-4, atol=1e-4)


def test_kmeanspp_is_seeded_and_spreads() -> None:
    x = np.concatenate([np.full((20, 2), c, dtype=np.float32) for c in (0.0, 10.0, 20.0)])
    x += np.random.default_rng(0).normal(scale=0.01, size=x.shape).astype(np.float32)
    a, gaps = kmeanspp(x, 3, np.random.default_rng(1), first=0)
    b, _ = kmeanspp(torch.from_numpy(x), 3, np.random.default_rng(1), first=0)
    assert a.tolist() == b.tolist() and np.isinf(gaps[0])
    assert sorted(x[a, 0].round(-1).tolist()) == [0.0, 10.0, 20.0]


def test_kmeans_restarts_keep_the_lowest_inertia() -> None:
    x = points(400, 4)
    one = kmeans(x, 12, np.random.default_rng(3))
    many = kmeans(x, 12, np.random.default_rng(3), n_init=4)
    assert many.inertia <= one.inertia and many.labels.shape == (400,)
    big = kmeans(points(400, 4), 80, np.random.default_rng(0))  # random starting centres
    assert len(np.unique(big.labels)) == 80  # empty clusters are moved, none stays empty


@pytest.mark.parametrize("chunk", [50, 1 << 24])
def test_knn_torch_and_numpy_paths_match_brute_force(chunk: int) -> None:
    x = points(200, 8)
    d = np.sqrt(squared_distances_np(x.astype(np.float64), x.astype(np.float64)))
    np.fill_diagonal(d, np.inf)
    dist, pos = knn(x, 5, chunk)  # chunk 50 forces the torch block path, the default numpy
    np.testing.assert_allclose(dist, np.sort(d, 1)[:, :5], rtol=1e-4, atol=1e-4)
    assert (np.sort(pos, 1) == np.sort(np.argsort(d, 1)[:, :5], 1)).mean() > 0.99


def test_knn_faiss_and_torch_backends_agree() -> None:
    pytest.importorskip("faiss")
    x = points(2500, 8)  # above the numpy size: the faiss (auto) and torch routes
    x[1] = x[0]  # a duplicate: the point itself may not come first in its list
    fd, fp = knn(x, 4)
    td, tp = knn(x, 4, backend="torch")
    np.testing.assert_allclose(fd, td, rtol=1e-3, atol=1e-3)
    assert (np.sort(fp, 1) == np.sort(tp, 1)).all(1).mean() > 0.99
    assert not (fp == np.arange(len(x))[:, None]).any()


def test_resolve_device_and_as_tensor() -> None:
    assert resolve_device(None).type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert as_tensor(np.ones((2, 3)), "cpu").dtype == torch.float32


def test_rank_top_nan_last() -> None:
    assert rank_top(np.array([np.nan, 1.0, 3.0]), 3, np.random.default_rng(0)).tolist() == [2, 1, 0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("strategy,params", [("coreset", {}), ("probcover", {"delta": 0.9}),
                                             ("probcover", {}), ("typiclust", {}),
                                             ("kmeans-centers", {}), ("dcom", {})])
def test_cpu_and_cuda_pick_the_same(strategy: str, params: dict) -> None:
    import alpool

    x = np.random.default_rng(5).normal(size=(3000, 64)).astype(np.float32)
    cpu = alpool.select(x, 30, strategy=strategy, labeled=[0, 1, 2], device="cpu", **params)
    gpu = alpool.select(x, 30, strategy=strategy, labeled=[0, 1, 2], device="cuda", **params)
    assert (cpu.indices == gpu.indices).mean() >= 0.9  # identical up to float ties


def test_kmeans_restarts_find_well_separated_blobs() -> None:
    """Pseudo-labels of the purity rule: 10 restarts recover every blob for every seed."""
    rng = np.random.default_rng(0)
    centres = 4 * rng.normal(size=(10, 16))
    truth = np.repeat(np.arange(10), 40)
    x = (centres[truth] + rng.normal(size=(400, 16))).astype(np.float32)
    for seed in range(10):
        labels = kmeans(x, 10, np.random.default_rng(seed), n_init=10).labels
        pairs = {(int(t), int(c)) for t, c in zip(truth, labels, strict=True)}
        assert len(pairs) == 10  # each blob is exactly one cluster
