"""Class names that cannot drift: the class list grows only when asked, near-duplicates are refused.

The decisions:

- The first import declares the class list: ``--classes`` if given, else the labels it holds (and
  says so). Every later import inherits it.
- A label outside the list is refused unless it is named with ``--new-class NAME`` (or listed in
  ``--classes``, which may then only add to the list).
- A name that is a near-duplicate of a known class is refused naming both, flag or not, when the two
  differ only in case, spaces or punctuation (``Eight`` / ``eight``, ``seven.`` / ``seven``); when one
  has a letter more or two neighbours swapped (``seven`` / ``sevn`` / ``sveen``, names of 4+ letters) a
  plain label is refused, and an explicit ``--new-class`` is taken as the person's decision. A
  different letter (``horse`` / ``house``, ``type-a`` / ``type-b``, ``class1`` / ``class2``) is not a
  near-duplicate: such names are often distinct classes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from alpool.core.errors import ConfigError

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normal(name: str) -> str:
    """Return ``name`` without case, spaces or punctuation (NFKC): what two spellings of one class share."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", name).casefold())


def one_edit_apart(a: str, b: str) -> bool:
    """Return whether ``a`` and ``b`` differ by one inserted or deleted letter, or a swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def near(name: str, known: Iterable[str]) -> tuple[str, str] | None:
    """Return ``(known class, how they differ)`` for the first known class ``name`` nearly duplicates."""
    for other in known:
        if other == name:
            continue
        if normal(other) == normal(name):
            return other, "they differ only in case, spaces or punctuation"
        if min(len(normal(other)), len(normal(name))) >= 4 and one_edit_apart(normal(other), normal(name)):
            return other, "they are one typo apart"
    return None


def check_new_names(names: list[str], known: list[str], flag: str) -> None:
    """Refuse explicitly added class names that are empty, repeated or a case/punctuation twin of another."""
    if any(not n.strip() for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"{flag} {', '.join(map(repr, names))} has empty or repeated names; list each class once")
    for i, name in enumerate(names):
        twin = near(name, [*known, *names[:i]])
        if twin is not None and twin[1].startswith("they differ only"):
            raise ConfigError(f"{flag} {name!r} is a near-duplicate of the class {twin[0]!r} ({twin[1]}); "
                              f"use {twin[0]!r}")


def grow(known: list[str] | None, labels: dict[str, str]) -> list[str]:
    """Return the class list after an import.

    Args:
        known: the class list so far, with the names the person adds on purpose (``--classes`` /
            ``--new-class``, already checked); ``None``: the first import, which declares its labels.
        labels: every distinct label of the file -> where it first appears ("labels.csv line 4").

    Raises:
        ConfigError: a label is a near-duplicate of a known class or of another label of the file, or
            (after the first import) a new name that was not added on purpose.
    """
    base = list(known or [])
    for label, where in labels.items():
        if label in base:
            continue
        twin = near(label, [*base, *(x for x in labels if x != label and (x in base or x < label))])
        if twin is not None:
            raise ConfigError(f"{where}: label {label!r} is a near-duplicate of the class {twin[0]!r} ({twin[1]}); "
                              f"write {twin[0]!r}, or, if it is another class, add it with --new-class {label!r}")
        if known is not None:
            raise ConfigError(f"{where}: label {label!r} is not one of the classes ({', '.join(base)}); fix the "
                              f"label, or add the class with --new-class {label!r}")
    return base + sorted(label for label in labels if label not in base)
