"""Typed per-entry parameters (selector, scorer and task options) built from loose key=value input."""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from alpool.core.errors import ConfigError


class Params(BaseModel):
    """Base of every registry entry's options: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)
AnyParams = Params  # the class attribute ``Configurable.Params`` shadows the name inside the class


class Configurable:
    """Base of every registry member built from validated options (selector, scorer, task, framework).

    Subclasses set ``Params`` (a :class:`Params` model) and narrow ``params``' annotation.
    """

    Params: ClassVar[type[Params]] = Params

    def __init__(self, params: AnyParams | None = None) -> None:
        self.params = params if params is not None else self.Params()


def build_params(model: type[P], values: dict[str, Any], owner: str) -> P:
    """Validate ``values`` against ``model`` with a one-line error naming the bad key or value."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(map(str, first["loc"])) or "(options)"
        valid = ", ".join(model.model_fields) or "none"
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{owner} has no option {key!r} (its options: {valid})") from None
        if first["type"] == "missing":
            flag = key.replace("_", "-")
            raise ConfigError(f"{owner} needs option {key!r}: give --param {key}=VALUE "
                              f"(or --{flag} VALUE where the command has that flag)") from None
        raise ConfigError(f"{owner} option {key}={first.get('input')!r}: {first['msg']} "
                          f"(its options: {valid})") from None


def option_rows(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """Return ``(option, default, description)`` per field of ``model`` ("required" without a default)."""
    rows = []
    for name, field in model.model_fields.items():
        value = "required" if field.is_required() else _shown(field.get_default(call_default_factory=True))
        rows.append((name, value, field.description or ""))
    return rows


def _shown(value: Any) -> str:
    """Return a default as typed after ``--param KEY=``: plain strings, lower-case booleans, JSON otherwise."""
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def validation_message(exc: ValidationError, owner: str) -> str:
    """Turn the first error of a pydantic validation into one line naming the field and value."""
    first = exc.errors()[0]
    key = ".".join(map(str, first["loc"])) or "(value)"
    if first["type"] == "extra_forbidden":
        return f"{owner}: unknown setting {key!r}"
    return f"{owner}: {key}={first.get('input')!r}: {first['msg']}"


def parse_key_values(pairs: list[str], flag: str = "--param") -> dict[str, str]:
    """Parse ``["k=v", ...]`` (CLI ``--param``, ``--train``) into a dict; pydantic coerces the types later."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r} is not KEY=VALUE; write e.g. {flag} k=20")
        result[key.strip().replace("-", "_")] = value.strip()
    return result
