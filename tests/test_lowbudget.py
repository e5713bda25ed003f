"""Low-budget studies: learnable augmentation defaults, --validation in results, pool globs,
ranked --count, results of a killed run, the bench pools of ``analyze --corr``, the test-split cache."""

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

from alpool.core.config import (
    ALRunConfig,
    AnalyzeConfig,
    InitPoolConfig,
    PretrainConfig,
    RankConfig,
    TrainConfig,
    augmentation_defaults,
)
from alpool.core.errors import AlpoolWarning, ConfigError, MissingStepError
from alpool.stages import al_run, analyze, init_pool, pretrain, rank

FAST = TrainConfig(epochs=1, batch_size=32, lr=0.05, min_steps=10)  # augmentation: the dataset's defaults


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run: a tiny VAE, vae-loss scores, 3 bench pools and 2 baseline random pools of 20."""
    root = tmp_path_factory.mktemp("lowbudget") / "run"
    pretrain.run(PretrainConfig(task="vae", dataset="digits", params={"epochs": 1, "latent_dim": 4}), root)
    rank.run(RankConfig(scorer="vae-loss"), root)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, count=3, name="bench20"), root)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, count=2, name="base20", seed=100), root)
    init_pool.run(InitPoolConfig(strategy="typiclust", budget=20, params={"embeddings": "vae"}), root)
    return root


def test_augmentation_defaults_follow_the_dataset() -> None:
    assert augmentation_defaults("digits", (1, 8, 8)) == (0, False)  # 8x8: no crop padding, no flip
    assert augmentation_defaults("fashion-mnist", (1, 28, 28)) == (4, False)  # MNIST-like: no flip
    assert augmentation_defaults("cifar10", (3, 32, 32)) == (4, True)  # CIFAR-like: crop 4 + flip
    assert augmentation_defaults("svhn", (3, 32, 32)) == (4, False)  # colour digits
    assert TrainConfig(crop_padding=2).augmentation((1, 8, 8)) == (2, False)  # a set value wins


def test_default_cnn_learns_digits_and_the_manifest_records_the_augmentation(run_dir: Path) -> None:
    """Issue 10's defect: default al-run settings on digits (crop 4 + flip) gave 0.15-0.24."""
    init_pool.run(InitPoolConfig(strategy="random", budget=100), run_dir)
    config = ALRunConfig(pools=["random-100"], episodes=0, trials=1, name="defaults")  # CLI defaults
    manifest = al_run.run(config, run_dir)
    assert manifest.config["train"]["crop_padding"] == 0 and manifest.config["train"]["flip"] is False
    assert manifest.summary["augmentation"] == {"crop_padding": 0, "flip": False}
    assert manifest.summary["final_accuracy"]["random-100|random"] > 0.8


def test_chance_level_prints_one_warning_with_the_cause(run_dir: Path) -> None:
    train = TrainConfig(epochs=1, batch_size=32, lr=1e-7, crop_padding=4, flip=True)  # learns nothing
    with pytest.warns(AlpoolWarning) as said:
        manifest = al_run.run(ALRunConfig(pools=["bench20-000"], episodes=0, trials=1, train=train, name="chance"),
                              run_dir)
    lines = [str(w.message) for w in said if str(w.message).startswith("final accuracy")]
    assert len(lines) == 1 and "near chance level" in lines[0] and "crop_padding=0" in lines[0]
    assert manifest.warnings == lines  # recorded in the step's manifest too


def test_pool_globs_expand_to_the_matching_pools(run_dir: Path) -> None:
    manifest = al_run.run(ALRunConfig(pools=["bench20-*"], episodes=0, trials=1, train=FAST, name="glob",
                                      validation="none"), run_dir)
    assert manifest.config["pools"] == ["bench20-000", "bench20-001", "bench20-002"]  # recorded expanded
    results = pd.read_csv(run_dir / "al" / "glob" / "results.csv")
    assert sorted(results["pool"].unique()) == ["bench20-000", "bench20-001", "bench20-002"]
    assert (results["validation"] == "none").all() and results["val_accuracy"].isna().all()
    assert manifest.summary["validation"] == "none"
    with pytest.raises(MissingStepError, match="'nothing-\\*' matches no finished pool"):
        al_run.run(ALRunConfig(pools=["nothing-*"], episodes=0, train=FAST, name="noglob"), run_dir)
    assert not (run_dir / "al" / "noglob").exists()


def test_ranked_count_refuses_identical_pools(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="--count 3 would make 3 identical pools"):
        init_pool.run(InitPoolConfig(strategy="ranked", budget=20, count=3, params={"score": "vae-loss"}), run_dir)
    assert not list((run_dir / "pools").glob("ranked-*"))


def test_kfold_is_refused_where_a_framework_lacks_it(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="labeled-kfold is not available for --framework semi-supervised"):
        al_run.run(ALRunConfig(pools=["bench20-000"], episodes=0, train=FAST, framework="semi-supervised",
                               validation="labeled-kfold", name="ssl-kfold"), run_dir)


def test_corr_takes_only_the_bench_pools_it_is_told(run_dir: Path) -> None:
    al_run.run(ALRunConfig(pools=["bench20-*", "base20-*", "typiclust-20"], episodes=0, trials=1, train=FAST,
                           name="bench"), run_dir)
    analyze.run(AnalyzeConfig(curves=False, corr=True, experiments=["bench"], name="all-random"), run_dir)
    default = pd.read_csv(run_dir / "analysis" / "all-random" / "correlation.csv")
    assert set(default["n_pools"]) == {5}  # the default rule folds the baseline into the bench
    analyze.run(AnalyzeConfig(curves=False, corr=True, experiments=["bench"], bench=["bench20-*"], name="told"),
                run_dir)
    told = pd.read_csv(run_dir / "analysis" / "told" / "correlation.csv")
    assert set(told["n_pools"]) == {3}
    with pytest.raises(ConfigError, match="--bench 'nosuch-\\*' matches no finished pool"):
        analyze.run(AnalyzeConfig(curves=False, corr=True, bench=["nosuch-*"], name="bad"), run_dir)


def test_a_killed_run_leaves_the_results_of_its_finished_trials(run_dir: Path) -> None:
    args = ["--run-dir", str(run_dir), "--pool", "bench20-000", "--episodes", "0", "--trials", "6",
            "--epochs", "3", "--name", "killed", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "alpool", "al-run", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    partial = run_dir / "al" / "killed" / al_run.PARTIAL_RESULTS
    deadline = time.time() + 300
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists(), proc.stderr.read().decode() if proc.stderr else ""
    rows = pd.read_csv(partial)
    finished = {int(p.parent.parent.name.split("-")[1])
                for p in (run_dir / "al" / "killed").glob("*/trial-*/episode-0/metrics.json")}
    assert 1 <= len(rows) < 6 and set(rows["trial"]) <= finished
    done = subprocess.run([sys.executable, "-m", "alpool", "al-run", *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not partial.exists() and len(pd.read_csv(run_dir / "al" / "killed" / "results.csv")) == 6


def test_linear_probe_embeds_the_test_split_once_per_embedding_step(run_dir: Path) -> None:
    config = dict(pools=["bench20-000"], episodes=0, trials=3, framework="linear-probe",
                  framework_params={"embeddings": "vae"}, validation="none")
    al_run.run(ALRunConfig(**config, name="probe-a"), run_dir)  # type: ignore[arg-type]
    sha = json.loads((run_dir / "pretrain" / "vae" / "manifest.json").read_text())["outputs"]["model.pt"]
    cached = run_dir / "cache" / "split-embeddings" / f"{sha}-cpu" / "test.npy"
    assert cached.exists()
    before = cached.stat().st_mtime_ns
    manifest = al_run.run(ALRunConfig(**config, name="probe-b"), run_dir)  # type: ignore[arg-type]
    assert cached.stat().st_mtime_ns == before  # reused, not rewritten
    assert "pretrain/vae/model.pt" in manifest.inputs  # a cache hit still records the encoder
    a = pd.read_csv(run_dir / "al" / "probe-a" / "results.csv")["test_accuracy"]
    b = pd.read_csv(run_dir / "al" / "probe-b" / "results.csv")["test_accuracy"]
    np.testing.assert_allclose(a, b)


README_CHAIN = """
alpool pretrain --task vae digits          # defaults to the run directory runs/digits
alpool rank --scorer vae-loss              # later commands reuse the previous run directory
alpool init-pool --strategy ranked --score vae-loss --budget 20
alpool init-pool --strategy random --budget 20
alpool al-run --query entropy --query random --episodes 5 --step-budget 40 --trials 3
"""


@pytest.mark.slow
@pytest.mark.timeout(7200)  # the default VAE (100 epochs) and 72 CNN trainings: ~30-60 min on a busy CPU
def test_readme_step_by_step_chain_learns_digits(tmp_path: Path) -> None:
    """The README's chain, verbatim (minus its comments), in a fresh folder: > 0.8 at the last episode."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    commands = [line.split("#")[0].split() for line in README_CHAIN.strip().splitlines()]
    for command in commands:
        assert " ".join(command) in " ".join(readme.split()), f"README no longer has: {' '.join(command)}"
        done = subprocess.run([sys.executable, "-m", "alpool", *command[1:], "-q"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=3600,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "runs" / "digits" / "al" / "entropy+random" / "results.csv")
    last = results[results["episode"] == 5]
    assert (last.groupby(["pool", "query"])["test_accuracy"].mean() > 0.8).all(), last


def test_scatter_legend_names_each_strategy_once() -> None:
    import matplotlib.pyplot as plt

    from alpool.analysis.corr_plots import plot_score_scatter

    rows = [{"role": "random", "missing_class": False, "init_strategy": "random", "f": i, "test_accuracy": 0.1 * i}
            for i in range(4)]
    rows += [{"role": "strategy", "missing_class": i == 0, "init_strategy": "typiclust", "f": i, "test_accuracy": 0.5}
             for i in range(5)]
    rows += [{"role": "strategy", "missing_class": False, "init_strategy": "probcover", "f": 1, "test_accuracy": 0.4}]
    fig, ax = plt.subplots()
    plot_score_scatter(ax, pd.DataFrame(rows), "f", "test_accuracy")
    labels = [t.get_text() for t in ax.get_legend().get_texts() if t.get_text().startswith("strategy:")]
    plt.close(fig)
    assert labels == ["strategy: probcover", "strategy: typiclust (5 pools)"]


def test_labeled_kfold_through_al_run_records_its_choice(run_dir: Path) -> None:
    manifest = al_run.run(ALRunConfig(pools=["bench20-000"], episodes=1, step_budget=10, trials=1, train=FAST,
                                      validation="labeled-kfold", folds=3, name="kfold"), run_dir)
    results = pd.read_csv(run_dir / "al" / "kfold" / "results.csv")
    assert (results["validation"] == "labeled-kfold").all() and results["val_accuracy"].between(0, 1).all()
    assert manifest.summary["validation"] == "labeled-kfold"
    for episode, n in ((0, 20), (1, 30)):
        path = run_dir / "al" / "kfold" / "bench20-000--random" / "trial-0" / f"episode-{episode}" / "metrics.json"
        info = json.loads(path.read_text())["train_info"]
        assert info["kfold_folds"] == 3 and sum(info["kfold_held_out"]) == n  # folds of the labeled set only
