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

A :class:`Shared` value is what every job needs besides its own description (for al-run: the opened
run with its dataset, the typed config, the pools and the built framework and queries); ``fn`` gets it
as its first argument. The local executor passes the object itself (nothing is serialised); the
process pool pickles it once per worker process when the worker starts; Ray puts it once into the
object store and each worker process fetches it once. Serialisation happens only there, at the
process or Ray boundary.

Warnings: a job's :func:`alpool.core.reporting.warning` in a worker process (local pool or Ray) is
collected there instead of shown (:func:`call_reporting`) and said again in this process as its result
arrives (:func:`unwrap`), so it is shown once, here, and recorded in the manifest of the step being
written (al-run's), as it is when the job runs in-process.

GPUs: the process pool gives worker ``i`` the ``i``-th visible GPU round-robin through
``CUDA_VISIBLE_DEVICES`` (:func:`assign_gpus`), so several workers never all land on GPU 0 when
several GPUs are visible; on Ray each trial asks for ``--gpus-per-trial`` GPUs and Ray assigns them.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import warnings
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from alpool.core import reporting
from alpool.core.config import Execution
from alpool.core.errors import AlpoolWarning, ConfigError
from alpool.core.registry import Registry

J = TypeVar("J")
R = TypeVar("R")
S = TypeVar("S")


@dataclass(frozen=True)
class Shared(Generic[S]):
    """A value every job needs: ``fn(value, job)`` gets it as an object, sent once per worker process."""

    value: S


def call(fn: Callable[..., R], shared: Shared[Any] | None, job: Any) -> R:
    """Return ``fn(shared.value, job)``, or ``fn(job)`` without a shared value."""
    return fn(job) if shared is None else fn(shared.value, job)


@dataclass(frozen=True)
class Reported(Generic[R]):
    """A job's result and the warnings it said in a worker process."""

    value: R
    warnings: list[str]


def call_reporting(fn: Callable[..., R], shared: Shared[Any] | None, job: Any) -> Reported[R]:
    """Run a job in a worker process, collecting its warnings instead of showing them there."""
    with reporting.recording_warnings() as said, warnings.catch_warnings():
        warnings.simplefilter("ignore", AlpoolWarning)  # the default reporter's display; the parent shows them
        value = call(fn, shared, job)
    return Reported(value, list(said))


def unwrap(reported: Reported[R]) -> R:
    """Say a worker's warnings again in this process (shown, and recorded in the open step); return the result."""
    for message in reported.warnings:
        reporting.warning(message)
    return reported.value


class Executor(Protocol):
    """Runs ``fn`` on every job and yields the results as they finish."""

    def map(self, fn: Callable[..., R], jobs: Iterable[J], shared: Shared[Any] | None = None
            ) -> Generator[R, None, None]:
        """Yield ``fn(job)`` (``fn(shared.value, job)``) for every job; closing the iterator cancels the rest."""
        ...


@dataclass(frozen=True)
class ExecutorRequest:
    """What an executor gets: ``--workers``, the execution options, ``--device``; ``connect=False``
    only checks the options (no cluster joined)."""

    workers: int = 1
    execution: Execution = field(default_factory=Execution)
    device: str = "auto"
    connect: bool = True


class ExecutorRegistry(Registry[Callable[[ExecutorRequest], Executor]]):
    """The executors by name; :meth:`create` also resolves ``auto``."""

    def create(self, request: ExecutorRequest) -> Executor:
        """Build the executor ``request`` names (``auto``: local for one worker, else a process pool).

        Raises:
            UnknownNameError: an unknown executor name.
            ConfigError: options the executor would ignore, Ray not installed or its cluster unreachable.
        """
        return self.get(resolve_executor_name(request.workers, request.execution))(request)


EXECUTORS = ExecutorRegistry("executor")
# Ray's executor is declared (its module imports ray only when it is first used), the local ones are bound below.
EXECUTORS.declare("ray", "alpool.execution.ray_executor",
                  "trials as Ray tasks on a local or remote cluster (pip install 'alpool[ray]')")


@EXECUTORS.register("local", "every trial in this process, one after the other")
class InProcessExecutor:
    """Run jobs one after the other in this process."""

    def __init__(self, request: ExecutorRequest | None = None) -> None:
        _refuse_options(request, "local", workers=True, ray=True)

    def map(self, fn: Callable[..., R], jobs: Iterable[J], shared: Shared[Any] | None = None
            ) -> Generator[R, None, None]:
        """Yield ``fn(job)`` in order, passing the shared value as it is (nothing is copied)."""
        for job in jobs:
            yield call(fn, shared, job)


def _limit_threads(choice: Any) -> None:
    """Apply the thread count the parent chose (:mod:`alpool.execution.threads`) in a worker."""
    from alpool.execution import threads

    threads.apply(choice)


_received: Shared[Any] | None = None  # in a pool worker: the shared value it got once when it started


def _start_worker(threads: Any, gpus: Any, shared: Shared[Any] | None) -> None:
    """Initialise a pool worker: its GPU (before CUDA starts), its threads, then keep the shared value."""
    global _received
    try:
        gpu = gpus.get(timeout=60)
    except queue.Empty:  # more workers than assignments (never with a fixed-size pool)
        gpu = None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _limit_threads(threads)
    _received = shared


def _call_in_worker(fn: Callable[..., R], job: Any) -> Reported[R]:
    """Run one job in a pool worker with the shared value it received when it started."""
    return call_reporting(fn, _received, job)


@EXECUTORS.register("process", "trials in --workers local processes (one GPU each, round-robin)")
class ProcessExecutor:
    """Run jobs in ``workers`` spawned processes, each with the threads of :mod:`alpool.execution.threads`."""

    def __init__(self, request: ExecutorRequest | int) -> None:
        if isinstance(request, int):
            request = ExecutorRequest(request, Execution(executor="process"), "cpu")
        _refuse_options(request, "process", workers=False, ray=True)
        self.workers = request.workers
        visible = visible_gpus(os.environ, _cuda_count) if request.device != "cpu" else []
        self.gpus = assign_gpus(self.workers, visible)

    def map(self, fn: Callable[..., R], jobs: Iterable[J], shared: Shared[Any] | None = None
            ) -> Generator[R, None, None]:
        """Yield results as the workers finish them; on close, cancel the jobs not started."""
        from alpool.execution import threads as thread_policy

        threads = thread_policy.choose(workers=self.workers)  # once, so that every worker has the same count
        context = multiprocessing.get_context("spawn")
        gpus = context.Queue()
        for gpu in self.gpus:
            gpus.put(gpu)
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                   initargs=(threads, gpus, shared))
        pending: set[Future[Reported[R]]] = {pool.submit(_call_in_worker, fn, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield unwrap(future.result())
        except BaseException:  # closed early (Ctrl-C, an error): stop the running jobs too, not only the queued
            _stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes (a pool worker turns Ctrl-C into a job's error and goes on).

    A job killed mid-way loses only its unfinished part: files are written atomically and an AL
    trial's lock dies with its process.
    """
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


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
