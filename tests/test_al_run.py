"""The AL loop: episode bookkeeping, resume after kill -9, parallel workers, warm start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from alpool.core.config import ALRunConfig, InitPoolConfig, PretrainConfig, TrainConfig
from alpool.core.errors import StaleInputError
from alpool.stages import al_run, init_pool, pretrain

TRAIN = TrainConfig(epochs=2, batch_size=32, lr=0.05, min_steps=40, crop_padding=0, flip=False)
TIMING = ["seconds", "seconds_train", "seconds_query"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run with a VAE (for the run) and two random pools of 20."""
    root = tmp_path_factory.mktemp("al") / "run"
    pretrain.run(PretrainConfig(task="vae", dataset="digits", params={"epochs": 1, "latent_dim": 4}), root)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, count=2, name="rand"), root)
    return root


def config(**changes) -> ALRunConfig:  # type: ignore[no-untyped-def]
    base = dict(pools=["rand-000"], queries=["entropy"], episodes=2, step_budget=10, trials=2, train=TRAIN)
    return ALRunConfig(**{**base, **changes})


def results(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / "al" / name / "results.csv").drop(columns=TIMING)


def test_labeled_sets_grow_by_the_step_budget_without_overlap(run_dir: Path) -> None:
    al_run.run(config(name="growth"), run_dir)
    folder = run_dir / "al" / "growth" / "rand-000--entropy" / "trial-0"
    pool = np.load(run_dir / "pools" / "rand-000" / "indices.npy")
    previous = None
    for episode in range(3):
        labeled = np.load(folder / f"episode-{episode}" / "labeled.npy")
        queried = np.load(folder / f"episode-{episode}" / "queried.npy")
        assert len(np.unique(labeled)) == len(labeled) == 20 + 10 * episode
        assert not np.intersect1d(labeled, queried).size
        assert len(queried) == (10 if episode < 2 else 0)
        if previous is not None:
            np.testing.assert_array_equal(labeled, np.concatenate(previous))
        else:
            np.testing.assert_array_equal(labeled, pool)
        previous = (labeled, queried)
    table = results(run_dir, "growth")
    assert len(table) == 2 * 3 and table["n_labeled"].tolist() == [20, 30, 40] * 2
    assert (table["test_accuracy"] > 0.1).all()


def test_workers_give_the_same_results_as_sequential(run_dir: Path) -> None:
    # Float sums depend on how many threads split them: run the sequential pass with the thread
    # count each of the two workers gets, as bitwise reproducibility needs.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        al_run.run(config(name="seq", queries=["random"], episodes=1), run_dir)
    finally:
        torch.set_num_threads(threads)
    al_run.run(config(name="par", queries=["random"], episodes=1, workers=2), run_dir)
    seq, par = results(run_dir, "seq"), results(run_dir, "par")
    pd.testing.assert_frame_equal(seq.drop(columns="experiment"), par.drop(columns="experiment"))
    said = [json.loads((run_dir / "al" / name / "manifest.json").read_text())["warnings"] for name in ("seq", "par")]
    assert said[0] == said[1]  # what the trials said in the workers is recorded as in-process


def test_resume_with_other_settings_is_refused(run_dir: Path) -> None:
    folder = run_dir / "al" / "changed"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"episodes": 9}')
    with pytest.raises(StaleInputError, match="episodes"):
        al_run.run(config(name="changed"), run_dir)


def test_resume_rule_force_starts_over_with_the_new_settings(run_dir: Path) -> None:
    """The one resume rule (as for pretrain): other settings are refused; --force clears the folder."""
    stale = run_dir / "al" / "redo" / "rand-000--random" / "trial-0" / "episode-0"
    stale.mkdir(parents=True)
    (stale / "metrics.json").write_text('{"test_accuracy": 2.0}')  # made with the old settings
    (run_dir / "al" / "redo" / "config.json").write_text('{"episodes": 9}')
    small = config(name="redo", queries=["random"], episodes=1, trials=1)
    with pytest.raises(StaleInputError, match=r"episodes=9, now 1; .*--force"):
        al_run.run(small, run_dir)
    assert (stale / "metrics.json").read_text() == '{"test_accuracy": 2.0}'  # refused: nothing touched
    al_run.run(small.model_copy(update={"force": True}), run_dir)
    table = results(run_dir, "redo")
    assert len(table) == 2 and (table["test_accuracy"] <= 1).all()


def test_pool_name_with_double_dash(run_dir: Path) -> None:
    """A pool named ``a--b`` gets its own arm folder, found again by the analysis without parsing names."""
    from alpool.analysis.loading import find_episode_dirs, load_results
    from alpool.rundir.run_dir import RunDir

    init_pool.run(InitPoolConfig(strategy="random", budget=20, name="rand--entropy", seed=3), run_dir)
    al_run.run(config(name="dashes", pools=["rand--entropy", "rand-000"], queries=["random"], episodes=1,
                      trials=1), run_dir)
    assert (run_dir / "al" / "dashes" / "rand--entropy--random" / "trial-0" / "episode-1" / "metrics.json").exists()
    step = RunDir(run_dir).step("al", "dashes")
    for metrics in step.path.glob("*/trial-*/episode-*/metrics.json"):  # rows of an older alpool: no pool, query
        row = json.loads(metrics.read_text())
        metrics.write_text(json.dumps({k: v for k, v in row.items() if k not in ("pool", "query")}))
    table = load_results([[step]], ["run"])
    episodes = find_episode_dirs(step, "run", table)
    assert sorted((e.pool, e.query, e.trial, e.episode) for e in episodes) == [
        ("rand--entropy", "random", 0, 0), ("rand--entropy", "random", 0, 1),
        ("rand-000", "random", 0, 0), ("rand-000", "random", 0, 1)]
    assert all(e.path.parents[1].name == f"{e.pool}--{e.query}" for e in episodes)


@pytest.mark.slow
def test_warm_start_keeps_weights(run_dir: Path) -> None:
    al_run.run(config(name="warm", warm_start=True, trials=1), run_dir)
    assert (run_dir / "al" / "warm" / "rand-000--entropy" / "trial-0" / "episode-0" / "model.pt").exists()


def test_resume_after_kill_gives_identical_results(run_dir: Path, tmp_path: Path) -> None:
    """Kill -9 a CLI al-run after its first finished episode, rerun it, compare with an uninterrupted run."""
    args = ["--run-dir", str(run_dir), "--pool", "rand-001", "--query", "margin", "--episodes", "3",
            "--step-budget", "10", "--trials", "1", "--epochs", "3", "-q"]
    command = [sys.executable, "-m", "alpool", "al-run", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*command, "--name", "killed"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    first = run_dir / "al" / "killed" / "rand-001--margin" / "trial-0" / "episode-0" / "metrics.json"
    deadline = time.time() + 240
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), proc.stderr.read().decode() if proc.stderr else ""
    assert not (run_dir / "al" / "killed" / "manifest.json").exists()
    for name in ("killed", "clean"):
        done = subprocess.run([*command, "--name", name], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    killed, clean = results(run_dir, "killed"), results(run_dir, "clean")
    pd.testing.assert_frame_equal(killed.drop(columns="experiment"), clean.drop(columns="experiment"))
