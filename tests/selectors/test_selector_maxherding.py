"""MaxHerding: the sparse greedy against a dense brute force, and coverage where ProbCover's radius fails."""

from __future__ import annotations

import numpy as np
from selector_inputs import ArrayInputs, context

from alpool.ops.distances import l2_normalize
from alpool.ops.herding import dense_coverage, dense_greedy, dense_kernel, greedy_herding, sparse_kernel
from alpool.selectors import SELECTORS
from alpool.selectors.maxherding import MaxHerdingParams, sampled_candidates


def test_sparse_greedy_with_every_neighbour_is_the_dense_brute_force() -> None:
    x = l2_normalize(np.random.default_rng(3).normal(size=(120, 6)).astype(np.float32))
    labeled = np.array([110, 115])
    kernel = sparse_kernel(x, 119, sigma=0.5)  # every neighbour kept: the sparse objective is the dense one
    picks, gains, _ = greedy_herding(kernel, 100, labeled, 15)
    dense_picks, dense_gains = dense_greedy(dense_kernel(x, 0.5), 100, labeled, 15)
    assert picks.tolist() == dense_picks.tolist()
    np.testing.assert_allclose(gains, dense_gains, rtol=1e-5)
    # the greedy's objective equals the dense coverage computed from scratch, pick by pick
    base = dense_coverage(x, labeled, 0.5)
    np.testing.assert_allclose(base + np.cumsum(gains) / len(x),
                               [dense_coverage(x, np.concatenate([labeled, picks[:i + 1]]), 0.5)
                                for i in range(15)], rtol=1e-5)


def test_truncated_kernel_keeps_most_of_the_dense_objective() -> None:
    x = l2_normalize(np.random.default_rng(4).normal(size=(400, 8)).astype(np.float32))
    kernel = sparse_kernel(x, 40, sigma=None)
    picks, _, _ = greedy_herding(kernel, 400, np.empty(0, np.int64), 10)
    dense_picks, _ = dense_greedy(dense_kernel(x, kernel.sigma), 400, np.empty(0, np.int64), 10)
    kept = dense_coverage(x, picks, kernel.sigma) / dense_coverage(x, dense_picks, kernel.sigma)
    assert 0.9 < kept <= 1.0 + 1e-9


def five_clusters_of_ten_classes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Five separated Gaussian clusters of 400 points in 8-D (two classes share each, as shirts and
    pullovers do): k-means with the 10 classes' pseudo-labels cuts every cluster through its middle."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), 400)
    x = 2.0 * np.eye(8, dtype=np.float32)[labels] + 0.3 * rng.normal(size=(len(labels), 8)).astype(np.float32)
    return x, labels


def test_maxherding_covers_every_cluster_where_probcover_radius_covers_little() -> None:
    for seed in (0, 2):
        x, clusters = five_clusters_of_ten_classes(seed)
        inputs = ArrayInputs(embeddings_by_task={"simclr": x})
        probcover = SELECTORS.create("probcover", {})(context(len(x), 10, inputs), 5)
        assert probcover.info["coverage"] < 0.05  # the purity radius (10 pseudo-classes) is tiny
        assert len(np.unique(clusters[probcover.indices])) < 5
        herding = SELECTORS.create("maxherding", {})(context(len(x), 10, inputs), 5)
        assert len(np.unique(clusters[herding.indices])) == 5
        assert herding.info["coverage"] > herding.info["coverage_before"] == 0.0


def test_labeled_points_count_as_covered_and_unsampled_picks_ignore_the_seed() -> None:
    x, clusters = five_clusters_of_ten_classes(seed=1)
    inputs = ArrayInputs(embeddings_by_task={"simclr": x})
    done = np.flatnonzero(clusters < 2)[::50]  # clusters 0 and 1 labeled
    for params in ({}, {"subsample": False}):
        more = SELECTORS.create("maxherding", params)(context(len(x), 10, inputs, labeled=done, seed=9), 3).indices
        assert set(clusters[more]) == {2, 3, 4}
    first = SELECTORS.create("maxherding", {"subsample": False})(context(len(x), 10, inputs), 3)
    again = SELECTORS.create("maxherding", {"subsample": False})(context(len(x), 10, inputs, seed=5), 3)
    assert first.indices.tolist() == again.indices.tolist() and first.info["sampled"] is False


def test_few_picks_on_many_points_sample_the_share_each_pick_covers() -> None:
    params = MaxHerdingParams()  # 300 neighbours at most
    rng = np.random.default_rng(0)
    assert sampled_candidates(params, 3000, 10, 0, rng) is None  # share 300: every point
    sample = sampled_candidates(params, 60000, 10, 0, rng)
    assert sample is not None and len(sample) == 3000 and len(np.unique(sample)) == 3000
    assert len(sampled_candidates(params, 60000, 10, 40, rng)) == 300 * 50 - 40  # labeled points stay
    assert sampled_candidates(params.model_copy(update={"subsample": False}), 60000, 10, 0, rng) is None
    x, _ = five_clusters_of_ten_classes(seed=1)  # 2,000 points, B + L = 4: share 500 > 300 neighbours
    inputs = ArrayInputs(embeddings_by_task={"simclr": x})
    done = np.array([0, 400])
    picked = [SELECTORS.create("maxherding", {})(context(len(x), 10, inputs, labeled=done, seed=s), 2)
              for s in (0, 1)]
    assert picked[0].info["sampled"] and picked[0].info["points"] == 300 * 4
    assert picked[0].indices.tolist() != picked[1].indices.tolist()  # the sample follows the seed
    scores = picked[0].candidate_scores  # one per candidate: NaN for those left out of the sample
    assert scores.shape == (1998,) and np.isfinite(scores).sum() == 300 * 4 - 2
    assert not set(picked[0].indices) & set(done.tolist())


def test_sampling_keeps_small_clusters_a_truncated_kernel_leaves_out() -> None:
    # one cluster of 3,000 points and four of 500, five picks: on every point the 150 kept neighbours
    # span 3 % of the data where a pick has to cover 20 %, and the greedy piles picks into the big cluster
    covered: dict[bool, list[int]] = {False: [], True: []}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        clusters = np.repeat(np.arange(5), [3000, 500, 500, 500, 500])
        x = 2.0 * np.eye(8, dtype=np.float32)[clusters] + 0.3 * rng.normal(size=(len(clusters), 8)).astype(np.float32)
        inputs = ArrayInputs(embeddings_by_task={"simclr": x})
        for sample in covered:
            params = {"subsample": sample, "max_neighbours": 150}
            picks = SELECTORS.create("maxherding", params)(context(len(x), 10, inputs, seed=seed), 5)
            covered[sample].append(len(np.unique(clusters[picks.indices])))
    assert max(covered[False]) < 5 and np.mean(covered[True]) > np.mean(covered[False]) + 1.5
