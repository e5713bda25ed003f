"""Find and read preset files: ``./presets/<name>.toml`` first, then the presets shipped with alpool.

The shipped presets live in the repository's top-level ``presets/`` folder (DESIGN.md's top level).
``alpool/presets/shipped`` is a symbolic link to it, so a source checkout and an editable install
read them in place and the wheel carries them as package data (``alpool/presets/shipped/*.toml``,
read through :mod:`importlib.resources`): an installed alpool finds them from any folder.
"""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import ValidationError

from alpool.core.config import Preset
from alpool.core.errors import ConfigError
from alpool.core.params import validation_message

LOCAL_DIR = Path("presets")  # a user's own presets, relative to the current folder
SHIPPED = "shipped"  # the package-data folder of the shipped presets (a link to the repository's presets/)


def _shipped() -> dict[str, Traversable]:
    """Return the presets shipped with alpool by name."""
    folder = resources.files(__name__) / SHIPPED
    if not folder.is_dir():
        raise ConfigError(f"alpool's shipped presets are missing ({folder}); reinstall alpool, or in a checkout "
                          "restore the link src/alpool/presets/shipped -> ../../../presets (git checkout it)")
    return {p.name.removesuffix(".toml"): p for p in folder.iterdir() if p.name.endswith(".toml")}


def _local() -> dict[str, Traversable]:
    """Return the presets of ``./presets`` by name."""
    folder = Path.cwd() / LOCAL_DIR
    return {p.stem: p for p in folder.glob("*.toml")} if folder.is_dir() else {}


def preset_names() -> list[str]:
    """Return the names of every preset found (local and shipped)."""
    return sorted(set(_shipped()) | set(_local()))


def find_preset(name: str) -> Traversable:
    """Return the file of preset ``name`` (a name or a path to a .toml file); a local one wins."""
    path = Path(name)
    if path.suffix == ".toml":
        if path.exists():
            return path
        raise ConfigError(f"preset file {name!r} does not exist")
    found = {**_shipped(), **_local()}
    if name in found:
        return found[name]
    names = sorted(found)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown preset {name!r}{hint} (choices: {', '.join(names) or 'none found'}; "
                      "or pass a path to a .toml file)")


def load_preset(name: str) -> tuple[str, Preset]:
    """Read and validate a preset; return its name and content."""
    path = find_preset(name)
    stem = path.name.removesuffix(".toml")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"preset {path} is not valid TOML ({exc})") from None
    try:
        return stem, Preset.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"preset {path}")) from None
