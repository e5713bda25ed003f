"""Failure paths through the CLI (issue 10 items 3-8): bad input writes nothing, one line, exit 2;
reruns are idempotent; the index lock waits; corrupt episodes are redone; plain progress in logs.

Each bad-input test compares the sha256 of every file and the list of every folder of the run
directory (hidden lock files included) before and after the command.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from alpool.cli import app
from alpool.core import reporting
from alpool.rundir.run_dir import RunDir

runner = CliRunner()
FAST_AL = ["--episodes", "1", "--step-budget", "10", "--trials", "1", "--epochs", "2"]
CHAIN = [
    ["pretrain", "--task", "vae", "digits", "--param", "epochs=2", "--param", "latent_dim=8"],
    ["rank", "--scorer", "vae-loss"],
    ["init-pool", "--strategy", "random", "--budget", "20"],
    ["init-pool", "--strategy", "ranked", "--score", "vae-loss", "--budget", "20"],
    ["al-run", "--query", "random", *FAST_AL],
    ["analyze", "--curves"],
]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def tree_state(root: Path) -> dict[str, str]:
    """Return ``{relative path: sha256}`` of every file and ``"dir"`` of every folder below ``root``."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def one_line_error(result, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return str(lines[0])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the chain once on digits with tiny settings; return the run directory."""
    cwd = tmp_path_factory.mktemp("failure")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        for step in CHAIN:
            result = invoke(*step, "-q")
            assert result.exit_code == 0, (step, result.output)
    return cwd / "runs" / "digits"


@pytest.fixture
def run(chain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the chain's run directory (tests may break it); cwd is a fresh folder."""
    target = tmp_path / "run"
    shutil.copytree(chain, target)
    monkeypatch.chdir(tmp_path)
    return target


# -- item 3: a failed analyze keeps the finished report ---------------------------------------


@pytest.mark.parametrize("args, needles", [
    (["--scatter", "--embeddings", "nosuch"], ["pretrain/nosuch", "alpool pretrain --task nosuch"]),
    (["--also", "nowhere"], ["nowhere is not an alpool run directory"]),
])
def test_a_failed_analyze_keeps_the_finished_report(run: Path, args: list[str], needles: list[str]) -> None:
    assert len(list((run / "analysis" / "report").iterdir())) >= 8
    before = tree_state(run)
    one_line_error(invoke("analyze", *args, "--run-dir", str(run), "-q"), *needles)
    assert tree_state(run) == before  # report files and run.json as they were


def test_analyze_of_a_damaged_experiment_is_one_line_and_keeps_the_report(run: Path) -> None:
    metrics = next((run / "al" / "random").glob("*/trial-0/episode-0/metrics.json"))
    metrics.write_text("{ torn")
    before = tree_state(run)
    one_line_error(invoke("analyze", "--hist", "--run-dir", str(run), "-q"), str(metrics), "not valid JSON", "--force")
    assert tree_state(run) == before
    results = run / "al" / "random" / "results.csv"
    results.write_text(results.read_text().replace("random", "edited"))
    before = tree_state(run)
    one_line_error(invoke("analyze", "--run-dir", str(run), "-q"), str(results), "manifest records", "--force")
    assert tree_state(run) == before


# -- item 4: every check before anything is written -------------------------------------------


def test_unknown_arch_leaves_no_experiment_folder(run: Path) -> None:
    before = tree_state(run)
    one_line_error(invoke("al-run", "--query", "entropy", "--arch", "nosuch", "--run-dir", str(run), "-q"),
                   "unknown model 'nosuch'", "small-cnn")
    assert tree_state(run) == before and not (run / "al" / "entropy").exists()
    result = invoke("al-run", "--query", "entropy", *FAST_AL, "--run-dir", str(run), "-q")
    assert result.exit_code == 0, result.output  # the corrected command is not refused


def test_truncated_pool_indices_are_refused_before_any_write(run: Path) -> None:
    indices = run / "pools" / "random-20" / "indices.npy"
    indices.write_bytes(indices.read_bytes()[:100])
    before = tree_state(run)
    one_line_error(invoke("al-run", "--query", "entropy", "--run-dir", str(run), "-q"),
                   str(indices), "manifest records", "--force")
    assert tree_state(run) == before


def test_scorer_without_its_pretrain_step_leaves_no_folder(run: Path) -> None:
    before = tree_state(run)
    one_line_error(invoke("rank", "--scorer", "simclr-loss", "--run-dir", str(run), "-q"),
                   "pretrain/simclr", "alpool pretrain --task simclr")
    assert tree_state(run) == before and not (run / "scores" / "simclr-loss").exists()


def test_pool_without_its_scores_leaves_no_folder_and_no_lock(run: Path) -> None:
    before = tree_state(run)
    one_line_error(invoke("init-pool", "--strategy", "ranked", "--score", "simclr-loss", "--budget", "5",
                          "--run-dir", str(run), "-q"), "scores/simclr-loss", "alpool rank --scorer simclr-loss")
    assert tree_state(run) == before


def test_pretrain_without_its_upstream_step_writes_nothing(run: Path) -> None:
    before = tree_state(run.parent)
    for target in (run, run.parent / "new"):
        one_line_error(invoke("pretrain", "--task", "scan", "digits", "-r", str(target), "-q"),
                       "pretrain/simclr", "alpool pretrain --task simclr")
    assert tree_state(run.parent) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pretrain_on_a_missing_gpu_creates_no_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke("pretrain", "--task", "vae", "digits", "--device", "cuda", "-r", "new", "-q"),
                   "--device cuda", "--device cpu")
    assert tree_state(tmp_path) == {}


# -- item 5: tracebacks become one line ---------------------------------------------------------


def test_run_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    before = tree_state(tmp_path)
    for target in ("file", "file/sub"):
        one_line_error(invoke("pretrain", "--task", "vae", "digits", "-r", target, "-q"),
                       f"run directory {target}", "is a file, not a folder", "another --run-dir")
    assert tree_state(tmp_path) == before


def test_read_only_run_directory(run: Path) -> None:
    lock = run / "pools" / ".ro.lock"
    if os.geteuid() == 0:  # root writes anywhere: make the lock file impossible to open instead
        lock.mkdir()
        folders = []
    else:
        folders = [p for p in [run, *run.rglob("*")] if p.is_dir()]
        for folder in folders:
            folder.chmod(0o555)
    try:
        before = tree_state(run)
        one_line_error(invoke("init-pool", "--strategy", "random", "--budget", "5", "--name", "ro",
                              "--run-dir", str(run), "-q"),
                       f"cannot create the lock file {lock}", "writable", "--run-dir")
        assert tree_state(run) == before
    finally:
        for folder in folders:
            folder.chmod(0o755)


def test_corrupt_unfinished_episode_is_redone(run: Path) -> None:
    experiment = run / "al" / "random"
    finished = pd.read_csv(experiment / "results.csv")
    arrays = {k: v for k, v in tree_state(experiment).items() if k.endswith(".npy")}
    (experiment / "manifest.json").unlink()  # killed before the end: unfinished
    metrics = next(experiment.glob("*/trial-0/episode-0/metrics.json"))
    metrics.write_text('{"test_accuracy": 0.3')  # torn
    result = invoke("al-run", "--query", "random", *FAST_AL, "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert str(metrics.parent) in result.output and "redoing this episode" in result.output
    again = pd.read_csv(experiment / "results.csv")
    pd.testing.assert_frame_equal(finished.drop(columns=["seconds", "seconds_train", "seconds_query"]),
                                  again.drop(columns=["seconds", "seconds_train", "seconds_query"]))
    assert {k: v for k, v in tree_state(experiment).items() if k.endswith(".npy")} == arrays
    json.loads(metrics.read_text())  # rewritten whole


# -- item 6: the run-index lock waits; finished steps are always indexed ------------------------


HOLD = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(float(sys.argv[2]))")


def _holder(lock: Path, seconds: float) -> subprocess.Popen:
    """Start another process that holds ``lock`` for ``seconds`` (a small script: starts fast)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def indexed(run: Path) -> set[tuple[str, str]]:
    return {(s["kind"], s["name"]) for s in json.loads((run / "run.json").read_text())["steps"]}


def test_index_update_waits_for_the_run_lock(run: Path) -> None:
    proc = _holder(run / ".run.lock", seconds=2.0)  # released after 2 s
    try:
        result = invoke("init-pool", "--strategy", "random", "--budget", "5", "--run-dir", str(run))
    finally:
        proc.kill()
        proc.wait(30)
    assert result.exit_code == 0, result.output
    assert "waiting up to" in result.output and ".run.lock" in result.output
    assert ("pools", "random-5") in indexed(run)


def test_a_step_left_unindexed_is_indexed_by_the_next_command(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunDir, "index_wait", 0.3)
    proc = _holder(run / ".run.lock", seconds=60.0)
    try:
        result = invoke("init-pool", "--strategy", "random", "--budget", "5", "--run-dir", str(run))
        assert result.exit_code == 0, result.output  # the step itself finished
        message = " ".join(result.output.split())
        assert "run.json's index was not updated" in message and "next alpool command" in message
        assert "steps index" in message and "(waited 0.3 s)" in message
        assert (run / "pools" / "random-5" / "manifest.json").exists()
        assert ("pools", "random-5") not in indexed(run)
    finally:
        proc.kill()
        proc.wait(30)
    result = invoke("init-pool", "--strategy", "random", "--budget", "5", "--run-dir", str(run), "-q")
    assert result.exit_code == 0 and "already finished" in result.output, result.output
    assert ("pools", "random-5") in indexed(run)


# -- item 7: idempotent reruns --------------------------------------------------------------------


def test_rerunning_finished_steps_with_the_same_settings_exits_0(run: Path) -> None:
    before = tree_state(run)
    for step in CHAIN[:-1]:  # analyze is always redone (derived from finished steps only)
        args = [a for a in step if a != "digits"]
        result = invoke(*args, "--run-dir", str(run), "-q")
        assert result.exit_code == 0, (step, result.output)
        assert "already finished" in result.output and "--force" in result.output, result.output
    assert tree_state(run) == before
    assert (Path(".alpool") / "last-run").read_text().strip() == str(run.resolve())  # remembered


def test_a_group_of_pools_keeps_its_finished_members_and_writes_the_rest(run: Path) -> None:
    args = ["init-pool", "--strategy", "random", "--budget", "5", "--count", "3", "--run-dir", str(run), "-q"]
    assert invoke(*args).exit_code == 0
    again = invoke(*args)
    assert again.exit_code == 0 and "pools/random-5-000 ... random-5-002 already finished" in again.output
    kept = {name: tree_state(run / "pools" / name) for name in ("random-5-000", "random-5-002")}
    shutil.rmtree(run / "pools" / "random-5-001")
    assert invoke(*args).exit_code == 0  # only the missing member is written
    assert (run / "pools" / "random-5-001" / "manifest.json").exists()
    assert {name: tree_state(run / "pools" / name) for name in kept} == kept


def test_an_experiment_over_every_pool_is_not_kept_when_the_pools_changed(run: Path) -> None:
    """al-run without --pool reads every finished pool: a new pool makes the finished experiment another one."""
    assert invoke("init-pool", "--strategy", "random", "--budget", "10", "--run-dir", str(run), "-q").exit_code == 0
    before = tree_state(run / "al")
    one_line_error(invoke("al-run", "--query", "random", *FAST_AL, "--run-dir", str(run), "-q"),
                   "al/random finished on pools random-20, ranked-vae-loss-20, but now random-10, random-20, "
                   "ranked-vae-loss-20", "--force")
    assert tree_state(run / "al") == before


def test_rerunning_with_other_settings_still_needs_force(run: Path) -> None:
    before = tree_state(run)
    one_line_error(invoke("init-pool", "--strategy", "random", "--budget", "20", "--seed", "1",
                          "--run-dir", str(run), "-q"), "pools/random-20", "seed=0 (now 1)", "--force")
    one_line_error(invoke("al-run", "--query", "random", *FAST_AL[:-2], "--epochs", "3", "--run-dir", str(run), "-q"),
                   "al/random", "train.epochs=2 (now 3)", "--force")
    assert tree_state(run) == before


# -- item 8: plain progress lines when stderr is not a terminal -----------------------------------


def test_plain_reporter_prints_step_counts_elapsed_and_eta() -> None:
    stream = io.StringIO()
    previous = reporting.set_reporter(reporting.PlainReporter(stream, interval=0.0))
    try:
        for _ in reporting.progress(range(4), "al-run x"):
            for _ in reporting.progress(range(2), "epochs"):
                pass
        reporting.info("a message")
    finally:
        reporting.set_reporter(previous)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "al-run x: started (4 to do)"
    assert any(line.startswith("al-run x: 3/4 (75%), elapsed 0:00:00, ETA 0:00:00") for line in lines)
    assert any(line.startswith("  epochs: 1/2 (50%)") for line in lines)  # nested tasks indented
    assert lines[-2].startswith("al-run x: finished 4/4 in 0:00:") and lines[-1] == "a message"
    assert reporting.progress_line("t", 1, 4, 30.0, "ep 1") == "t: 1/4 (25%), elapsed 0:00:30, ETA 0:01:30 [ep 1]"
    assert reporting.progress_line("t", 7, None, 5.0) == "t: 7 done, elapsed 0:00:05"


def test_cli_off_a_terminal_prints_plain_lines_not_bars(run: Path) -> None:
    result = invoke("al-run", "--query", "entropy", *FAST_AL, "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert "al-run entropy: 2 trials: started (2 to do)" in result.output
    assert "al-run entropy: 2 trials: finished 2/2 in" in result.output
    assert "━" not in result.output and "…" not in result.output  # no (truncated) rich bars


# -- item 10: the summary line of `alpool all` names the report ----------------------------------

TINY_PRESET = """
dataset = "digits"
[[pretrain]]
task = "vae"
params = { epochs = 2, latent_dim = 8 }
[[rank]]
scorer = "vae-loss"
[[pools]]
strategy = "random"
budget = 20
[[pools]]
strategy = "ranked"
budget = 20
params = { score = "vae-loss" }
[[al]]
queries = ["random"]
episodes = 0
trials = 2
[al.train]
epochs = 2
[analyze]
curves = true
"""


def test_all_names_report_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY_PRESET)
    result = invoke("all", "--preset", "tiny.toml", "-q")
    assert result.exit_code == 0, result.output
    report = tmp_path / "runs" / "tiny" / "analysis" / "report" / "report.html"
    assert result.output.strip().endswith(f"-> {report.relative_to(tmp_path)}") and report.exists()
    assert "Do the initial pools beat random?" in report.read_text()
    before = tree_state(tmp_path / "runs" / "tiny" / "pools")
    again = invoke("all", "--preset", "tiny.toml", "-q")  # finished steps kept, the report redone
    assert again.exit_code == 0 and "0 steps ran" not in again.output
    assert tree_state(tmp_path / "runs" / "tiny" / "pools") == before
    (tmp_path / "tiny.toml").write_text(TINY_PRESET.replace("epochs = 2", "epochs = 3"))  # the run directory's rule
    changed = invoke("all", "--preset", "tiny.toml", "-q")
    assert changed.exit_code == 2 and "pretrain/vae already exists" in changed.output
    assert "params.epochs=2 (now 3)" in changed.output and "--force" in changed.output
