"""al-run passes data, not files: each pool read and hashed once, the run opened once, the config never
re-parsed, each registry entry built once; one writer per trial (its lock); Ctrl-C says what is kept.

Counters wrap the real functions (nothing is faked); file reads are seen by a Python audit hook on
``open`` (it sees every reader, whatever module it is in).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from alpool.al.trial import TrialJob, TrialPlan, TrialResult, run_trial
from alpool.core.config import ALRunConfig, InitPoolConfig, TrainConfig
from alpool.core.registry import ClassRegistry
from alpool.data import load_dataset
from alpool.frameworks import FRAMEWORKS
from alpool.rundir import context as run_context
from alpool.rundir.context import dataset_record, open_run
from alpool.rundir.run_dir import RunDir
from alpool.selectors import SELECTORS
from alpool.selectors.base import Selector
from alpool.stages import al_run, init_pool

TRAIN = TrainConfig(epochs=1, batch_size=32, lr=0.05, min_steps=5, crop_padding=0, flip=False)
_OPENED: list[str] | None = None  # the audit hook records opened paths while this is a list


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # cannot be removed; does nothing unless _OPENED is a list


@contextmanager
def opened_files() -> Iterator[list[str]]:
    """Record every file this process opens inside the block."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run (no pretext step needed) with two random pools of 20."""
    root = tmp_path_factory.mktemp("flow") / "run"
    RunDir.create(root, dataset_record("digits", load_dataset("digits"), None), seed=0)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, count=2, name="rand"), root)
    return root


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, counts: Counter[str],
                key: Callable[..., str]) -> None:
    """Replace ``owner.name`` by a wrapper that counts its calls (by ``key(*args)``) and calls the real one."""
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts[key(*args)] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)


def grid(name: str, **changes: Any) -> ALRunConfig:
    base = dict(pools=["rand-*"], queries=["entropy", "margin"], episodes=1, step_budget=10, trials=2, train=TRAIN)
    return ALRunConfig(**{**base, **changes, "name": name})


def test_a_grid_reads_each_pool_once_opens_the_run_once_and_builds_each_entry_once(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counts: Counter[str] = Counter()
    registry: ClassRegistry[Any]
    for registry in (FRAMEWORKS, SELECTORS):
        count_calls(monkeypatch, registry, "create", counts, lambda name, *_, kind=registry.kind: f"{kind} {name}")
    count_calls(monkeypatch, run_context, "load_dataset", counts, lambda *_: "dataset loaded")
    count_calls(monkeypatch, ALRunConfig, "model_validate_json", counts, lambda *_: "config parsed")
    with opened_files() as opened:
        al_run.run(grid("flow"), run_dir)
    reads = Counter(Path(p).parent.name for p in opened if p.endswith("indices.npy"))
    assert reads == {"rand-000": 1, "rand-001": 1}  # 2 pools x 2 queries x 2 trials: one read (and hash) per pool
    assert counts == {"framework supervised": 1, "selector entropy": 1, "selector margin": 1, "dataset loaded": 1}
    assert len(pd.read_csv(run_dir / "al" / "flow" / "results.csv")) == 2 * 2 * 2 * 2


def test_every_trial_gets_the_same_objects(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, every trial's query gets the stage's objects themselves: the one selector built for the
    query and the one opened run (nothing serialised or reopened)."""
    seen: list[tuple[Selector, Any]] = []
    real = Selector.__call__

    def recording(self: Selector, ctx: Any, budget: int) -> Any:
        seen.append((self, ctx.inputs.ctx))
        return real(self, ctx, budget)

    monkeypatch.setattr(Selector, "__call__", recording)
    al_run.run(grid("same", pools=["rand-000"], queries=["entropy"], episodes=1), run_dir)
    assert len(seen) == 2  # two trials, one query each
    (selector, opened), (again, reopened) = seen
    assert selector is again and opened is reopened
    assert opened.run.root == run_dir.resolve()


def test_two_workers_on_one_trial_never_write_it_at_once(run_dir: Path) -> None:
    """Two runners of the same trial at once (an orphan and its retry): the second waits for the first's lock,
    then reads every episode the first wrote instead of writing them again."""
    config = grid("orphan", pools=["rand-000"], queries=["entropy"], episodes=2, trials=1)
    ctx = open_run(run_dir)
    plan = TrialPlan(ctx, config, ctx.run.step("al", "orphan"),
                     {"rand-000": ctx.run.step("pools", "rand-000").read_array("indices.npy")},
                     FRAMEWORKS.create("supervised"), {"entropy": SELECTORS.create("entropy")})
    job = TrialJob("rand-000", "entropy", 0)
    results: list[TrialResult] = []
    runners = [threading.Thread(target=lambda: results.append(run_trial(plan, job))) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=600)
    assert len(results) == 2
    assert sorted(len(r.computed) for r in results) == [0, 3]  # one wrote episodes 0-2, the other only read them
    assert results[0].rows == results[1].rows


@pytest.mark.slow  # two CLI runs (about 65 s with OMP_NUM_THREADS=1 on 2 shared cores)
def test_ctrl_c_says_the_run_was_interrupted_and_the_rerun_counts_what_is_done(run_dir: Path) -> None:
    """SIGINT a CLI al-run after its first finished trial: one line says what is kept and how to resume; the
    same command then says how many trials were already finished and finishes the grid."""
    command = [sys.executable, "-m", "alpool", "al-run", "--run-dir", str(run_dir), "--pool", "rand-000",
               "--query", "entropy", "--episodes", "1", "--trials", "4", "--epochs", "1",
               "--train", "min_steps=40", "--name", "ctrl-c"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    experiment = run_dir / "al" / "ctrl-c" / "rand-000--entropy"
    deadline = time.time() + 300
    while not list(experiment.glob("trial-*/episode-1/metrics.json")) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    done = len(list(experiment.glob("trial-*/episode-1/metrics.json")))
    assert proc.returncode == 130, stderr
    assert 1 <= done < 4, stderr
    line = [x for x in stderr.splitlines() if "interrupted" in x]
    assert len(line) == 1 and f"{done}/4 trials finished" in line[0], stderr
    assert "run the same command again to resume" in line[0]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"resuming al/ctrl-c: {done}/4 trials already finished" in again.stderr
    assert len(pd.read_csv(run_dir / "al" / "ctrl-c" / "results.csv")) == 4 * 2
