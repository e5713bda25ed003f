"""al-run on real multi-process Ray clusters on this host: a cluster started with token authentication
(``ray start --head`` with ``~/.ray/auth_token``), and two raylets (Ray's cluster utilities) of which one
is lost mid-trial. Both start their own Ray processes and stop only those."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from alpool.core.config import ALRunConfig, Execution, InitPoolConfig, TrainConfig
from alpool.data import load_dataset
from alpool.execution.ray_executor import auth_token_source
from alpool.rundir.context import dataset_record
from alpool.rundir.run_dir import RunDir
from alpool.stages import al_run, init_pool
from test_ray_executor import one_thread_run

ray = pytest.importorskip("ray")

TRAIN = TrainConfig(epochs=2, batch_size=32, lr=0.05, min_steps=40, crop_padding=0, flip=False)
TIMING = ["seconds", "seconds_train", "seconds_query"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run with two random pools of 20."""
    root = tmp_path_factory.mktemp("cluster") / "run"
    RunDir.create(root, dataset_record("digits", load_dataset("digits"), None), seed=0)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, count=2, name="rand"), root)
    return root


def results(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / "al" / name / "results.csv").drop(columns=[*TIMING, "experiment"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_token_is_found_where_ray_looks_for_it(tmp_path: Path) -> None:
    assert auth_token_source({}, tmp_path) is None
    assert auth_token_source({"RAY_AUTH_TOKEN": "abc"}, tmp_path) == "RAY_AUTH_TOKEN"
    (tmp_path / "token").write_text("abc")
    assert auth_token_source({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "token")}, tmp_path) == str(tmp_path / "token")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("abc")
    assert auth_token_source({}, tmp_path) == str(tmp_path / ".ray" / "auth_token")


@pytest.fixture
def token_head() -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """``ray start --head`` as a user with ``~/.ray/auth_token`` (Ray then turns token authentication on).

    Yields the address, the environment of that user and that of a user on a machine without the token.
    """
    scratch = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths have a length limit
    home, stranger = scratch / "home", scratch / "stranger"
    (home / ".ray").mkdir(parents=True)
    stranger.mkdir()
    (home / ".ray" / "auth_token").write_text(uuid.uuid4().hex)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"OMP_NUM_THREADS": "1"}
    env, other = base | {"HOME": str(home)}, base | {"HOME": str(stranger)}
    port = free_port()
    start = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--port", str(port), "--node-ip-address",
         "127.0.0.1", "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats",
         "--temp-dir", str(scratch / "ray")],
        env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = start.communicate(timeout=180)
        assert start.returncode == 0 and "Token authentication is enabled" in out, out
        yield f"127.0.0.1:{port}", env, other
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the head's processes: only this session's group
            try:
                os.killpg(start.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(2)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.slow  # starts a Ray head and two CLI runs (one waits for Ray's 20 s of retries)
def test_al_run_joins_a_cluster_with_token_authentication(run_dir: Path,
                                                          token_head: tuple[str, dict[str, str], dict[str, str]]
                                                          ) -> None:
    address, env, stranger = token_head
    command = [sys.executable, "-m", "alpool", "al-run", "--run-dir", str(run_dir), "--pool", "rand-000",
               "--query", "margin", "--episodes", "1", "--trials", "1", "--epochs", "1", "--executor", "ray",
               "--ray-address", address, "-q"]
    started = time.time()
    joined = subprocess.run([*command, "--name", "token"], env=env, capture_output=True, text=True, timeout=600)
    assert joined.returncode == 0, joined.stderr
    assert "Unauthenticated" not in joined.stderr and "cannot join" not in joined.stderr
    assert len(pd.read_csv(run_dir / "al" / "token" / "results.csv")) == 2
    print(f"joined and ran in {time.time() - started:.1f} s")

    refused = subprocess.run([*command, "--name", "no-token"], env=stranger | {"COLUMNS": "400"},
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot join the Ray cluster at '{address}'" in errors[0], refused.stderr
    assert "copy the head's ~/.ray/auth_token to this machine or set RAY_AUTH_TOKEN" in errors[0]


@pytest.mark.slow  # a head and three raylets on 2 cores
def test_a_node_lost_mid_trial_is_retried_on_another_node_and_the_grid_equals_a_local_run(run_dir: Path) -> None:
    """Two raylets: the trials run on the worker node (the head has no CPU); it is killed after a trial's first
    episode; the tasks go to a new node, wait for the orphaned worker's trial lock, resume, and the results
    equal those of a local run."""
    from ray.cluster_utils import Cluster

    grid = dict(pools=["rand-001"], queries=["margin"], episodes=2, step_budget=10, trials=2, train=TRAIN)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    doomed = cluster.add_node(num_cpus=1)
    failures: list[BaseException] = []
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        folder = run_dir / "al" / "lost-node" / "rand-001--margin"

        def drive() -> None:
            try:
                al_run.run(ALRunConfig(**grid, name="lost-node", execution=Execution(executor="ray")), run_dir)
            except BaseException as exc:  # handed to the test thread
                failures.append(exc)

        driver = threading.Thread(target=drive)
        driver.start()
        deadline = time.time() + 300
        while not list(folder.glob("trial-*/episode-0/metrics.json")) and driver.is_alive() and time.time() < deadline:
            time.sleep(0.02)
        first = list(folder.glob("trial-*/episode-0/metrics.json"))
        assert len(first) == 1 and not list(folder.glob("trial-*/episode-2/metrics.json")), failures
        finished_at = first[0].stat().st_mtime_ns
        cluster.add_node(num_cpus=1)
        cluster.remove_node(doomed, allow_graceful=False)
        driver.join(timeout=900)
        assert not driver.is_alive() and not failures, failures
        assert first[0].stat().st_mtime_ns == finished_at  # resumed after episode 0, not redone
    finally:
        ray.shutdown()
        cluster.shutdown()
    one_thread_run(ALRunConfig(**grid, name="lost-node-local"), run_dir)
    pd.testing.assert_frame_equal(results(run_dir, "lost-node"), results(run_dir, "lost-node-local"))
