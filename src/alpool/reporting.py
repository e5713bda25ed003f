"""The one progress hook between the library and the CLI.

Library code never prints. It calls :func:`progress` for long loops and :func:`info` for short
messages; the CLI installs a :class:`Reporter` that renders them with rich. The default reporter is
silent, so the library is quiet when used from Python or tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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
