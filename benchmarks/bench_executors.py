"""Executors on the digits cold bench: ``--pools`` random pools, one episode each, linear probe.

Builds a digits run (a small VAE for the probe's embeddings, ``--pools`` random pools of
``--budget``), then runs the same ``al-run --episodes 0 --framework linear-probe --embeddings vae``
grid with each executor: ``local`` (this process), ``process`` (``--workers`` processes) and
``ray`` (a local Ray with ``--workers`` CPUs, one CPU per trial). Printed per executor:

- wall: seconds from the call to the manifest, start-up included (Ray's ``init`` is timed inside,
  as a user waits for it); ``start``: seconds until the first trial came back.
- task: mean in-task training time (``seconds`` of results.csv).
- cost/task: ``wall x slots / tasks``, the CPU-seconds each trial took; ``overhead/task``: that
  minus the in-task time, everything that is not training (start-up, scheduling, transfers, the
  per-trial probe set-up, files). steady/task: ``(wall - start) x slots / (tasks - 1)``, the same
  cost once the workers are up (start-up excluded).
- no-op/task: the same executor mapping ``--pools`` empty jobs (pure dispatch cost, start-up excluded
  for Ray, which is already running by then).

On a shared machine, read the figures with the kernel's autogroup scheduling in mind
(``/proc/sys/kernel/sched_autogroup_enabled``): the processes of one session (the driver and its
pool workers) share one CPU share, while Ray's workers run in Ray's own session.

Every executor must give the local executor's results (checked). Run with ``OMP_NUM_THREADS=1``
so that every process has one thread, as bitwise equality needs.

    OMP_NUM_THREADS=1 python benchmarks/bench_executors.py [--pools 100] [--budget 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from alpool.core import reporting
from alpool.core.config import ALRunConfig, Execution, InitPoolConfig, PretrainConfig
from alpool.execution.executor import EXECUTORS, ExecutorRequest
from alpool.stages import al_run, init_pool, pretrain

TIMING = ["seconds", "seconds_train", "seconds_query", "experiment"]


class FirstResult(reporting.Reporter):
    """Remember when the first trial of the outermost task came back."""

    def __init__(self) -> None:
        self.first: float | None = None

    def advance(self, handle: object, amount: int = 1, status: str = "") -> None:
        if self.first is None and status:
            self.first = time.perf_counter()


def noop(job: int) -> int:
    """An empty job (the dispatch cost alone)."""
    return job


def build_run(root: Path, pools: int, budget: int) -> None:
    """Digits, a small VAE, ``pools`` random pools of ``budget``."""
    pretrain.run(PretrainConfig(task="vae", dataset="digits", params={"epochs": 3, "latent_dim": 16}), root)
    init_pool.run(InitPoolConfig(strategy="random", budget=budget, count=pools), root)


def run_grid(root: Path, name: str, workers: int) -> tuple[float, float, pd.DataFrame]:
    """Run the cold bench with one executor; return wall seconds, seconds to the first trial, results."""
    execution = Execution(executor=name)
    config = ALRunConfig(queries=["random"], episodes=0, trials=1, framework="linear-probe",
                         framework_params={"embeddings": "vae"}, name=f"bench-{name}",
                         workers=workers if name == "process" else 1, execution=execution)
    reporter = FirstResult()
    previous = reporting.set_reporter(reporter)
    started = time.perf_counter()
    try:
        if name == "ray":
            import ray

            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False)
        al_run.run(config, root)
    finally:
        reporting.set_reporter(previous)
    wall = time.perf_counter() - started
    first = (reporter.first or started) - started
    return wall, first, pd.read_csv(root / "al" / config.name / "results.csv")  # type: ignore[operator]


def noop_per_task(name: str, workers: int, jobs: int) -> float:
    """Return the seconds per empty job of an executor (for Ray: already running)."""
    executor = EXECUTORS.create(ExecutorRequest(workers if name == "process" else 1, Execution(executor=name), "cpu"))
    started = time.perf_counter()
    assert sorted(executor.map(noop, range(jobs))) == list(range(jobs))
    return (time.perf_counter() - started) / jobs


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=100)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="process-pool size and Ray CPUs")
    parser.add_argument("--executors", default="local,process,ray")
    args = parser.parse_args()
    print(f"torch threads per process: {torch.get_num_threads()}; "
          f"{args.pools} pools of {args.budget}, one episode each")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        build_run(root, args.pools, args.budget)
        rows, reference = [], None
        for name in args.executors.split(","):
            wall, first, table = run_grid(root, name, args.workers)
            slots = 1 if name == "local" else args.workers
            same = table.drop(columns=TIMING).sort_values(["pool", "trial"]).reset_index(drop=True)
            if reference is None:
                reference = same
            identical = same.equals(reference)
            task = float(table["seconds"].mean())
            cost = wall * slots / len(table)
            rows.append({"executor": name, "slots": slots, "wall_s": wall, "start_s": first, "task_s": task,
                         "cost_per_task_s": cost, "overhead_per_task_s": cost - task,
                         "steady_per_task_s": (wall - first) * slots / max(1, len(table) - 1),
                         "noop_per_task_ms": 1000 * noop_per_task(name, args.workers, args.pools),
                         "same_results": identical})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
