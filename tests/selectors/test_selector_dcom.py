"""DCoM: density first at low coverage, margin uncertainty as coverage grows; ProbCover without a model."""

from __future__ import annotations

import numpy as np
from selector_inputs import ArrayClassifier, ArrayInputs, blob_inputs, context, three_blobs

from alpool.selectors import SELECTORS
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
