"""Executors run independent jobs (AL trials): in-process by default, or in worker processes.

A distributed engine plugs in by implementing :class:`Executor` (``map`` over picklable jobs with
a picklable module-level function); results may arrive in any order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Protocol, TypeVar

J = TypeVar("J")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` on every job and yields the results as they finish."""

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        """Yield ``fn(job)`` for every job."""
        ...


class InProcessExecutor:
    """Run jobs one after the other in this process."""

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        """Yield ``fn(job)`` in order."""
        for job in jobs:
            yield fn(job)


def _limit_threads(count: int, source: str) -> None:
    """Apply the count the parent chose (:mod:`alpool.threads`) in a worker."""
    from alpool import threads

    threads.apply(threads.ThreadChoice(count, source))


class ProcessExecutor:
    """Run jobs in ``workers`` spawned processes, each with the threads of :mod:`alpool.threads`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        """Yield results as the workers finish them."""
        from alpool import threads

        choice = threads.choose(workers=self.workers)  # once, so that every worker has the same count
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_limit_threads,
                                 initargs=(choice.threads, choice.source)) as pool:
            futures = [pool.submit(fn, job) for job in jobs]
            for future in as_completed(futures):
                yield future.result()


def make_executor(workers: int) -> Executor:
    """Return the in-process executor for one worker, else a process pool."""
    return InProcessExecutor() if workers <= 1 else ProcessExecutor(workers)
