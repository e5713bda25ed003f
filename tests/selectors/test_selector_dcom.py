"""DCoM: density first at low coverage, margin uncertainty as coverage grows; ProbCover without a model."""

from __future__ import annotations

import numpy as np
from selector_inputs import ArrayClassifier, ArrayInputs, blob_inputs, context, three_blobs

from alpool.selectors import SELECTORS, Selection
from alpool.selectors.dcom import competence

DIM = 8


def scene(covered_group: int, sparse: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return unit points and class probabilities.

    Position 0 is the labeled point (e0) with ``covered_group`` points tightly around it; then a
    confident dense cluster of 3 (near e1), one uncertain point (near e2), and ``sparse`` isolated
    confident points in random directions.
    """
    rng = np.random.default_rng(seed)
    eye = np.eye(DIM, dtype=np.float32)
    near = lambda c, k: eye[c] + 0.003 * rng.normal(size=(k, DIM)).astype(np.float32)  # noqa: E731
    sparse_points = rng.normal(size=(sparse, DIM)).astype(np.float32)
    x = np.concatenate([eye[[0]], near(0, covered_group), near(1, 3), near(2, 1), sparse_points])
    proba = np.tile([0.99, 0.01], (len(x), 1))
    uncertain = 1 + covered_group + 3
    proba[uncertain] = [0.5, 0.5]
    return x / np.linalg.norm(x, axis=1, keepdims=True), proba


def dcom_pick(x: np.ndarray, proba: np.ndarray) -> tuple[int, dict]:
    inputs = ArrayInputs(embeddings_by_task={"simclr": x}, scores_by_scorer={}, clusters_by_source={},
                         true_labels=np.zeros(len(x), dtype=np.int64), train_images=None)
    ctx = context(len(x), 2, inputs, labeled=[0], classifier=ArrayClassifier(proba, x))
    selection = SELECTORS.create("dcom", {"max_delta": 0.1})(ctx, 1)
    return int(selection.indices[0]), selection.info


def test_low_coverage_picks_density() -> None:
    x, proba = scene(covered_group=2, sparse=30)
    pick, info = dcom_pick(x, proba)
    assert info["coverage_before"] < 0.2 and info["mode"] == "query"
    assert pick in {3, 4, 5}  # the dense cluster, not the uncertain point 6


def test_high_coverage_picks_margin() -> None:
    x, proba = scene(covered_group=200, sparse=0)
    pick, info = dcom_pick(x, proba)
    assert info["coverage_before"] > 0.95
    assert pick == 1 + 200 + 3  # the uncertain point beats the dense cluster


def test_competence_is_one_at_full_coverage_and_small_when_low() -> None:
    assert competence(1.0, 50, 0.8) == 1.0
    assert competence(0.1, 50, 0.8) < 1e-10 and 0.4 < competence(0.8, 50, 0.8) < 0.6


def test_initial_pool_is_probcover_with_initial_delta() -> None:
    blobs = three_blobs(n_per_blob=30)
    for labeled in ([], [0, 31]):
        picks = {}
        for name, params in (("dcom", {"initial_delta": 0.3}), ("probcover", {"delta": 0.3})):
            ctx = context(blobs.n, 3, blob_inputs(blobs), labeled=labeled, seed=4)
            picks[name] = SELECTORS.create(name, params)(ctx, 6).indices.tolist()
        assert picks["dcom"] == picks["probcover"]


def two_groups(seed: int = 0) -> np.ndarray:
    """Two tight groups of 40 unit points (around e0 and e1)."""
    rng = np.random.default_rng(seed)
    eye = np.eye(DIM, dtype=np.float32)
    x = np.concatenate([eye[[0] * 40], eye[[1] * 40]]) + 0.05 * rng.normal(size=(80, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def query(x: np.ndarray, proba: np.ndarray, labeled: list[int], labeled_labels: list[int] | None,
          state: dict | None = None, **params: object) -> Selection:
    inputs = ArrayInputs(embeddings_by_task={"simclr": x})
    ctx = context(len(x), 2, inputs, labeled=labeled, classifier=ArrayClassifier(proba, x))
    ctx.labeled_labels = None if labeled_labels is None else np.asarray(labeled_labels)
    ctx.state = state
    return SELECTORS.create("dcom", {"initial_delta": 0.3, **params})(ctx, 2)


def test_a_mispredicted_centre_keeps_a_small_radius() -> None:
    """Point 0 is annotated 0, but the model predicts 1 for it and its whole group: its ball is impure."""
    x = two_groups()
    proba = np.tile([0.1, 0.9], (80, 1))
    proba[40:] = [0.9, 0.1]  # the other group is predicted 0, far away
    annotated = query(x, proba, [0], [0])
    assert annotated.info["centre_label"] == "annotated"
    assert annotated.state is not None and annotated.state["radii"][0] < 0.05  # the reference: ~0.02
    predicted = query(x, proba, [0], None)  # alpool's old rule: the centre's predicted label
    assert predicted.info["centre_label"] == "predicted" and predicted.state is not None
    assert predicted.state["radii"][0] > 0.5  # the whole pure-looking group: radius ~1.07


def test_older_radii_are_kept_across_two_rounds() -> None:
    x = two_groups(1)
    proba = np.tile([0.9, 0.1], (80, 1))
    proba[40:] = [0.1, 0.9]
    first = query(x, proba, [0], [0])
    assert first.state is not None and first.info["radii_updated"] == 1
    old = float(first.state["radii"][0])
    flipped = proba[:, ::-1].copy()  # the next model predicts the other class everywhere
    second = query(x, flipped, [0, 41], [0, 1], state=first.state)
    assert second.state is not None
    radii = dict(zip(second.state["indices"].tolist(), second.state["radii"].tolist(), strict=True))
    assert radii[0] == old and second.info["radii_kept"] == 1 and second.info["radii_updated"] == 1
    assert radii[41] < 0.05  # the newest point is measured against the new (wrong) model
    everything = query(x, flipped, [0, 41], [0, 1], state=first.state, radius_update="all")
    assert everything.state is not None and everything.state["radii"][list(everything.state["indices"]).index(0)] < old


def test_competence_is_computed_once_per_query_unless_asked_per_pick() -> None:
    x, proba = scene(covered_group=60, sparse=40)
    once = dcom_pick(x, proba)[1]
    assert once["competence"] == competence(once["coverage_before"], 50, 0.8)
    inputs = ArrayInputs(embeddings_by_task={"simclr": x})
    ctx = context(len(x), 2, inputs, labeled=[0], classifier=ArrayClassifier(proba, x))
    per_pick = SELECTORS.create("dcom", {"max_delta": 0.1, "competence_per_pick": True})(ctx, 5).info
    assert per_pick["competence"] == competence(per_pick["coverage"], 50, 0.8)


def test_default_initial_delta_comes_from_the_data() -> None:
    """The reference's constant 0.75 gives a graph of every point on some embeddings; the default fits."""
    for scale in (0.05, 1.0):  # a tight and a spread embedding
        blobs = three_blobs(n_per_blob=200, spread=scale)
        ctx = context(blobs.n, 3, blob_inputs(blobs))
        info = SELECTORS.create("dcom", {})(ctx, 6).info
        assert info["initial_delta_rule"].startswith("mean degree")
        assert info["n_edges"] / blobs.n < 2 * blobs.n / 6  # about one pick's share per ball
