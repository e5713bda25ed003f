"""The thread policy: its order of sources, its numbers, workers, manifests and resumed steps."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from alpool.core.errors import AlpoolWarning, ConfigError
from alpool.execution import threads
from alpool.execution.executor import ProcessExecutor
from alpool.rundir import step_process
from alpool.rundir.manifests import DatasetRecord
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_process import PROCESS_FILE


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    for name in (threads.ENV, "OMP_NUM_THREADS", threads.SOURCE_ENV, threads.CHOOSER_ENV):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


def test_policy_shares_idle_cores_between_workers() -> None:
    assert threads.policy(1, n_cores=4, busy=0.0) == 4
    assert threads.policy(2, n_cores=4, busy=0.0) == 2
    assert threads.policy(3, n_cores=2, busy=0.0) == 1
    assert threads.policy(1, n_cores=2, busy=1.9) == 1  # busy machine: one thread
    assert threads.policy(1, n_cores=16, busy=6.2) == 10
    assert threads.policy(1, n_cores=2, busy=0.4) == 2  # a little noise from other programs: every core
    assert threads.policy(1, n_cores=2, busy=0.6) == 1


def test_sources_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.choose() == threads.ThreadChoice(3, "$OMP_NUM_THREADS")
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.choose() == threads.ThreadChoice(2, "$ALPOOL_THREADS")
    assert threads.choose(requested=1) == threads.ThreadChoice(1, "--threads")


def test_without_settings_the_policy_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    choice = threads.choose(workers=2)  # measured on this machine
    assert choice.source.startswith("policy:") and "busy with other programs" in choice.source
    assert 1 <= choice.threads <= max(1, threads.cores() // 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda seconds=0.0: 0.0)  # an idle machine
    assert threads.choose().threads == threads.cores()
    monkeypatch.setattr(threads, "busy_elsewhere", lambda seconds=0.0: float(threads.cores()))  # a busy one
    assert threads.choose().threads == 1


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="measures through /proc (Linux)")
def test_the_measurement_leaves_out_this_process_and_its_children() -> None:
    """A child that burns CPU is counted as ours (so a chain's own work never makes it back off)."""
    import subprocess
    import sys

    before = threads._own_jiffies()
    burn = ("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
            "print('done', flush=True)\ntime.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        assert threads._own_jiffies() - before >= 0.45 * os.sysconf("SC_CLK_TCK")  # its 0.5 s of CPU
    finally:
        child.kill()
        child.wait()
    busy = threads.busy_elsewhere(0.2)
    assert busy is not None and 0.0 <= busy <= threads.cores() + 0.2


def test_a_chain_measures_again_before_each_step_unless_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "busy_elsewhere", lambda seconds=0.0: 0.0)
    threads.apply(threads.choose())
    assert torch.get_num_threads() == threads.cores()
    monkeypatch.setattr(threads, "busy_elsewhere", lambda seconds=0.0: float(threads.cores()))  # others started
    again = threads.refresh()
    assert again is not None and again.threads == 1 and torch.get_num_threads() == 1
    threads.apply(threads.ThreadChoice(2, "--threads"))
    assert threads.refresh() is None and threads.choose() == threads.ThreadChoice(2, "--threads")


def test_a_child_process_keeps_the_count_its_parent_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENV, "2")
    monkeypatch.setenv(threads.SOURCE_ENV, "policy: 2 cores, 0.0 busy with other programs, 1 worker(s)")
    monkeypatch.setenv(threads.CHOOSER_ENV, str(os.getppid()))  # measured by another process
    assert threads.choose() == threads.ThreadChoice(2, "policy: 2 cores, 0.0 busy with other programs, 1 worker(s)")
    assert threads.refresh() is None


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_environment_value_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(threads.ENV, value)
    with pytest.raises(ConfigError, match=rf"\$ALPOOL_THREADS={value!r} is not a positive integer"):
        threads.choose()


def test_apply_sets_torch_and_the_workers_count() -> None:
    threads.apply(threads.ThreadChoice(1, "--threads"))
    assert torch.get_num_threads() == 1 and os.environ[threads.ENV] == "1"
    assert step_process.current() == {"torch_threads": "1", "threads_source": "--threads"}


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
    assert [str(w.message) for w in said] == [step_process.mixed_message("al/random", 2, 1)]
    assert manifest.warnings == [step_process.mixed_message("al/random", 2, 1)]  # recorded in the step's manifest
    assert "resumes with 1 torch thread(s) but started with 2" in str(said[0].message)
    assert not (step.path / PROCESS_FILE).exists()


def test_the_cli_prints_the_warning_as_one_line_also_when_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    from alpool.cli.common import run_command
    from alpool.core import reporting

    run_command(lambda: reporting.warning(step_process.mixed_message("al/x", 2, 1)),
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
