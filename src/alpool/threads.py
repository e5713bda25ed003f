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

import os
from dataclasses import dataclass

from alpool.errors import ConfigError

ENV = "ALPOOL_THREADS"


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
