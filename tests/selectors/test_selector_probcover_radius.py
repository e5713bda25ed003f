"""ProbCover's radius: exact purity, one-pass graph, coverage report and warning, graph cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from selector_inputs import ArrayInputs, context

from alpool.core import reporting
from alpool.ops import purity
from alpool.ops.kmeans import kmeans
from alpool.ops.purity import purity_graph
from alpool.selectors import SELECTORS


def unit_points(n: int = 240, d: int = 6, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_other_label(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    diff = x.astype(np.float64)[:, None] - x.astype(np.float64)[None]
    d = np.sqrt((diff**2).sum(-1))
    d[labels[:, None] == labels[None]] = np.inf
    return d.min(1)


@pytest.mark.parametrize("target", [0.6, 0.9, 0.95])
def test_chosen_radius_meets_the_target_purity_exactly(target: float) -> None:
    x = unit_points()
    labels = kmeans(x, 5, np.random.default_rng(0)).labels
    result = purity_graph(x, labels, target, max_edges=10**6)
    d = brute_other_label(x, labels)  # float64 brute force
    assert (d >= result.delta).mean() >= target  # the purity is reached ...
    assert result.achieved == (d >= result.delta).mean()  # ... and reported exactly
    larger = d[d > result.delta]
    assert len(larger) == 0 or (d >= larger.min()).mean() < target  # and delta is the largest
    assert result.delta in set(d.tolist())  # an exact float64 distance, not a float32 one
    diff = x.astype(np.float64)[:, None] - x.astype(np.float64)[None]
    inside = np.sqrt((diff**2).sum(-1)) < result.delta
    np.fill_diagonal(inside, True)
    for i in range(len(x)):
        assert set(result.graph.neighbours(i).tolist()) == set(np.flatnonzero(inside[i]).tolist())


def test_second_pass_builds_the_same_graph_when_the_bound_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    x = unit_points(150)
    labels = kmeans(x, 4, np.random.default_rng(0)).labels
    one = purity_graph(x, labels, 0.9, max_edges=10**6)
    monkeypatch.setattr(purity, "upper_bound", lambda *args: 1e-3)  # an estimate that is too low
    two = purity_graph(x, labels, 0.9, max_edges=10**6)
    assert (one.passes, two.passes) == (1, 2) and one.delta == two.delta
    np.testing.assert_array_equal(one.graph.indptr, two.graph.indptr)
    assert all(set(one.graph.neighbours(i)) == set(two.graph.neighbours(i)) for i in range(len(x)))


class CachedInputs(ArrayInputs):
    """Test inputs with a cache folder, like a run directory's."""

    folder: Path | None = None

    def cache_dir(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / name


def inputs_on(x: np.ndarray, folder: Path | None) -> CachedInputs:
    inputs = CachedInputs(embeddings_by_task={"simclr": x}, scores_by_scorer={}, clusters_by_source={},
                          true_labels=np.zeros(len(x), dtype=np.int64), train_images=None)
    inputs.folder = folder
    return inputs


def test_second_pool_reuses_the_cached_radius_and_graph(tmp_path: Path) -> None:
    x = unit_points(200)
    infos, picks = [], []
    for seed in (0, 1):
        ctx = context(len(x), 4, inputs_on(x, tmp_path), seed=seed)
        selection = SELECTORS.create("probcover", {})(ctx, 5)
        infos.append(selection.info)
        picks.append(selection.indices.tolist())
    assert (infos[0]["radius_cache"], infos[0]["graph_cache"]) == ("miss", "miss")
    assert (infos[1]["radius_cache"], infos[1]["graph_cache"]) == ("hit", "hit")
    assert infos[0]["delta"] == infos[1]["delta"] and picks[0][:3] == picks[1][:3]
    assert len(list((tmp_path / "probcover").glob("*.npz"))) == 1
    other = context(len(x), 4, inputs_on(x * np.float32(-1), tmp_path), seed=0)  # other embeddings
    assert SELECTORS.create("probcover", {})(other, 5).info["radius_cache"] == "miss"


def test_pseudo_classes_default_without_labels() -> None:
    x = unit_points(200)
    ctx = context(len(x), 0, inputs_on(x, None), seed=0)  # a dataset without classes
    info = SELECTORS.create("probcover", {})(ctx, 5).info
    assert (info["pseudo_classes"], info["pseudo_classes_from"]) == (10, "default")
    assert info["radius_cache"] == "off"


def test_low_coverage_is_reported_and_warned() -> None:
    messages: list[str] = []

    class Recorder(reporting.Reporter):
        def info(self, message: str) -> None:
            messages.append(message)

        def warning(self, message: str) -> None:
            messages.append(f"warning: {message}")

    x = unit_points(200)
    previous = reporting.set_reporter(Recorder())
    try:
        small = SELECTORS.create("probcover", {"delta": 0.05})(context(len(x), 4, inputs_on(x, None)), 5)
        large = SELECTORS.create("probcover", {"delta": 1.5})(context(len(x), 4, inputs_on(x, None)), 5)
    finally:
        reporting.set_reporter(previous)
    assert small.info["low_coverage"] and small.info["coverage"] < 0.25
    assert not large.info["low_coverage"] and large.info["coverage"] == 1.0
    warnings = [m for m in messages if m.startswith("warning")]
    assert len(messages) == 3 and "covers 100.0% of the points with 5 picks" in messages[2]
    assert len(warnings) == 1 and "covers only" in warnings[0] and "delta=0.05" in warnings[0]
