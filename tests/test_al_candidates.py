"""``al-run --candidates C``: every query scores a seeded random subset of C unlabeled images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alpool.al.trial import candidate_subset
from alpool.core.config import ALRunConfig, InitPoolConfig, TrainConfig
from alpool.core.errors import ConfigError
from alpool.data import load_dataset
from alpool.rundir.context import dataset_record, open_run
from alpool.rundir.run_dir import RunDir
from alpool.selectors.base import Selector
from alpool.stages import al_run, init_pool

REAL_CALL = Selector.__call__
TRAIN = TrainConfig(epochs=1, batch_size=32, lr=0.05, min_steps=5, crop_padding=0, flip=False)


def test_candidate_subset_is_a_seeded_sorted_subset() -> None:
    unlabeled = np.arange(5, 505, dtype=np.int64)
    first = candidate_subset(unlabeled, 40, np.random.default_rng(3))
    again = candidate_subset(unlabeled, 40, np.random.default_rng(3))
    other = candidate_subset(unlabeled, 40, np.random.default_rng(4))
    assert first.dtype == np.int64 and len(np.unique(first)) == 40 and np.isin(first, unlabeled).all()
    assert (np.diff(first) > 0).all()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(candidate_subset(unlabeled, None, np.random.default_rng(3)), unlabeled)
    np.testing.assert_array_equal(candidate_subset(unlabeled, 500, np.random.default_rng(3)), unlabeled)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run (no pretext step needed) with one random pool of 20."""
    root = tmp_path_factory.mktemp("cand") / "run"
    RunDir.create(root, dataset_record("digits", load_dataset("digits"), None), seed=0)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, name="rand"), root)
    return root


def recorded_candidates(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Make every query of ``run_trial`` record the candidates it was given (around the real ``Selector.__call__``)."""
    seen: list[np.ndarray] = []

    def recording(self: Selector, ctx: Any, budget: int) -> Any:
        seen.append(np.array(ctx.candidates))
        return REAL_CALL(self, ctx, budget)

    monkeypatch.setattr(Selector, "__call__", recording)
    return seen


def run(run_dir: Path, name: str, candidates: int | None) -> pd.DataFrame:
    config = ALRunConfig(pools=["rand"], queries=["entropy"], episodes=2, step_budget=10, trials=1,
                         candidates=candidates, train=TRAIN, name=name)
    manifest = al_run.run(config, run_dir)
    assert manifest.summary["candidates"] == candidates
    return pd.read_csv(run_dir / "al" / name / "results.csv")


def test_queries_pick_inside_the_seeded_candidate_subset(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = recorded_candidates(monkeypatch)
    table = run(run_dir, "sub", 50)
    folder = run_dir / "al" / "sub" / "rand--entropy" / "trial-0"
    pool = open_run(run_dir).pool
    assert [len(s) for s in seen] == [50, 50]
    for episode, candidates in enumerate(seen):
        labeled = np.load(folder / f"episode-{episode}" / "labeled.npy")
        queried = np.load(folder / f"episode-{episode}" / "queried.npy")
        assert np.isin(candidates, pool).all() and not np.isin(candidates, labeled).any()
        assert len(queried) == 10 and np.isin(queried, candidates).all()
    assert table["n_candidates"].tolist() == [50, 50, 0]

    again = recorded_candidates(monkeypatch)
    run(run_dir, "sub-again", 50)
    for a, b in zip(seen, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_no_candidates_option_gives_every_unlabeled_image(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = recorded_candidates(monkeypatch)
    table = run(run_dir, "all", None)
    pool = open_run(run_dir).pool
    labeled = np.load(run_dir / "pools" / "rand" / "indices.npy")
    np.testing.assert_array_equal(seen[0], np.setdiff1d(pool, labeled))
    assert table["n_candidates"].tolist() == [len(pool) - 20, len(pool) - 30, 0]


def test_fewer_candidates_than_the_step_budget_are_refused(run_dir: Path) -> None:
    config = ALRunConfig(pools=["rand"], queries=["entropy"], episodes=1, step_budget=10, candidates=5, train=TRAIN)
    with pytest.raises(ConfigError, match="--candidates 5 is smaller than --step-budget 10"):
        al_run.run(config, run_dir)
    assert not (run_dir / "al" / "entropy").exists()
