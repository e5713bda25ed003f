"""Executor choice and options, GPU round-robin of the process pool, the missing-Ray message (no Ray needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alpool.core import reporting
from alpool.core.config import Execution
from alpool.core.errors import AlpoolWarning, ConfigError, UnknownNameError
from alpool.execution.executor import (
    EXECUTORS,
    ExecutorRequest,
    InProcessExecutor,
    ProcessExecutor,
    assign_gpus,
    visible_gpus,
)
from alpool.execution.ray_executor import check_reachable


def test_gpus_go_round_robin_and_never_all_on_one_when_several_are_visible() -> None:
    assert assign_gpus(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert assign_gpus(2, ["0", "1", "2", "3"]) == ["0", "1"]
    assert assign_gpus(3, ["5"]) == ["5", "5", "5"]  # one GPU: shared, the only choice
    assert assign_gpus(2, []) == [None, None]  # no GPU: the environment is left alone
    for workers in range(1, 9):
        for n_gpus in range(2, 5):
            assigned = assign_gpus(workers, [str(g) for g in range(n_gpus)])
            counts = [assigned.count(str(g)) for g in range(n_gpus)]
            assert max(counts) - min(counts) <= 1 and len(set(assigned)) == min(workers, n_gpus)


def test_visible_gpus_follow_cuda_visible_devices_else_the_device_count() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}, lambda: 8) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, lambda: 8) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, lambda: 8) == []
    assert visible_gpus({}, lambda: 3) == ["0", "1", "2"]
    assert visible_gpus({}, lambda: 0) == []


def worker_gpu(job: int) -> tuple[int, str | None]:
    """Return this worker's pid and the GPU it was given (a job of the process pool)."""
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.slow  # spawns two interpreters that import torch
def test_process_pool_gives_each_worker_its_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    executor = EXECUTORS.create(ExecutorRequest(2, Execution(executor="process"), "auto"))
    seen = dict(executor.map(worker_gpu, range(6)))
    assert set(seen.values()) <= {"3", "5"}
    assert len(set(seen.values())) == len(seen)  # no two workers on one GPU


def sleep_for(seconds: float) -> float:
    """Sleep (a job of the process pool)."""
    time.sleep(seconds)
    return seconds


@pytest.mark.slow  # spawns two interpreters that import torch
def test_closing_the_process_pool_early_stops_its_running_jobs() -> None:
    """Ctrl-C (the iterator closed early) stops the running jobs at once, not after they finish."""
    executor = EXECUTORS.create(ExecutorRequest(2, Execution(executor="process"), "cpu"))
    finished = executor.map(sleep_for, [0.0, 120.0, 120.0])
    assert next(finished) == 0.0
    started = time.perf_counter()
    finished.close()
    assert time.perf_counter() - started < 30


def warn_and_square(job: int) -> int:
    """A job that says a warning in its worker."""
    from alpool.core import reporting

    reporting.warning(f"job {job} says so")
    return job * job


def test_a_workers_warnings_are_shown_once_here_and_recorded_in_the_open_step() -> None:
    executor = EXECUTORS.create(ExecutorRequest(2, Execution(executor="process"), "cpu"))
    with reporting.recording_warnings() as said, pytest.warns(AlpoolWarning) as shown:
        squares = sorted(executor.map(warn_and_square, [1, 2, 3]))
    assert squares == [1, 4, 9]
    assert sorted(said) == ["job 1 says so", "job 2 says so", "job 3 says so"]
    assert sorted(str(w.message) for w in shown) == sorted(said)


def test_auto_keeps_the_old_meaning_of_workers() -> None:
    assert isinstance(EXECUTORS.create(ExecutorRequest(1)), InProcessExecutor)
    assert isinstance(EXECUTORS.create(ExecutorRequest(3, Execution())), ProcessExecutor)
    assert isinstance(EXECUTORS.create(ExecutorRequest(1, Execution(executor="process"))), ProcessExecutor)


@pytest.mark.parametrize(("workers", "options", "match"), [
    (2, Execution(executor="local"), "--workers 2 sizes the local process pool"),
    (2, Execution(executor="ray"), "--workers 2 sizes the local process pool"),
    (2, Execution(gpus_per_trial=0.5), "apply to --executor ray, not process"),
    (1, Execution(executor="local", ray_address="auto"), "apply to --executor ray, not local"),
])
def test_options_an_executor_would_ignore_are_refused(workers: int, options: Execution, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        EXECUTORS.create(ExecutorRequest(workers, options))


def test_unknown_executor_suggests_the_name() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'ray'"):
        EXECUTORS.create(ExecutorRequest(1, Execution(executor="rey")))


def test_ray_executor_without_ray_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    """Block ``import ray`` in a fresh interpreter: ``all --executor ray`` explains how to install it."""
    code = ("import sys; sys.modules['ray'] = None; from alpool.cli import main; "
            f"sys.argv = ['alpool', 'all', '--preset', 'quickstart', '--run-dir', {str(tmp_path / 'run')!r}, "
            "'--executor', 'ray']; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "300"})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--executor ray needs Ray" in lines[0] and "pip install" in lines[0]
    assert "alpool[ray]" in lines[0]
    assert not (tmp_path / "run").exists()


def test_an_unreachable_ray_address_is_one_line_not_minutes_of_retries() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        check_reachable(f"127.0.0.1:{port}")
        check_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=f"cannot join the Ray cluster at '127.0.0.1:{port}'"):
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    check_reachable("auto")  # Ray looks the cluster up itself
