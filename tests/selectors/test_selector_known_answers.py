"""Known answers of the initial-pool selectors on hand-made geometries."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from selector_inputs import ArrayInputs, Blobs, blob_classifier, blob_inputs, context, three_blobs

from alpool.core.errors import ConfigError
from alpool.ops.distances import l2_normalize
from alpool.selectors import SELECTORS, Selection


def select(
    name: str,
    blobs: Blobs,
    budget: int,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    labeled: Any = (),
    inputs: ArrayInputs | None = None,
    **kw: Any,
) -> Selection:
    """Run ``name`` on ``blobs`` with the default toy inputs."""
    ctx = context(
        blobs.n, blobs.num_classes, inputs or blob_inputs(blobs), labeled=labeled, seed=seed, **kw
    )
    return SELECTORS.create(name, params)(ctx, budget)


def uneven_blobs(sizes: tuple[int, ...], spread: float = 0.03, seed: int = 0) -> Blobs:
    """Return well-separated blobs of the given sizes around orthogonal unit directions."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
    x = np.eye(8, dtype=np.float32)[labels] + spread * rng.normal(size=(len(labels), 8)).astype(
        np.float32
    )
    return Blobs(x.astype(np.float32), labels, len(sizes))


# --- coreset ---


def with_outlier() -> Blobs:
    blobs = three_blobs()
    outlier = np.full((1, blobs.x.shape[1]), -3.0, dtype=np.float32)
    return Blobs(np.concatenate([blobs.x, outlier]), np.append(blobs.labels, 0), 3)


def test_kcenter_picks_the_far_outlier() -> None:
    blobs = with_outlier()
    picks = select("coreset", blobs, 1, labeled=[0, 30, 60]).indices
    assert picks.tolist() == [blobs.n - 1]


def test_kcenter_cold_start_covers_blobs_and_outlier() -> None:
    blobs = with_outlier()
    for seed in range(3):
        picks = select("coreset", blobs, 4, seed=seed).indices
        assert blobs.n - 1 in picks
        assert set(blobs.labels[picks[picks != blobs.n - 1]]) == {0, 1, 2}


def test_kcenter_uses_classifier_features_when_present() -> None:
    blobs = with_outlier()
    clf = blob_classifier(blobs)
    clf.feats = -clf.feats  # same geometry, different numbers: the outlier still stands out
    inputs = blob_inputs(blobs)
    inputs.embeddings_by_task = {}  # no pretrain embeddings: only the classifier can be used
    selection = select("coreset", blobs, 1, labeled=[0, 30, 60], inputs=inputs, classifier=clf)
    assert (
        selection.indices.tolist() == [blobs.n - 1] and selection.info["features"] == "classifier"
    )
    with pytest.raises(ConfigError, match="classifier"):
        select("coreset", blobs, 1, {"features": "classifier"}, labeled=[0])


# --- typiclust ---


def brute_typicality(x: np.ndarray, k: int, squared: bool = False) -> np.ndarray:
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = np.sort(d, axis=1)[:, :k]
    return 1.0 / (nearest**2 if squared else nearest).mean(1)


def test_typiclust_picks_each_blob_centre() -> None:
    blobs = three_blobs()
    picks = select("typiclust", blobs, 3).indices
    assert sorted(blobs.labels[picks]) == [0, 1, 2]
    x = l2_normalize(blobs.x)
    for pick in picks:
        members = np.flatnonzero(blobs.labels == blobs.labels[pick])
        assert pick == members[np.argmax(brute_typicality(x[members], 15))]


def test_typiclust_prefers_clusters_without_labels() -> None:
    blobs = three_blobs()
    picks = select("typiclust", blobs, 2, labeled=[0]).indices
    assert sorted(blobs.labels[picks]) == [1, 2]


def test_typicality_is_euclidean_not_squared() -> None:
    angles = 0.5 * np.array([0.0, 0.1, 0.2, 0.3, 1.0, 1.05, 1.1, 2.0])
    x = np.stack([np.sin(angles), np.cos(angles)], 1).astype(
        np.float32
    )  # one cluster on the circle
    k = len(x) // 2
    euclid, squared = brute_typicality(x, k).argmax(), brute_typicality(x, k, squared=True).argmax()
    assert euclid != squared  # the case tells the two apart
    blobs = Blobs(x, np.zeros(len(x), dtype=np.int64), 1)
    selection = select("typiclust", blobs, 1)
    assert selection.indices.tolist() == [euclid]
    np.testing.assert_allclose(selection.candidate_scores, brute_typicality(x, k), rtol=1e-4)


def test_typiclust_tiny_data_falls_back() -> None:
    blobs = uneven_blobs((3, 3))  # no cluster has more than 5 points
    selection = select("typiclust", blobs, 2)
    assert selection.info["fallback_picks"] == 2 and len(set(selection.indices)) == 2


# --- probcover ---


def test_probcover_covers_each_blob_before_repeating() -> None:
    blobs = uneven_blobs((40, 30, 20))
    selection = select("probcover", blobs, 3, {"delta": 0.5})
    assert blobs.labels[selection.indices].tolist() == [0, 1, 2]  # largest uncovered blob first
    assert selection.info["coverage"] == 1.0
    more = select("probcover", blobs, 5, {"delta": 0.5})
    assert more.info["random_picks"] == 2


def test_probcover_removes_what_labeled_points_cover() -> None:
    blobs = uneven_blobs((40, 30, 20))
    selection = select("probcover", blobs, 2, {"delta": 0.5}, labeled=[3])
    assert blobs.labels[selection.indices].tolist() == [1, 2]
    assert selection.info["covered_by_labeled"] == pytest.approx(40 / 90)


def test_probcover_purity_rule_separates_blobs() -> None:
    blobs = uneven_blobs((40, 30, 20), spread=0.05)
    selection = select("probcover", blobs, 3)
    delta = selection.info["delta"]
    x = l2_normalize(blobs.x)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    impure_with = (d < delta) & (blobs.labels[:, None] != blobs.labels[None])

    def purity(radius: float) -> float:
        return float(
            (~((d < radius) & (blobs.labels[:, None] != blobs.labels[None])).any(1)).mean()
        )

    assert (~impure_with.any(1)).mean() >= 0.95 and purity(
        delta * 1.02
    ) < 0.95  # the largest such delta
    assert delta > max(d[np.ix_(blobs.labels == c, blobs.labels == c)].max() for c in range(3))
    assert sorted(blobs.labels[selection.indices]) == [0, 1, 2]


@pytest.mark.parametrize("chunk_rows", [7, 13, 89])
def test_probcover_chunks_include_the_last_partial_block(chunk_rows: int) -> None:
    blobs = uneven_blobs((40, 30, 20))  # 90 points: no chunk size here divides it
    params = {"delta": 0.5, "chunk_elements": chunk_rows * blobs.n}
    chunked = select("probcover", blobs, 3, params)
    whole = select("probcover", blobs, 3, {"delta": 0.5})
    np.testing.assert_array_equal(chunked.indices, whole.indices)
    np.testing.assert_array_equal(chunked.candidate_scores, whole.candidate_scores)
    assert chunked.info["n_edges"] == 40**2 + 30**2 + 20**2


def test_probcover_refuses_a_huge_graph_and_suggests_a_radius_that_works() -> None:
    with pytest.raises(ConfigError, match="max_mean_degree") as refused:
        select("probcover", three_blobs(), 3, {"delta": 3.0, "max_mean_degree": 10})
    suggested = float(re.search(r"--param delta=([0-9.e-]+)", str(refused.value)).group(1))  # type: ignore[union-attr]
    works = select("probcover", three_blobs(), 3, {"delta": suggested, "max_mean_degree": 10})
    assert works.info["n_edges"] <= 10 * 90


# --- cluster-quota, round-robin, k-means centres ---


def quota_inputs(blobs: Blobs, clusters: np.ndarray) -> ArrayInputs:
    inputs = blob_inputs(blobs)
    inputs.clusters_by_source = {"scan": clusters}
    return inputs


def test_cluster_quota_spreads_the_remainder_at_random() -> None:
    blobs = three_blobs()
    counts = set()
    for seed in range(6):
        picks = select("cluster-quota", blobs, 7, seed=seed).indices
        per_cluster = np.bincount(blobs.labels[picks], minlength=3)
        assert sorted(per_cluster) == [2, 2, 3]
        counts.add(tuple(per_cluster))
    assert len(counts) > 1  # the extra one goes to a seeded random cluster


def test_cluster_quota_redistributes_small_cluster_shortfall() -> None:
    blobs = uneven_blobs((40, 40, 2))
    selection = select("cluster-quota", blobs, 12)
    assert np.bincount(blobs.labels[selection.indices]).tolist() == [5, 5, 2]


def test_cluster_quota_drop_is_the_original_quota() -> None:
    blobs = three_blobs()
    picks = select("cluster-quota", blobs, 6, {"remainder": "drop"}).indices
    assert np.bincount(blobs.labels[picks]).tolist() == [2, 2, 2]
    with pytest.raises(ConfigError, match="--budget 6"):
        select("cluster-quota", blobs, 7, {"remainder": "drop"})


def test_cluster_quota_on_kmeans_clusters() -> None:
    blobs = three_blobs()
    inputs = quota_inputs(blobs, np.zeros(blobs.n, dtype=np.int64))  # scan ids would be useless
    picks = select("cluster-quota", blobs, 6, {"clusters": "kmeans"}, inputs=inputs).indices
    assert np.bincount(blobs.labels[picks]).tolist() == [2, 2, 2]


def test_round_robin_takes_each_clusters_best_score_in_turn() -> None:
    blobs = three_blobs()
    inputs = blob_inputs(blobs)
    score = inputs.scores_by_scorer["contrast-confidence"]
    selection = select("cluster-round-robin", blobs, 6, {"k": 3}, inputs=inputs)
    picks = selection.indices
    assert sorted(blobs.labels[picks[:3]]) == [0, 1, 2] and sorted(blobs.labels[picks[3:]]) == [
        0,
        1,
        2,
    ]
    for c in range(3):
        members = np.flatnonzero(blobs.labels == c)
        best_two = members[np.argsort(-score[members])[:2]]
        assert set(picks[blobs.labels[picks] == c]) == set(best_two)


def test_round_robin_umap_without_umap_learn_says_how_to_install() -> None:
    pytest.importorskip("numpy")
    try:
        import umap  # noqa: F401

        pytest.skip("umap-learn is installed")
    except ModuleNotFoundError:
        pass
    with pytest.raises(ConfigError, match="pip install umap-learn"):
        select("cluster-round-robin", three_blobs(), 3, {"projection": "umap"})


def test_kmeans_centers_picks_the_member_nearest_each_centroid() -> None:
    blobs = three_blobs()
    picks = select("kmeans-centers", blobs, 3).indices
    x = l2_normalize(blobs.x)
    assert sorted(blobs.labels[picks]) == [0, 1, 2]
    for pick in picks:
        members = np.flatnonzero(blobs.labels == blobs.labels[pick])
        centre = x[members].mean(0)
        assert pick == members[np.argmin(np.linalg.norm(x[members] - centre, axis=1))]


# --- ranked, random-covering, class-balanced ---


def test_ranked_takes_the_top_and_ascending_the_bottom() -> None:
    blobs = three_blobs()
    score = blob_inputs(blobs).scores_by_scorer["vae-loss"]
    top = select("ranked", blobs, 5, {"score": "vae-loss"}).indices
    bottom = select("ranked", blobs, 5, {"score": "vae-loss", "ascending": True}).indices
    assert top.tolist() == np.argsort(-score)[:5].tolist()
    assert bottom.tolist() == np.argsort(score)[:5].tolist()


def test_random_covering_covers_every_class() -> None:
    blobs = uneven_blobs((80, 8, 2))
    for seed in range(5):
        picks = select("random-covering", blobs, 3, seed=seed).indices
        assert sorted(blobs.labels[picks]) == [0, 1, 2]
    forced = select("random-covering", blobs, 3, {"max_tries": 1}, seed=1)
    assert sorted(blobs.labels[forced.indices]) == [0, 1, 2]
    with pytest.raises(ConfigError, match="cannot cover"):
        select("random-covering", blobs, 2)


def test_class_balanced_gives_equal_class_counts() -> None:
    blobs = uneven_blobs((60, 20, 10))
    for inner, params in [("random", {}), ("typiclust", {}), ("ranked", {"score": "vae-loss"})]:
        sel = select("class-balanced", blobs, 9, {"inner": inner, "inner_params": params})
        assert np.bincount(blobs.labels[sel.indices]).tolist() == [3, 3, 3]
    uneven = select(
        "class-balanced", blobs, 10, {"inner": "probcover", "inner_params": '{"delta": 0.5}'}
    )
    assert sorted(np.bincount(blobs.labels[uneven.indices])) == [3, 3, 4]


def test_class_balanced_ranked_is_the_class_filtered_order() -> None:
    blobs = uneven_blobs((60, 20, 10))
    score = blob_inputs(blobs).scores_by_scorer["vae-loss"]
    sel = select(
        "class-balanced", blobs, 6, {"inner": "ranked", "inner_params": {"score": "vae-loss"}}
    )
    for c in range(3):
        members = np.flatnonzero(blobs.labels == c)
        assert set(sel.indices[blobs.labels[sel.indices] == c]) == set(
            members[np.argsort(-score[members])[:2]]
        )


def test_class_balanced_needs_what_its_inner_needs() -> None:
    selector = SELECTORS.create("class-balanced", {"inner": "least-confidence"})
    assert {"labels", "classifier"} <= selector.needs
    with pytest.raises(ConfigError, match="inner_params"):
        SELECTORS.create("class-balanced", {"inner_params": "{not json"})
