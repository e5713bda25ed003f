"""The chunked distance helpers, k-means and allocation helpers against brute force."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from selector_inputs import blob_inputs, context, three_blobs

from alpool.ops import distances, graph, purity
from alpool.ops.distances import (
    knn_mean_distance,
    min_distances,
    nearest_other_label_distance,
    row_blocks,
)
from alpool.ops.graph import radius_graph
from alpool.ops.kmeans import kmeans
from alpool.ops.purity import purity_delta
from alpool.ops.ranking import rank_top
from alpool.selectors import SELECTORS
from alpool.selectors.cluster_selectors import round_robin
from alpool.selectors.common import spread_evenly


def points(n: int = 53, d: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def dense(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None].astype(np.float64) - y[None], axis=2)


def test_row_blocks_cover_every_row_once() -> None:
    rows = [r for s in row_blocks(53, 10, chunk_elements=70) for r in range(s.start, s.stop)]
    assert rows == list(range(53))


@pytest.mark.parametrize("chunk", [16, 100, 1 << 20])
def test_min_distances_match_brute_force(chunk: int) -> None:
    x, y = points(), points(31, seed=1)
    np.testing.assert_allclose(min_distances(x, y, chunk), dense(x, y).min(1), rtol=1e-4, atol=1e-4)
    assert np.isinf(min_distances(x, y[:0])).all()


@pytest.mark.parametrize("chunk", [60, 1 << 20])
def test_knn_mean_distance_matches_brute_force(chunk: int) -> None:
    x = points()
    d = dense(x, x)
    np.fill_diagonal(d, np.inf)
    expected = np.sort(d, 1)[:, :4].mean(1)
    np.testing.assert_allclose(knn_mean_distance(x, 4, chunk), expected, rtol=1e-4, atol=1e-4)


def test_knn_mean_distance_counts_duplicates_as_neighbours() -> None:
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(knn_mean_distance(x, 1), [0.0, 0.0, 1.0, 4.0], atol=1e-6)


@pytest.mark.parametrize("chunk", [53 * 4, 53 * 7, 1 << 20])
def test_radius_graph_matches_brute_force(chunk: int) -> None:
    x = points()
    graph = radius_graph(x, 2.5, max_edges=10**6, chunk_elements=chunk)
    d = dense(x, x)
    for i in range(len(x)):
        assert set(graph.neighbours(i)) == set(np.flatnonzero(d[i] < 2.5)) | {i}
    many = graph.neighbours_of_many(np.array([3, 52, 3]))
    assert sorted(many) == sorted(
        [*graph.neighbours(3), *graph.neighbours(52), *graph.neighbours(3)]
    )


def test_nearest_other_label_and_purity_delta() -> None:
    x = points()
    labels = (x[:, 0] > 0).astype(np.int64)
    d = dense(x, x)
    d[labels[:, None] == labels[None]] = np.inf
    np.testing.assert_allclose(nearest_other_label_distance(x, labels, 60), d.min(1), rtol=1e-4)
    delta, achieved = purity_delta(x, labels, 0.9)
    assert achieved >= 0.9 and (d.min(1) >= delta * 1.001).mean() < 0.9


def test_spread_evenly() -> None:
    rng = np.random.default_rng(0)
    assert spread_evenly(np.array([10, 10, 10]), 9, rng).tolist() == [3, 3, 3]
    assert spread_evenly(np.array([1, 10, 10]), 9, rng).tolist() == [1, 4, 4]
    assert sorted(spread_evenly(np.array([10, 10, 10]), 10, rng)) == [3, 3, 4]
    assert spread_evenly(np.array([0, 2, 50]), 30, rng).tolist() == [0, 2, 28]
    with pytest.raises(ValueError):
        spread_evenly(np.array([1, 1]), 3, rng)


def test_rank_top_puts_nan_last_and_breaks_ties_by_seed() -> None:
    scores = np.array([0.5, np.nan, 0.9, 0.5, 0.5])
    assert rank_top(scores, 5, np.random.default_rng(0))[0] == 2
    assert rank_top(scores, 5, np.random.default_rng(0))[-1] == 1
    ties = {tuple(rank_top(scores, 4, np.random.default_rng(s))[1:4]) for s in range(10)}
    assert len(ties) > 1


def test_round_robin_interleaves_groups() -> None:
    groups = np.array([0, 0, 0, 1, 1, 2])
    priority = np.array([0.1, 0.9, 0.5, 0.3, 0.4, 0.0])
    order = round_robin(groups, priority, np.random.default_rng(0))
    assert sorted(groups[order[:3]]) == [0, 1, 2]
    assert order[np.isin(order, [0, 1, 2])].tolist() == [1, 2, 0]  # best first inside a group
    assert groups[order[3:5]].tolist() in ([0, 1], [1, 0]) and order[5] == 0


def test_kmeans_is_seeded_and_finds_blobs() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, size=(40, 3)) for c in (0.0, 5.0, 10.0)]).astype(
        np.float32
    )
    a = kmeans(x, 3, np.random.default_rng(1))
    b = kmeans(x, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(a.labels, b.labels)
    assert len({tuple(np.unique(a.labels[i * 40 : (i + 1) * 40])) for i in range(3)}) == 3
    restarts = kmeans(x, 3, np.random.default_rng(1), n_init=3)
    assert restarts.algorithm == "kmeans" and len(np.unique(restarts.labels)) == 3
    assert kmeans(x[:2], 5, np.random.default_rng(0)).algorithm == "identity"


@pytest.mark.parametrize("name", ["typiclust", "probcover", "coreset"])
def test_selectors_only_build_bounded_distance_blocks(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory linear in N: every distance block stays within ``chunk_elements``, same picks."""
    blobs = three_blobs(n_per_blob=60)  # 180 points, clusters of 60
    chunk = 7 * blobs.n  # 7 rows of all points: far below N x N, and 7 does not divide 180
    blocks: list[int] = []
    real = distances.squared_distances

    def recording(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None = None) -> torch.Tensor:
        out = real(a, b, b_sq)
        blocks.append(out.numel())
        return out

    def pick(params: dict[str, Any]) -> np.ndarray:
        ctx = context(blobs.n, 3, blob_inputs(blobs), labeled=[0, 61], seed=0)
        return SELECTORS.create(name, params)(ctx, 3).indices

    real_np = distances.squared_distances_np

    def recording_np(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray | None = None) -> np.ndarray:
        out = real_np(a, b, b_sq)
        blocks.append(out.size)
        return out

    real_product = graph.block_product

    def recording_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = real_product(a, b)
        blocks.append(out.size)
        return out

    for module in (distances, purity):  # every module that computes distance blocks
        monkeypatch.setattr(module, "squared_distances", recording)
    monkeypatch.setattr(graph, "block_product", recording_product)  # the CPU radius graph's own blocks
    monkeypatch.setattr(distances, "squared_distances_np", recording_np)  # small sets, in numpy
    chunked = pick({"chunk_elements": chunk})
    assert blocks and max(blocks) <= chunk < blobs.n**2
    np.testing.assert_array_equal(chunked, pick({}))
