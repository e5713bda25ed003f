"""TypiClust's reference-code rule: clusters sorted once, typicality over the unlabelled points."""

from __future__ import annotations

import numpy as np
from selector_inputs import ArrayInputs, context

from alpool.selectors import SELECTORS


def blobs(sizes: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return (np.eye(8)[labels] + 0.05 * rng.normal(size=(len(labels), 8))).astype(np.float32)


def pick(x: np.ndarray, rule: str, labeled: list[int], budget: int) -> np.ndarray:
    inputs = ArrayInputs(embeddings_by_task={"simclr": x}, scores_by_scorer={}, clusters_by_source={},
                         true_labels=np.zeros(len(x), dtype=np.int64), train_images=None)
    ctx = context(len(x), 3, inputs, labeled=labeled, seed=0)
    params = {"rule": rule, "max_clusters": 3, "min_cluster_size": 2}
    return SELECTORS.create("typiclust", params)(ctx, budget).indices


def blob_of(indices: np.ndarray) -> list[int]:
    return [0 if i < 40 else 1 if i < 70 else 2 for i in indices]


def test_reference_rule_sorts_clusters_once() -> None:
    x = blobs((40, 30, 20))
    labeled = [0, 1]  # two labels in the largest blob
    # reference: order fixed at the start (fewest labeled, then larger): blob 1, blob 2, blob 0.
    assert blob_of(pick(x, "reference", labeled, 6)) == [1, 2, 0, 1, 2, 0]
    # alpool: recounted after each pick, so blob 0 (2 labeled) waits until the others have 2.
    assert blob_of(pick(x, "alpool", labeled, 6)) == [1, 2, 1, 2, 0, 1]


def test_reference_rule_recomputes_typicality_over_unlabelled_points() -> None:
    x = blobs((40, 30, 20))
    picks = pick(x, "reference", [], 6)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)  # the selector works on unit vectors
    for step in (3, 4, 5):  # second visit of each blob: the most typical of what is left
        members = {0: range(40), 1: range(40, 70), 2: range(70, 90)}[blob_of(picks[step:step + 1])[0]]
        left = np.setdiff1d(list(members), picks[:step])
        d = np.linalg.norm(x[left, None].astype(np.float64) - x[None, left], axis=2)
        np.fill_diagonal(d, np.inf)
        k = min(20, len(left) // 2)
        assert picks[step] == left[np.argmin(np.sort(d, 1)[:, :k].mean(1))]
