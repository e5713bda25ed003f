"""One conversion of numpy values (and paths) to plain JSON types, for manifests and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def json_default(value: Any) -> Any:
    """Convert one value ``json.dumps`` cannot write (numpy scalar or array, path), else refuse."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy scalars and arrays inside dicts and lists turned into plain Python."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def json_default_or_str(value: Any) -> Any:
    """Like :func:`json_default`, but write anything else as its ``str`` (free-form info records)."""
    try:
        return json_default(value)
    except TypeError:
        return str(value)
