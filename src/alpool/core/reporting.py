"""The one progress and warning hook between the library and the CLI.

Library code never prints. It calls :func:`progress` for long loops, :func:`info` for short
messages and :func:`warning` for something the user should know that does not stop the step; the
CLI installs a :class:`Reporter` that renders them: rich bars on a terminal, :class:`PlainReporter`
lines when stderr goes to a log or a pipe, and warnings alone under ``--quiet``. The default
reporter is silent except for warnings, which it turns into Python warnings
(:class:`~alpool.core.errors.AlpoolWarning`), so the library is quiet when used from Python or tests and
still says what matters.

Warnings are the one route for everything the user should know: besides being shown, each is
recorded in the manifest of the step it belongs to (:func:`recording_warnings`, opened by the run
directory's step writer): a warning said while a step is open belongs to it; one said while no step
is open (an input checked before the step folder exists) belongs to the next step that opens.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

from alpool.core.errors import AlpoolWarning

T = TypeVar("T")


class Reporter:
    """Silent reporter; subclasses render progress and messages."""

    def start(self, description: str, total: int | None) -> object:
        """Begin a task and return a handle for :meth:`advance`."""
        return None

    def advance(self, handle: object, amount: int = 1, status: str = "") -> None:
        """Advance a task by ``amount`` steps, optionally with a short status text."""

    def stop(self, handle: object) -> None:
        """End a task."""

    def info(self, message: str) -> None:
        """Show a short message."""

    def warning(self, message: str) -> None:
        """Show a warning: this silent reporter hands it to Python's warnings (an AlpoolWarning)."""
        warnings.warn(message, AlpoolWarning, stacklevel=4)  # the caller of reporting.warning


@dataclass
class _Plain:
    """State of one task of :class:`PlainReporter`."""

    description: str
    total: int | None
    depth: int
    done: int = 0
    status: str = ""
    started: float = field(default_factory=time.monotonic)


class PlainReporter(Reporter):
    """Plain progress lines for logs: step, done/total, elapsed and ETA, every ``interval`` seconds.

    Each outermost task prints a line when it starts and when it ends; while tasks run, a line per
    running task is printed at most every ``interval`` seconds (nested tasks indented). Messages are
    printed as they come. Nothing is redrawn, so a log of a long run stays readable.
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 30.0) -> None:
        self.stream = stream
        self.interval = interval
        self.tasks: list[_Plain] = []
        self.last_print = time.monotonic()

    def start(self, description: str, total: int | None) -> object:
        """Begin a task (an outermost one is announced at once)."""
        task = _Plain(description, total, len(self.tasks))
        self.tasks.append(task)
        if task.depth == 0:
            self._print(f"{description}: started" + (f" ({total} to do)" if total else ""))
        return task

    def advance(self, handle: object, amount: int = 1, status: str = "") -> None:
        """Count progress; print the running tasks when ``interval`` seconds have passed."""
        if not isinstance(handle, _Plain):
            return
        handle.done += amount
        handle.status = status or handle.status
        if time.monotonic() - self.last_print >= self.interval:
            for task in self.tasks:
                self._print(progress_line(task.description, task.done, task.total,
                                          time.monotonic() - task.started, task.status, task.depth))

    def stop(self, handle: object) -> None:
        """End a task (an outermost one prints its total time)."""
        if not isinstance(handle, _Plain):
            return
        if handle in self.tasks:
            self.tasks.remove(handle)
        if handle.depth == 0:
            count = f"{handle.done}/{handle.total}" if handle.total else str(handle.done)
            self._print(f"{handle.description}: finished {count} in "
                        f"{format_seconds(time.monotonic() - handle.started)}")

    def info(self, message: str) -> None:
        """Print a message."""
        self._print(message)

    def warning(self, message: str) -> None:
        """Print ``warning: message``."""
        self._print(f"warning: {message}")

    def _print(self, line: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        print(line, file=stream, flush=True)
        self.last_print = time.monotonic()


def format_seconds(seconds: float) -> str:
    """Return ``seconds`` as ``H:MM:SS``."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def progress_line(description: str, done: int, total: int | None, elapsed: float, status: str = "",
                  depth: int = 0) -> str:
    """Return one plain progress line: ``step: done/total (pct), elapsed H:MM:SS, ETA H:MM:SS``."""
    parts = [f"{'  ' * depth}{description}:"]
    if total:
        parts.append(f"{done}/{total} ({100 * done / total:.0f}%),")
    else:
        parts.append(f"{done} done,")
    parts.append(f"elapsed {format_seconds(elapsed)}")
    if total and done:
        parts[-1] += ","
        parts.append(f"ETA {format_seconds(elapsed / done * max(0, total - done))}")
    if status:
        parts.append(f"[{status}]")
    return " ".join(parts)


_current: Reporter = Reporter()


def set_reporter(reporter: Reporter) -> Reporter:
    """Install ``reporter`` and return the previous one."""
    global _current
    previous, _current = _current, reporter
    return previous


def get_reporter() -> Reporter:
    """Return the installed reporter."""
    return _current


def info(message: str) -> None:
    """Send a short message to the installed reporter."""
    _current.info(message)


_pending: list[str] = []  # warnings said while no step records them: the next step that opens takes them
_recording: list[list[str]] = []  # the warnings of each open step, innermost last


def warning(message: str) -> None:
    """Say something the user should know that does not stop the step (shown also under ``--quiet``).

    The message is one line without a ``warning:`` prefix (the renderer adds it); it is recorded in
    the manifest of the step being written (see :func:`recording_warnings`).
    """
    (_recording[-1] if _recording else _pending).append(message)
    _current.warning(message)


@contextmanager
def recording_warnings() -> Iterator[list[str]]:
    """Collect the warnings said until the block ends, starting with those said before it (pending).

    The run directory's step writer opens one per step and records the list in the step's manifest.
    """
    said = list(_pending)
    _pending.clear()
    _recording.append(said)
    try:
        yield said
    finally:
        _recording[:] = [r for r in _recording if r is not said]  # by identity, not by content


def forget_pending() -> None:
    """Drop the warnings no step has taken (at the end of a command)."""
    _pending.clear()


class Task:
    """Handle of one running progress task."""

    def __init__(self, reporter: Reporter, handle: object) -> None:
        self._reporter = reporter
        self._handle = handle

    def advance(self, amount: int = 1, status: str = "") -> None:
        """Advance the task."""
        self._reporter.advance(self._handle, amount, status)


@contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    """Report a long loop as one progress task."""
    reporter = _current
    handle = reporter.start(description, total)
    try:
        yield Task(reporter, handle)
    finally:
        reporter.stop(handle)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` while reporting progress."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with task(description, total) as t:
        for item in items:
            yield item
            t.advance()
