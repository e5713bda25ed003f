"""``alpool.select``: the one-call entry on an embedding matrix."""

from __future__ import annotations

import numpy as np
import pytest

import alpool
from alpool.core.errors import AlpoolError, ConfigError


def embeddings(n: int = 240, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = 3 * rng.normal(size=(4, 6))
    return (centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 6))).astype(np.float32)


@pytest.mark.parametrize("strategy,params", [
    ("typiclust", {}), ("probcover", {}), ("dcom", {}), ("maxherding", {}), ("coreset", {}), ("kmeans-centers", {}),
    ("random", {}), ("cluster-quota", {"clusters": "kmeans", "k": 4}),
    ("cluster-round-robin", {"score": "none"}), ("typiclust", {"rule": "reference"}),
])
def test_every_classifier_free_selector_runs(strategy: str, params: dict) -> None:
    x = embeddings()
    picked = alpool.select(x, 12, strategy=strategy, labeled=[0, 5], seed=1, device="cpu", **params)
    again = alpool.select(x, 12, strategy=strategy, labeled=[0, 5], seed=1, device="cpu", **params)
    assert picked.indices.dtype == np.int64 and len(set(picked.indices.tolist())) == 12
    assert not set(picked.indices.tolist()) & {0, 5}
    assert picked.scores.shape == (len(x),) and np.isnan(picked.scores[[0, 5]]).all()
    np.testing.assert_array_equal(picked.indices, again.indices)


def test_default_strategy_is_typiclust() -> None:
    assert alpool.select(embeddings(), 5).info["rule"] == "alpool"


def test_refusals_name_the_fix() -> None:
    x = embeddings()
    with pytest.raises(ConfigError, match="classifier"):
        alpool.select(x, 5, strategy="margin")
    with pytest.raises(AlpoolError, match="typicalty"):
        alpool.select(x, 5, strategy="typicalty")
    with pytest.raises(ConfigError, match="larger than"):
        alpool.select(x, 500)
    with pytest.raises(AlpoolError, match="scores"):
        alpool.select(x, 5, strategy="ranked", score="vae-loss")
    with pytest.raises(ConfigError, match="outside"):
        alpool.select(x, 5, labeled=[1000])
