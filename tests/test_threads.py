"""The thread policy: its order of sources, its numbers, workers, manifests and resumed steps."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from alpool import threads
from alpool.errors import AlpoolWarning, ConfigError
from alpool.executor import ProcessExecutor
from alpool.manifests import DatasetRecord
from alpool.rundir import PROCESS_FILE, RunDir


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    for name in (threads.ENV, "OMP_NUM_THREADS", "ALPOOL_THREADS_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


def test_policy_shares_idle_cores_between_workers() -> None:
    assert threads.policy(1, n_cores=4, load=0.0) == 4
    assert threads.policy(2, n_cores=4, load=0.0) == 2
    assert threads.policy(3, n_cores=2, load=0.0) == 1
    assert threads.policy(1, n_cores=2, load=1.9) == 1  # busy machine: one thread
    assert threads.policy(1, n_cores=16, load=6.2) == 10


def test_sources_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose() == threads.ThreadChoice(3, "$OMP_NUM_THREADS")
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.choose() == threads.ThreadChoice(2, "$ALPOOL_THREADS")
    assert threads.choose(requested=1) == threads.ThreadChoice(1, "--threads")


def test_without_settings_the_policy_decides() -> None:
    choice = threads.choose(workers=2)
    assert choice.source.startswith("policy:") and choice.threads == threads.policy(2)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_environment_value_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(threads.ENV, value)
    with pytest.raises(ConfigError, match=rf"\$ALPOOL_THREADS={value!r} is not a positive integer"):
        threads.choose()


def test_apply_sets_torch_and_the_workers_count() -> None:
    threads.apply(threads.ThreadChoice(1, "--threads"))
    assert torch.get_num_threads() == 1 and os.environ[threads.ENV] == "1"
    assert threads.current() == {"torch_threads": "1", "threads_source": "--threads"}


def _worker_threads(_: int) -> int:
    return torch.get_num_threads()


def test_process_workers_use_the_commands_count() -> None:
    threads.apply(threads.ThreadChoice(1, "--threads"))
    assert list(ProcessExecutor(2).map(_worker_threads, [0, 1])) == [1, 1]


def _run(tmp_path: Path) -> RunDir:
    record = DatasetRecord(spec="digits", fingerprint="f" * 64, n_train=10, n_test=5, n_classes=2,
                           image_shape=(1, 8, 8), classes=["a", "b"])
    return RunDir.create(tmp_path / "run", record, seed=0)


def test_a_resumed_step_sums_seconds_and_says_when_threads_mix(tmp_path: Path) -> None:
    run = _run(tmp_path)
    step = run.step("al", "random")
    step.path.mkdir(parents=True)
    # an earlier, killed process: 5 s before it, started 40 s ago, last wrote a file 30 s ago, 2 threads
    started = time.time() - 40
    (step.path / PROCESS_FILE).write_text(json.dumps({"seconds_before": 5.0, "started": started, "threads": [2]}))
    os.utime(step.path / PROCESS_FILE, (started, started))
    episode = step.path / "episode.npy"
    np.save(episode, np.zeros(2))
    os.utime(episode, (started + 10, started + 10))
    threads.apply(threads.ThreadChoice(1, "--threads"))
    with pytest.warns(AlpoolWarning) as said, run.writing("al", "random", {"a": 1}, resume=True) as w:
        manifest = w.finish({})
    assert 15.0 <= manifest.seconds < 17.0  # 5 + 10 earlier, plus this process
    assert manifest.environment["torch_threads"] == "1"
    assert manifest.environment["torch_threads_mixed"] == "2,1"
    assert [str(w.message) for w in said] == [threads.mixed_message("al/random", 2, 1)]
    assert manifest.warnings == [threads.mixed_message("al/random", 2, 1)]  # recorded in the step's manifest
    assert "resumes with 1 torch thread(s) but started with 2" in str(said[0].message)
    assert not (step.path / PROCESS_FILE).exists()


def test_the_cli_prints_the_warning_as_one_line_also_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    from alpool import reporting
    from alpool.cli.common import run_command

    run_command(lambda: reporting.warning(threads.mixed_message("al/x", 2, 1)),
                quiet=True, debug=False, uses_torch=False)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: step al/x resumes with 1 torch thread(s)")


def test_a_fresh_step_records_one_thread_count(tmp_path: Path) -> None:
    run = _run(tmp_path)
    threads.apply(threads.ThreadChoice(1, "--threads"))
    with run.writing("pools", "p", {"a": 1}) as w:
        manifest = w.finish({})
    assert manifest.environment["torch_threads"] == "1" and "torch_threads_mixed" not in manifest.environment
    assert manifest.seconds < 5
