"""The selector contract, checked for every registered selector on a tiny 3-blob dataset."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from selector_inputs import blob_classifier, blob_inputs, context, three_blobs

from alpool.core.errors import ConfigError
from alpool.selectors import SELECTORS, Selection, SelectionContext
from alpool.selectors.base import NEED_CLASSIFIER

PARAMS: dict[str, dict[str, Any]] = {  # the options a selector needs on the toy data
    "ranked": {"score": "vae-loss"},
    "vaal": {"epochs": 1, "batch_size": 16, "width": 8, "latent_dim": 4},
}
# Selectors whose picks depend on the seed even on well-separated blobs.
SEED_DEPENDENT = {"random", "random-covering", "cluster-quota", "class-balanced", "coreset"}
BUDGET = 6
LABELED = [0, 1, 31, 62]
EXCLUDED = [5, 40]  # e.g. validation images: neither labeled nor candidates
BLOBS = three_blobs()


def run(
    name: str, seed: int = 0, labeled: Any = (), budget: int = BUDGET
) -> tuple[Selection, SelectionContext]:
    """Run a registered selector on the blobs and return its selection and context."""
    selector = SELECTORS.create(name, PARAMS.get(name, {}))
    classifier = blob_classifier(BLOBS) if NEED_CLASSIFIER in selector.needs else None
    ctx = context(
        BLOBS.n,
        BLOBS.num_classes,
        blob_inputs(BLOBS),
        labeled=labeled,
        seed=seed,
        exclude=EXCLUDED,
        classifier=classifier,
    )
    return selector(ctx, budget), ctx


def test_every_selector_is_covered() -> None:
    assert {
        "random",
        "random-covering",
        "ranked",
        "cluster-quota",
        "cluster-round-robin",
        "typiclust",
        "probcover",
        "coreset",
        "kmeans-centers",
        "class-balanced",
    } <= set(SELECTORS.names())


# Every selector with and without a labeled set; a query that needs a classifier always has one.
CASES = [pytest.param(name, labeled, id=f"{name}-{'with-labeled' if labeled else 'cold'}")
         for name in SELECTORS.names() for labeled in ([], LABELED)
         if labeled or NEED_CLASSIFIER not in SELECTORS.get(name).needs]


@pytest.mark.parametrize(("name", "labeled"), CASES)
def test_contract(name: str, labeled: list[int]) -> None:
    selection, ctx = run(name, labeled=labeled)
    idx = selection.indices
    assert idx.dtype == np.int64 and idx.shape == (BUDGET,)
    assert len(np.unique(idx)) == BUDGET
    assert np.isin(idx, ctx.candidates).all()
    assert not np.isin(idx, labeled).any() and not np.isin(idx, EXCLUDED).any()
    assert selection.candidate_scores.shape == (len(ctx.candidates),)
    assert np.issubdtype(selection.candidate_scores.dtype, np.floating)
    json.dumps(selection.info)  # recorded in the pool manifest


@pytest.mark.parametrize("name", SELECTORS.names())
def test_same_seed_same_indices(name: str) -> None:
    first, _ = run(name, seed=3, labeled=LABELED)
    again, _ = run(name, seed=3, labeled=LABELED)
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.candidate_scores, again.candidate_scores)


@pytest.mark.parametrize("name", sorted(SEED_DEPENDENT))
def test_different_seeds_differ(name: str) -> None:
    picks = {tuple(sorted(run(name, seed=s)[0].indices)) for s in range(5)}
    assert len(picks) > 1


@pytest.mark.parametrize("name", SELECTORS.names())
@pytest.mark.parametrize("budget", [0, BLOBS.n - len(EXCLUDED) - len(LABELED) + 1])
def test_bad_budget_is_a_config_error(name: str, budget: int) -> None:
    with pytest.raises(ConfigError, match="budget"):
        run(name, labeled=LABELED, budget=budget)


@pytest.mark.parametrize(
    "name",
    [
        "typiclust",
        "probcover",
        "coreset",
        "kmeans-centers",
        "cluster-round-robin",
        "cluster-quota",
        "random",
    ],
)
def test_whole_candidate_set(name: str) -> None:
    n_candidates = BLOBS.n - len(EXCLUDED) - len(LABELED)
    selection, ctx = run(name, labeled=LABELED, budget=n_candidates)
    assert set(selection.indices) == set(ctx.candidates)


def test_oracles_are_marked() -> None:
    oracles = {name for name in SELECTORS.names() if SELECTORS.get(name).oracle}
    assert {"random-covering", "class-balanced"} <= oracles
    assert not oracles & {"random", "typiclust", "probcover", "coreset", "ranked"}


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="delt"):
        SELECTORS.create("probcover", {"delt": 0.5})
    with pytest.raises(ConfigError, match="score"):
        SELECTORS.create("ranked", {})


def test_missing_inputs_name_the_step() -> None:
    selector = SELECTORS.create("typiclust", {"embeddings": "vae"})
    ctx = context(BLOBS.n, 3, blob_inputs(BLOBS))
    with pytest.raises(Exception, match="vae"):
        selector(ctx, 3)


def restricted_inputs(rows: np.ndarray) -> Any:
    """Return the toy inputs of only ``rows`` (re-indexed 0..len(rows)-1)."""
    inputs = blob_inputs(BLOBS)
    inputs.embeddings_by_task = {k: v[rows] for k, v in inputs.embeddings_by_task.items()}
    inputs.scores_by_scorer = {k: v[rows] for k, v in inputs.scores_by_scorer.items()}
    inputs.clusters_by_source = {k: v[rows] for k, v in inputs.clusters_by_source.items()}
    inputs.true_labels = BLOBS.labels[rows]
    assert inputs.train_images is not None
    inputs.train_images = inputs.train_images[torch.from_numpy(rows)]
    return inputs


@pytest.mark.parametrize("name", [n for n in SELECTORS.names() if NEED_CLASSIFIER not in SELECTORS.get(n).needs])
def test_picks_are_dataset_indices(name: str) -> None:
    """Candidates scattered over the train split give the picks of the same points stored alone."""
    rows = np.arange(1, BLOBS.n, 2)  # the odd dataset indices: a position is never its index
    selector = SELECTORS.create(name, PARAMS.get(name, {}))
    ctx = context(BLOBS.n, 3, blob_inputs(BLOBS), exclude=np.arange(0, BLOBS.n, 2), seed=4)
    alone = context(len(rows), 3, restricted_inputs(rows), seed=4)
    np.testing.assert_array_equal(selector(ctx, BUDGET).indices, rows[selector(alone, BUDGET).indices])
