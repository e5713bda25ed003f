"""How many CPU threads torch uses in each alpool process: one policy, chosen deliberately.

torch's default (one thread per core) is slow when cores are shared: on a busy 2-core machine the
same training took 703-957 s with 2 threads and 76-81 s with 1. The count is therefore chosen by
:func:`choose` (the one place that decides), in this order:

1. ``--threads N`` on the command line;
2. ``$ALPOOL_THREADS`` (set by the user, or inherited from the alpool process that chose);
3. ``$OMP_NUM_THREADS`` when the user set it (the standard variable of OpenMP, BLAS and torch);
4. the policy: the cores that *other* programs leave idle, shared equally by the worker
   processes, at least 1. An idle 4-core machine gives 4 threads (2 each with ``--workers 2``);
   a machine already busy gives fewer, down to 1.

What "other programs" use is measured, not read from the load average: :func:`busy_elsewhere`
samples the busy CPU time of this process's cores in ``/proc/stat`` over :data:`SAMPLE_SECONDS`
and subtracts the CPU time this process and its children used in the same window
(``/proc/<pid>/stat``). The 1-minute load average (used before) decays over minutes, so on an idle
2-core machine the chain's own previous step still counted as "load 0.5" and every step of the
quickstart ran with 1 thread (211 s instead of 147 s). Where ``/proc`` is missing (not Linux) the
load average is the fallback, with that flaw.

The command applies the count at its start (:func:`apply`); ``alpool all`` measures again before
every step (:func:`refresh`), so a chain backs off when the machine gets busy and uses every core
again when it is idle. Worker processes inherit the count through ``$ALPOOL_THREADS`` (a process
pool's workers get the count chosen for ``--workers``; a Ray task runs with the CPUs Ray reserved
for it, ``--cpus-per-trial``). The count and its source are recorded in each step manifest's
``environment``. Float sums depend on how they are split, so bitwise-identical reruns need the same
count: a resumed step that would mix counts says so in one line (see :func:`mixed_message`); pass
``--threads`` to pin it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from alpool.core.errors import ConfigError
from alpool.rundir.step_process import SOURCE_ENV

ENV = "ALPOOL_THREADS"
CHOOSER_ENV = "ALPOOL_THREADS_CHOOSER"  # pid of the process whose policy measured the count
POLICY = "policy"
SAMPLE_SECONDS = 0.3  # window of the idle-core measurement (about 0.3 s added to each command and step)


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and where it came from (recorded in manifests)."""

    threads: int
    source: str


def cores() -> int:
    """Return the CPU cores this process may run on."""
    return len(_my_cpus()) or os.cpu_count() or 1


def _my_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set()


def _load() -> float:
    """Return the 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _cpu_jiffies(cpus: set[int]) -> tuple[int, int] | None:
    """Return (busy, total) clock ticks of ``cpus`` since boot from ``/proc/stat``; None without it.

    Busy is everything but idle and iowait (steal counts as busy: another guest had the core).
    """
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = total = 0
    for line in lines:
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(ticks)
        busy += sum(ticks) - ticks[3] - ticks[4]
    return (busy, total) if total else None


def _own_jiffies() -> int:
    """Return the clock ticks (user + system) used so far by this process and its live descendants."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid ... utime stime
        parent[int(entry.name)], ticks[int(entry.name)] = int(fields[1]), int(fields[11]) + int(fields[12])
    ours, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        ours.add(pid)
        todo += [child for child, up in parent.items() if up == pid and child not in ours]
    return sum(ticks.get(pid, 0) for pid in ours)


def busy_elsewhere(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Return how many of this process's cores other programs kept busy over the next ``seconds``.

    The busy time of the cores minus the time this process and its children used (so a chain's own
    previous step, or its own running threads, never count). None where ``/proc`` is missing.
    """
    cpus = _my_cpus()
    before = _cpu_jiffies(cpus) if cpus else None
    if before is None:
        return None
    own_before = _own_jiffies()
    time.sleep(seconds)
    after, own_after = _cpu_jiffies(cpus), _own_jiffies()
    if after is None or after[1] <= before[1]:
        return None
    per_core = (after[1] - before[1]) / len(cpus)  # ticks that passed on each core
    return max(0.0, (after[0] - before[0] - (own_after - own_before)) / per_core)


def _from_env(name: str) -> int | None:
    """Return a positive integer environment variable, or None when unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"${name}={text!r} is not a positive integer; set e.g. {name}=1 or unset it")
    return int(text)


def policy(workers: int = 1, n_cores: int | None = None, busy: float | None = None) -> int:
    """Return the policy's threads per process: the cores others leave idle, shared by ``workers``, at least 1.

    ``busy`` is the cores other programs use (measured by :func:`busy_elsewhere` when None); half a
    busy core or more counts as a whole one.
    """
    n_cores = cores() if n_cores is None else n_cores
    busy = _measure()[0] if busy is None else busy
    idle = max(1, int(n_cores - busy + 0.5))
    return max(1, idle // max(1, workers))


def _measure() -> tuple[float, str]:
    """Return the cores other programs use and how that was measured."""
    busy = busy_elsewhere()
    if busy is not None:
        return busy, f"{busy:.1f} busy with other programs"
    load = _load()
    return load, f"load {load:.1f}"


def choose(requested: int | None = None, workers: int = 1) -> ThreadChoice:
    """Return the thread count per process: ``--threads``, the environment, or :func:`policy`.

    A count this very process measured earlier (``$ALPOOL_THREADS`` set by its own :func:`apply`
    from the policy) is measured again; one inherited from a parent process is kept.
    """
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"--threads {requested} must be at least 1")
        return ThreadChoice(requested, "--threads")
    inherited = _from_env(ENV)
    if inherited is not None and not _measured_here():
        return ThreadChoice(inherited, os.environ.get(SOURCE_ENV) or f"${ENV}")
    value = _from_env("OMP_NUM_THREADS")
    if value is not None:
        return ThreadChoice(value, "$OMP_NUM_THREADS")
    n_cores, (busy, measured) = cores(), _measure()
    return ThreadChoice(policy(workers, n_cores, busy), f"{POLICY}: {n_cores} cores, {measured}, {workers} worker(s)")


def _measured_here() -> bool:
    """Return whether this process applied a count that its own policy measured."""
    return (os.environ.get(SOURCE_ENV, "").startswith(POLICY)
            and os.environ.get(CHOOSER_ENV) == str(os.getpid()))


def refresh(workers: int = 1) -> ThreadChoice | None:
    """Measure again before the next step of a chain and apply the count; None (nothing changed) unless
    this process's count came from its own policy (a pinned or inherited count stays)."""
    if not _measured_here():
        return None
    choice = choose(workers=workers)
    apply(choice)
    return choice


def apply(choice: ThreadChoice) -> None:
    """Set torch's threads in this process and pass the count on to worker processes."""
    os.environ[ENV] = str(choice.threads)
    os.environ[SOURCE_ENV] = choice.source
    os.environ[CHOOSER_ENV] = str(os.getpid())  # a child process keeps this count; this one may measure again
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
