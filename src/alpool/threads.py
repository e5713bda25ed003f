"""How many CPU threads torch uses in each alpool process: one policy, chosen deliberately.

torch's default (one thread per core) is slow when cores are shared: on a busy 2-core machine the
same training took 703-957 s with 2 threads and 76-81 s with 1. The count is therefore chosen once
per command, in this order:

1. ``--threads N`` on the command line;
2. ``$ALPOOL_THREADS``;
3. ``$OMP_NUM_THREADS`` when the user set it (the standard variable of OpenMP, BLAS and torch);
4. the policy: the idle cores (cores minus the 1-minute load average, rounded) shared equally
   by the worker processes, at least 1. An idle 4-core machine gives 4 threads (2 each with
   ``--workers 2``); a machine already busy gives 1.

The count is applied at the start of every command and in every worker process (workers inherit
it through ``$ALPOOL_THREADS``), and recorded in each step manifest's ``environment``. Float sums
depend on how they are split, so bitwise-identical reruns need the same count: a resumed step
that would mix counts says so in one line (see :func:`mixed_message`); pass ``--threads`` to pin it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from alpool import reporting
from alpool.atomic_files import atomic_write_text
from alpool.errors import ConfigError

ENV = "ALPOOL_THREADS"
PROCESS_FILE = ".process.json"  # in an unfinished step folder: earlier processes' seconds and thread counts


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and where it came from (recorded in manifests)."""

    threads: int
    source: str


def cores() -> int:
    """Return the CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load() -> float:
    """Return the 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _from_env(name: str) -> int | None:
    """Return a positive integer environment variable, or None when unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"${name}={text!r} is not a positive integer; set e.g. {name}=1 or unset it")
    return int(text)


def policy(workers: int = 1, n_cores: int | None = None, load: float | None = None) -> int:
    """Return the policy's threads per process: idle cores shared by ``workers``, at least 1."""
    n_cores = cores() if n_cores is None else n_cores
    load = _load() if load is None else load
    idle = max(1, n_cores - int(round(load)))
    return max(1, idle // max(1, workers))


def choose(requested: int | None = None, workers: int = 1) -> ThreadChoice:
    """Return the thread count per process: ``--threads``, the environment, or :func:`policy`."""
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"--threads {requested} must be at least 1")
        return ThreadChoice(requested, "--threads")
    for name in (ENV, "OMP_NUM_THREADS"):
        value = _from_env(name)
        if value is not None:
            return ThreadChoice(value, f"${name}")
    n_cores, load = cores(), _load()
    return ThreadChoice(policy(workers, n_cores, load),
                        f"policy: {n_cores} cores, load {load:.1f}, {workers} worker(s)")


def apply(choice: ThreadChoice) -> None:
    """Set torch's threads in this process and pass the count on to worker processes."""
    os.environ[ENV] = str(choice.threads)
    os.environ["ALPOOL_THREADS_SOURCE"] = choice.source
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)


def current() -> dict[str, str]:
    """Return this process's thread count and its source, for a manifest's environment."""
    import torch

    return {"torch_threads": str(torch.get_num_threads()),
            "threads_source": os.environ.get("ALPOOL_THREADS_SOURCE", "torch default")}


def mixed_message(label: str, before: int, now: int) -> str:
    """Return the one line said when a resumed step would mix thread counts."""
    return (f"step {label} resumes with {now} torch thread(s) but started with {before}: its numbers will not be "
            f"bitwise identical to a run with one count (pass --threads {before} to match)")


def record_process(folder: Path, label: str, resume: bool, started: float) -> tuple[float, list[int]]:
    """Record this process in an unfinished step folder; return the earlier processes' seconds and thread counts.

    A step's ``seconds`` is the sum over the processes that worked on it: a killed process counts
    up to its last write in the folder (later work is redone). Resuming with another thread count
    is said in one line and the counts are kept for the manifest.
    """
    import torch

    path = folder / PROCESS_FILE
    earlier, counts = 0.0, []
    if resume and path.exists():
        try:
            data = json.loads(path.read_text())
            last_write = max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())
            earlier = float(data["seconds_before"]) + max(0.0, last_write - float(data["started"]))
            counts = [int(n) for n in data["threads"]]
        except (OSError, ValueError, KeyError, TypeError):
            earlier, counts = 0.0, []  # an unreadable record loses only the earlier time
    threads = torch.get_num_threads()
    if counts and threads not in counts:
        reporting.warning(mixed_message(label, counts[-1], threads))
    counts = [*counts, threads] if threads not in counts else counts
    atomic_write_text(path, json.dumps({"seconds_before": earlier, "started": started, "threads": counts}))
    return earlier, counts
