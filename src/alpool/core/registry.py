"""One generic registry for every kind of named thing (datasets, models, tasks, scorers, ...).

Entries of the package registries are *declared*: name, defining module, one-line description and
metadata, in the package's ``__init__``. Names, descriptions and metadata (what ``--help``,
``alpool list`` and did-you-mean errors need) are then known without importing the module, so the
command line starts without torch, scikit-learn, scipy or pandas. The module is imported on the
first :meth:`Registry.get`; its definition-site decorator ``@REG.register(name)`` binds the object.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from alpool.core.errors import UnknownNameError
from alpool.core.params import Configurable, Params, build_params

T = TypeVar("T")
C = TypeVar("C", bound=Configurable)


class Entry(Generic[T]):
    """A registered object with its name, one-line description, metadata and defining module."""

    def __init__(self, registry: Registry[T], name: str, description: str, meta: dict[str, Any],
                 module: str | None = None) -> None:
        self.registry = registry
        self.name = name
        self.description = description
        self.meta = meta
        self.module = module
        self.bound: T | None = None
        self.is_bound = False

    @property
    def obj(self) -> T:
        """Return the registered object, importing its module on first use."""
        if not self.is_bound and self.module is not None:
            importlib.import_module(self.module)
            if not self.is_bound:
                raise RuntimeError(f"{self.module} does not register {self.registry.kind} {self.name!r}")
        return self.bound  # type: ignore[return-value]


class Registry(Generic[T]):
    """Name -> object mapping: declared up front (lazy) or filled by decorators (eager).

    Example:
        >>> SCORERS: Registry[type] = Registry("scorer")
        >>> @SCORERS.register("entropy", "Shannon entropy of the predicted distribution")
        ... class Entropy: ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def declare(self, name: str, module: str, description: str, **meta: Any) -> None:
        """Declare ``name`` as defined (and registered) in ``module``, imported on first use."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is declared twice")
        self._entries[name] = Entry(self, name, description, dict(meta), module)

    def register(self, name: str, description: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name``."""

        def decorator(obj: T) -> T:
            self.add(name, obj, description, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, description: str | None = None, **meta: Any) -> None:
        """Bind ``obj`` to the declared ``name``, or register a new name with its description.

        A declared name takes no description or metadata here (they are declared once); binding
        one name twice, or registering an undeclared name without a description, is a bug.
        """
        entry = self._entries.get(name)
        if entry is None:
            if description is None:
                raise ValueError(f"{self.kind} {name!r} is not declared: declare it with its description")
            entry = self._entries[name] = Entry(self, name, description, dict(meta))
        elif entry.is_bound or entry.module is None:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        elif description is not None or meta:
            raise ValueError(f"{self.kind} {name!r}: its description and metadata are declared, not repeated")
        entry.bound, entry.is_bound = obj, True

    def entry(self, name: str) -> Entry[T]:
        """Return the entry of ``name`` or raise a did-you-mean error."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def get(self, name: str) -> T:
        """Return the object registered under ``name`` (importing its module on first use)."""
        return self.entry(name).obj

    def load_all(self) -> None:
        """Import every declared module (errors propagate: nothing is skipped silently)."""
        for entry in self._entries.values():
            _ = entry.obj

    def undeclared(self) -> list[str]:
        """Return names registered without a declaration (a package registry must have none)."""
        return sorted(n for n, e in self._entries.items() if e.module is None)

    def unknown_message(self, name: str, among: list[str] | None = None) -> str:
        """Explain that ``name`` is unknown, with the closest of ``among`` (default: every name)."""
        choices = self.names() if among is None else among
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (choices: {', '.join(choices)})"

    def names(self, **meta: Any) -> list[str]:
        """Return every registered name, sorted; ``names(query=True)`` keeps entries with that metadata."""
        return sorted(n for n, e in self._entries.items()
                      if all(e.meta.get(k, False) == v for k, v in meta.items()))

    def entries(self) -> list[Entry[T]]:
        """Return every entry, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def choices_help(self, **meta: Any) -> str:
        """Return 'a, b, c' for option help texts."""
        return ", ".join(self.names(**meta))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


class ClassRegistry(Registry[type[C]]):
    """A registry of :class:`~alpool.core.params.Configurable` classes built from validated options."""

    def params_model(self, name: str) -> type[Params]:
        """Return the options model of ``name`` (imports its module)."""
        return self.get(name).Params

    def create(self, name: str, params: Mapping[str, Any] | None = None) -> C:
        """Build ``name`` with ``params`` validated against its ``Params`` (one-line errors)."""
        cls = self.get(name)
        return cls(build_params(cls.Params, dict(params or {}), f"{self.kind} {name!r}"))


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports ``name`` from ``exports[name]`` on first access.

    Package ``__init__`` modules use it to re-export torch-backed classes without importing torch
    when only the registry (names, descriptions) is needed.
    """

    def getattr_(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return getattr_
