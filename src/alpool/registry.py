"""One generic registry for every kind of named thing (datasets, models, tasks, scorers, ...)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from alpool.errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its name, one-line description and free-form metadata."""

    name: str
    obj: T
    description: str
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> object mapping filled by decorators at the definition site.

    Example:
        >>> SCORERS: Registry[type] = Registry("scorer")
        >>> @SCORERS.register("entropy", "Shannon entropy of the predicted distribution")
        ... class Entropy: ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str, **meta: Any) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name``."""

        def decorator(obj: T) -> T:
            self.add(name, obj, description, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, description: str, **meta: Any) -> None:
        """Register ``obj`` under ``name``; a second registration of one name is a bug."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, obj, description, dict(meta))

    def entry(self, name: str) -> Entry[T]:
        """Return the entry of ``name`` or raise a did-you-mean error."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def get(self, name: str) -> T:
        """Return the object registered under ``name``."""
        return self.entry(name).obj

    def unknown_message(self, name: str) -> str:
        """Explain that ``name`` is unknown, with the closest names and every choice."""
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (choices: {', '.join(self.names())})"

    def names(self) -> list[str]:
        """Return every registered name, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Return every entry, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def choices_help(self) -> str:
        """Return 'a, b, c' for option help texts."""
        return ", ".join(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
