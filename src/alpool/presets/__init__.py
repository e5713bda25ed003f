"""Find and read preset files (``presets/<name>.toml``)."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

from pydantic import ValidationError

from alpool.config import Preset
from alpool.errors import ConfigError
from alpool.params import validation_message


def preset_dirs() -> list[Path]:
    """Return where presets are looked for: ``$PWD/presets``, then the source tree's ``presets/``."""
    source_tree = Path(__file__).resolve().parents[3] / "presets"
    return [Path.cwd() / "presets", source_tree]


def preset_names() -> list[str]:
    """Return the names of every preset found."""
    names = {p.stem for d in preset_dirs() if d.is_dir() for p in d.glob("*.toml")}
    return sorted(names)


def find_preset(name: str) -> Path:
    """Return the file of preset ``name`` (a name or a path to a .toml file)."""
    path = Path(name)
    if path.suffix == ".toml":
        if path.exists():
            return path
        raise ConfigError(f"preset file {name!r} does not exist")
    for folder in preset_dirs():
        candidate = folder / f"{name}.toml"
        if candidate.exists():
            return candidate
    names = preset_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown preset {name!r}{hint} (choices: {', '.join(names) or 'none found'}; "
                      "or pass a path to a .toml file)")


def load_preset(name: str) -> tuple[str, Preset]:
    """Read and validate a preset; return its name and content."""
    path = find_preset(name)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"preset {path} is not valid TOML ({exc})") from None
    try:
        return path.stem, Preset.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"preset {path}")) from None
