"""The ops layer picks what the previous implementation picked (recorded before the rewrite)."""

from __future__ import annotations

import numpy as np
import pytest
from selector_inputs import ArrayInputs, blob_inputs, context, three_blobs

from alpool.selectors import SELECTORS

PREVIOUS_BLOBS = [  # three_blobs(n_per_blob=40, seed=3), budget 6, seed 7
    ("coreset", {}, [0, 41], [113, 1, 42, 103, 13, 58]),
    ("coreset", {}, [], [113, 70, 0, 58, 1, 72]),
    ("probcover", {"delta": 0.3}, [5], [40, 80, 113, 74, 82, 107]),
    # typiclust [47, 80, 107, 78, 19, 28] and kmeans-centers [80, 46, 19, 6, 63, 94] split the 3
    # blobs into 6-7 k-means clusters: which split comes out depends on the seeding, which changed
    # (greedy k-means++, random centres above 64 clusters), so only their blob coverage is compared.
]
PREVIOUS_GAUSSIAN = [  # normal(500 x 16), seed 11, budget 20, seed 5
    ("coreset", {}, [0, 1, 2, 3, 4], [63, 325, 136, 459, 167, 89, 113, 166, 457, 84, 273, 155, 178,
                                      343, 373, 487, 414, 334, 37, 18]),
    ("probcover", {"delta": 0.9}, [0, 1, 2, 3, 4], [283, 490, 169, 295, 367, 67, 104, 138, 164, 445,
                                                    19, 49, 60, 172, 215, 223, 285, 382, 411, 9]),
    ("probcover", {"delta": 0.9}, [], [283, 490, 169, 295, 367, 391, 435, 43, 104, 138, 164, 445,
                                       16, 32, 49, 60, 67, 172, 215, 223]),
]


@pytest.mark.parametrize("name,params,labeled,expected", PREVIOUS_BLOBS)
def test_same_picks_as_before_on_blobs(name: str, params: dict, labeled: list, expected: list) -> None:
    blobs = three_blobs(n_per_blob=40, seed=3)
    ctx = context(blobs.n, 3, blob_inputs(blobs), labeled=labeled, seed=7)
    assert SELECTORS.create(name, params)(ctx, 6).indices.tolist() == expected


@pytest.mark.parametrize("name,params,labeled,expected", PREVIOUS_GAUSSIAN)
def test_same_picks_as_before_on_gaussian(name: str, params: dict, labeled: list, expected: list) -> None:
    x = np.random.default_rng(11).normal(size=(500, 16)).astype(np.float32)
    inputs = ArrayInputs(embeddings_by_task={"simclr": x}, scores_by_scorer={}, clusters_by_source={},
                         true_labels=np.zeros(500, dtype=np.int64), train_images=None)
    ctx = context(500, 3, inputs, labeled=labeled, seed=5)
    assert SELECTORS.create(name, params)(ctx, 20).indices.tolist() == expected



@pytest.mark.parametrize("name", ["typiclust", "kmeans-centers"])
def test_kmeans_selectors_still_take_one_point_per_blob(name: str) -> None:
    blobs = three_blobs(n_per_blob=40, seed=3)
    for seed in range(3):
        ctx = context(blobs.n, 3, blob_inputs(blobs), seed=seed)
        picks = SELECTORS.create(name, {})(ctx, 3).indices
        assert sorted(blobs.labels[picks].tolist()) == [0, 1, 2]  # as before: one per blob
