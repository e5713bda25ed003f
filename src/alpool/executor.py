"""Executors run independent jobs (AL trials): in-process, in local worker processes, or on Ray.

Every executor yields ``fn(job)`` for every job as the jobs finish (any order) and never changes a
result: a trial derives every random choice from (seed, trial, episode), so only the number of torch
threads per process (float sums depend on how they are split) can make two executors differ. With
one thread per trial process (``OMP_NUM_THREADS=1``, ``--workers`` = cores, or Ray's default
``--cpus-per-trial 1``) every executor reproduces the sequential run bitwise.

How ``--executor`` and ``--workers`` combine: ``--workers N`` is the size of the local process pool.
``auto`` (the default) is ``local`` for one worker and ``process`` for more, so older commands keep
their meaning; ``local`` and ``ray`` refuse ``--workers`` above 1 (on Ray, the cluster's CPUs/GPUs
and ``--cpus-per-trial`` / ``--gpus-per-trial`` decide how many trials run at once).

A :class:`Setup` is state every worker process needs once (the opened run with its dataset): the
local executor installs it in this process, the process pool passes it to each worker when it
starts, Ray puts it once into the object store and each worker process fetches it once.

GPUs: the process pool gives worker ``i`` the ``i``-th visible GPU round-robin through
``CUDA_VISIBLE_DEVICES`` (:func:`assign_gpus`), so several workers never all land on GPU 0 when
several GPUs are visible; on Ray each trial asks for ``--gpus-per-trial`` GPUs and Ray assigns them.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from alpool.config import Execution
from alpool.errors import ConfigError
from alpool.registry import Registry

J = TypeVar("J")
R = TypeVar("R")


@dataclass(frozen=True)
class Setup:
    """Call ``fn(*args)`` once in every process that runs jobs, before its first job (picklable)."""

    fn: Callable[..., None]
    args: tuple[Any, ...]


class Executor(Protocol):
    """Runs ``fn`` on every job and yields the results as they finish."""

    def map(self, fn: Callable[[J], R], jobs: Iterable[J], setup: Setup | None = None) -> Generator[R, None, None]:
        """Yield ``fn(job)`` for every job; closing the iterator cancels the jobs not started."""
        ...


@dataclass(frozen=True)
class ExecutorRequest:
    """What an executor factory gets; ``connect=False`` only checks the options (no cluster joined)."""

    workers: int
    execution: Execution
    device: str
    connect: bool = True


EXECUTORS: Registry[Callable[[ExecutorRequest], Executor]] = Registry("executor")


@EXECUTORS.register("local", "every trial in this process, one after the other")
class InProcessExecutor:
    """Run jobs one after the other in this process."""

    def __init__(self, request: ExecutorRequest | None = None) -> None:
        _refuse_options(request, "local", workers=True, ray=True)

    def map(self, fn: Callable[[J], R], jobs: Iterable[J], setup: Setup | None = None) -> Generator[R, None, None]:
        """Yield ``fn(job)`` in order."""
        if setup is not None:
            setup.fn(*setup.args)
        for job in jobs:
            yield fn(job)


def _limit_threads(choice: Any) -> None:
    """Apply the thread count the parent chose (:mod:`alpool.threads`) in a worker."""
    from alpool import threads

    threads.apply(choice)


def _start_worker(threads: Any, gpus: Any, setup: Setup | None) -> None:
    """Initialise a pool worker: its GPU (before CUDA starts), its threads, then the shared setup."""
    try:
        gpu = gpus.get(timeout=60)
    except queue.Empty:  # more workers than assignments (never with a fixed-size pool)
        gpu = None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _limit_threads(threads)
    if setup is not None:
        setup.fn(*setup.args)


@EXECUTORS.register("process", "trials in --workers local processes (one GPU each, round-robin)")
class ProcessExecutor:
    """Run jobs in ``workers`` spawned processes, each with the threads of :mod:`alpool.threads`."""

    def __init__(self, request: ExecutorRequest | int) -> None:
        if isinstance(request, int):
            request = ExecutorRequest(request, Execution(executor="process"), "cpu")
        _refuse_options(request, "process", workers=False, ray=True)
        self.workers = request.workers
        visible = visible_gpus(os.environ, _cuda_count) if request.device != "cpu" else []
        self.gpus = assign_gpus(self.workers, visible)

    def map(self, fn: Callable[[J], R], jobs: Iterable[J], setup: Setup | None = None) -> Generator[R, None, None]:
        """Yield results as the workers finish them; on close, cancel the jobs not started."""
        from alpool import threads as thread_policy

        threads = thread_policy.choose(workers=self.workers)  # once, so that every worker has the same count
        context = multiprocessing.get_context("spawn")
        gpus = context.Queue()
        for gpu in self.gpus:
            gpus.put(gpu)
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                   initargs=(threads, gpus, setup))
        pending: set[Future[R]] = {pool.submit(fn, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def assign_gpus(workers: int, visible: Sequence[str]) -> list[str | None]:
    """Return the ``CUDA_VISIBLE_DEVICES`` value of each worker: visible GPUs round-robin, None without GPUs.

    Args:
        workers: number of pool workers.
        visible: the GPU ids this process may use (as in ``CUDA_VISIBLE_DEVICES``).

    Returns:
        ``[workers]`` GPU ids (worker ``i`` gets ``visible[i % len(visible)]``), or ``None`` each
        (leave the environment alone) when no GPU is visible.
    """
    if not visible:
        return [None] * workers
    return [visible[i % len(visible)] for i in range(workers)]


def visible_gpus(environ: Any, count: Callable[[], int]) -> list[str]:
    """Return the GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``0..count()-1``."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    return [str(i) for i in range(count())]


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _make_ray(request: ExecutorRequest) -> Executor:
    from alpool.ray_executor import RayExecutor

    return RayExecutor(request)


EXECUTORS.add("ray", _make_ray, "trials as Ray tasks on a local or remote cluster (pip install 'alpool[ray]')")


def _refuse_options(request: ExecutorRequest | None, name: str, workers: bool, ray: bool) -> None:
    """Refuse options that the chosen executor would silently ignore."""
    if request is None:
        return
    if workers and request.workers > 1:
        raise ConfigError(f"--workers {request.workers} sizes the local process pool, not --executor {name}; "
                          "use --executor process --workers N, or drop --workers")
    options = request.execution
    if ray and (options.ray_address is not None or options.gpus_per_trial is not None or options.cpus_per_trial != 1):
        raise ConfigError(f"--ray-address / --gpus-per-trial / --cpus-per-trial apply to --executor ray, not {name}; "
                          "add --executor ray or drop them")


def resolve_executor_name(workers: int, execution: Execution) -> str:
    """Return the executor to use: ``auto`` is ``local`` for one worker, else ``process``."""
    if execution.executor == "auto":
        return "local" if workers <= 1 else "process"
    return execution.executor


def make_executor(workers: int, execution: Execution | None = None, device: str = "auto",
                  connect: bool = True) -> Executor:
    """Return the executor of ``execution`` (default: in-process for one worker, else a process pool).

    Args:
        workers: size of the local process pool (``--workers``).
        execution: executor name and its options.
        device: the run's ``--device``.
        connect: join (or start) a cluster now and check its resources; False only checks options.

    Raises:
        UnknownNameError: an unknown executor name.
        ConfigError: options the executor would ignore, Ray not installed or its cluster unreachable.
    """
    execution = execution or Execution()
    name = resolve_executor_name(workers, execution)
    return EXECUTORS.get(name)(ExecutorRequest(workers, execution, device, connect))
