"""Trials on a real local Ray (2 CPUs, started here, shared by the tests of this module): same results as
in-process, a worker killed mid-trial is retried and resumes, a worker without the run directory fails in one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from alpool.al.trial import TrialJob, TrialPlan, run_trial
from alpool.core import reporting
from alpool.core.config import ALRunConfig, Execution, InitPoolConfig, PretrainConfig, TrainConfig
from alpool.core.errors import AlpoolWarning, ConfigError, MissingStepError, WorkerLostError
from alpool.execution.executor import EXECUTORS, ExecutorRequest, Shared
from alpool.execution.ray_executor import RETRIES
from alpool.frameworks import FRAMEWORKS
from alpool.rundir.context import open_run
from alpool.selectors import SELECTORS
from alpool.stages import al_run, init_pool, pretrain

ray = pytest.importorskip("ray")

TRAIN = TrainConfig(epochs=2, batch_size=32, lr=0.05, min_steps=40, crop_padding=0, flip=False)
TIMING = ["seconds", "seconds_train", "seconds_query"]
RAY = Execution(executor="ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray instance with 2 CPUs for the whole module."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run with a VAE (embeddings of the linear probe) and two random pools of 20."""
    root = tmp_path_factory.mktemp("ray") / "run"
    pretrain.run(PretrainConfig(task="vae", dataset="digits", params={"epochs": 1, "latent_dim": 4}), root)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, count=2, name="rand"), root)
    return root


def results(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / "al" / name / "results.csv").drop(columns=[*TIMING, "experiment"])


def one_thread_run(config: ALRunConfig, run_dir: Path) -> None:
    """Run in-process with one torch thread, as every Ray task with 1 CPU has."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        al_run.run(config, run_dir)
    finally:
        torch.set_num_threads(threads)


def test_a_grid_on_ray_equals_the_local_run(local_ray: None, run_dir: Path) -> None:
    grid = dict(queries=["entropy"], episodes=1, step_budget=10, trials=1, train=TRAIN,
                framework="linear-probe", framework_params={"embeddings": "vae", "epochs": 30})
    one_thread_run(ALRunConfig(**grid, name="local"), run_dir)
    al_run.run(ALRunConfig(**grid, name="ray", execution=RAY), run_dir)
    local, on_ray = results(run_dir, "local"), results(run_dir, "ray")
    assert len(on_ray) == 2 * 2
    pd.testing.assert_frame_equal(local, on_ray)


def ray_worker_pids(title: str = "ray::run_job") -> list[int]:
    """Return the pids of Ray workers running a task (their process title names the task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(title.encode()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_worker_killed_mid_trial_is_retried_and_resumes(local_ray: None, run_dir: Path) -> None:
    """SIGKILL the worker after its first finished episode: Ray reruns the task, which resumes from it."""
    grid = dict(pools=["rand-001"], queries=["margin"], episodes=2, step_budget=10, trials=1, train=TRAIN)
    folder = run_dir / "al" / "killed" / "rand-001--margin" / "trial-0"
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            al_run.run(ALRunConfig(**grid, name="killed", execution=RAY), run_dir)
        except BaseException as exc:  # handed to the test thread
            failures.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    first = folder / "episode-0" / "metrics.json"
    deadline = time.time() + 300
    while not first.exists() and driver.is_alive() and time.time() < deadline:
        time.sleep(0.02)
    assert first.exists() and not (folder / "episode-2" / "metrics.json").exists(), failures
    finished_at = first.stat().st_mtime_ns
    victims = ray_worker_pids()
    assert len(victims) == 1
    os.kill(victims[0], signal.SIGKILL)
    driver.join(timeout=600)
    assert not failures, failures
    assert first.stat().st_mtime_ns == finished_at  # resumed after episode 0, not redone
    one_thread_run(ALRunConfig(**grid, name="clean"), run_dir)
    pd.testing.assert_frame_equal(results(run_dir, "killed"), results(run_dir, "clean"))


def test_a_worker_that_cannot_see_the_run_directory_fails_in_one_line(local_ray: None, run_dir: Path,
                                                                      tmp_path: Path) -> None:
    hidden = tmp_path / "elsewhere"
    shutil.copytree(run_dir, hidden)
    ctx = open_run(hidden)
    config = ALRunConfig(pools=["rand-000"], episodes=0, trials=1, train=TRAIN)
    plan = TrialPlan(ctx, config, ctx.run.step("al", "x"),
                     {"rand-000": ctx.run.step("pools", "rand-000").read_array("indices.npy")},
                     FRAMEWORKS.create("supervised"), {"random": SELECTORS.create("random")})
    shutil.rmtree(hidden)  # what a node without the shared filesystem sees
    tasks = EXECUTORS.create(ExecutorRequest(1, RAY, "cpu")).map(run_trial, [TrialJob("rand-000", "random", 0)],
                                                                  Shared(plan))
    with pytest.raises(MissingStepError, match=f"cannot see the run directory {hidden}") as caught:
        list(tasks)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("device", "gpus", "match"), [
    ("cpu", 0.5, "--gpus-per-trial 0.5 with --device cpu"),
    ("auto", 1.0, "--gpus-per-trial 1 but the Ray cluster has 0 GPUs"),
    ("cuda", None, "--device cuda but the Ray cluster has no GPU"),
])
def test_gpu_requests_the_cluster_cannot_meet_are_refused_before_any_task(
        local_ray: None, device: str, gpus: float | None, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        EXECUTORS.create(ExecutorRequest(1, Execution(executor="ray", gpus_per_trial=gpus), device))


def test_cpu_trials_see_no_gpu_and_run_with_their_cpus_as_threads(local_ray: None) -> None:
    def task_environment(job: int) -> tuple[str | None, int]:  # local: sent to Ray by value
        import os

        import torch

        return os.environ.get("CUDA_VISIBLE_DEVICES"), torch.get_num_threads()

    executor = EXECUTORS.create(ExecutorRequest(1, Execution(executor="ray", cpus_per_trial=2), "auto"))
    seen = list(executor.map(task_environment, [0]))
    assert seen == [("", 2)]


def test_a_trials_warnings_come_back_from_ray_with_its_result(local_ray: None) -> None:
    def warn(job: int) -> int:  # local: sent to Ray by value
        from alpool.core import reporting

        reporting.warning(f"trial {job} on ray says so")
        return job

    executor = EXECUTORS.create(ExecutorRequest(1, Execution(executor="ray"), "cpu"))
    with reporting.recording_warnings() as said, pytest.warns(AlpoolWarning):
        assert sorted(executor.map(warn, [0, 1])) == [0, 1]
    assert sorted(said) == ["trial 0 on ray says so", "trial 1 on ray says so"]


def test_the_shared_value_is_fetched_once_per_worker_process(local_ray: None, tmp_path: Path) -> None:
    """The run (dataset tensors) goes once into the object store; a worker unpickles it before its first job only
    and passes the same object to every later job."""
    log = tmp_path / "arrivals"

    def arrive(path: str, payload: bytes) -> bytearray:  # local functions: sent to Ray by value
        import os

        with open(path, "a") as file:
            file.write(f"{os.getpid()} {len(payload)}\n")
        return bytearray(payload)

    class Logged:
        """Unpickles (in a worker) into the payload, logging the worker's pid."""

        def __init__(self, payload: bytes) -> None:
            self.payload = payload

        def __reduce__(self) -> tuple[object, tuple[str, bytes]]:
            return arrive, (str(log), self.payload)

    def worker_pid(shared: bytearray, job: int) -> tuple[int, int, int]:
        import os

        return os.getpid(), id(shared), len(shared)

    executor = EXECUTORS.create(ExecutorRequest(1, RAY, "cpu"))
    seen = list(executor.map(worker_pid, range(8), Shared(Logged(b"x" * 2_000_000))))
    arrivals = [line.split() for line in log.read_text().splitlines()]
    assert sorted(pid for pid, _ in arrivals) == sorted({str(pid) for pid, _, _ in seen})  # once per worker
    assert {size for _, size in arrivals} == {"2000000"} and {size for _, _, size in seen} == {2_000_000}
    assert len({(pid, obj) for pid, obj, _ in seen}) == len({pid for pid, _, _ in seen})  # one object per worker


def test_a_trial_whose_worker_dies_every_time_fails_in_one_line(local_ray: None, run_dir: Path) -> None:
    """Kill every worker that runs the trial: after the retries, the run stops with a WorkerLostError."""
    grid = dict(pools=["rand-000"], queries=["margin"], episodes=5, step_budget=10, trials=1, train=TRAIN)
    failures: list[BaseException] = []

    def drive() -> None:
        try:
            al_run.run(ALRunConfig(**grid, name="doomed", execution=RAY), run_dir)
        except BaseException as exc:  # handed to the test thread
            failures.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    killed: set[int] = set()
    deadline = time.time() + 600
    while driver.is_alive() and time.time() < deadline:
        for pid in set(ray_worker_pids()) - killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.02)
    driver.join()
    assert len(killed) == RETRIES + 1
    assert len(failures) == 1 and isinstance(failures[0], WorkerLostError), failures
    assert "rand-000 / margin / trial 0" in str(failures[0]) and "\n" not in str(failures[0])


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_keeps_finished_episodes(run_dir: Path) -> None:
    """SIGINT a CLI al-run on its own local Ray; the same command then resumes and finishes."""
    command = [sys.executable, "-m", "alpool", "al-run", "--run-dir", str(run_dir), "--query", "margin",
               "--episodes", "3", "--trials", "2", "--epochs", "2", "--executor", "ray", "--name", "interrupted", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    experiment = run_dir / "al" / "interrupted"
    deadline = time.time() + 300
    while not list(experiment.glob("*/trial-*/episode-0/metrics.json")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "al-run interrupted interrupted: " in stderr and "run the same command again to resume" in stderr, stderr
    finished = sorted(experiment.glob("*/trial-*/episode-*/metrics.json"))
    assert finished and len(finished) < 2 * 2 * 4 and not (experiment / "manifest.json").exists()
    time.sleep(2)
    assert sorted(experiment.glob("*/trial-*/episode-*/metrics.json")) == finished  # nothing runs on
    assert not ray_worker_pids()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(experiment / "results.csv")) == 2 * 2 * 4
