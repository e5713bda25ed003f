"""The run directory a command uses when none is given: the one the previous command in this folder used."""

from __future__ import annotations

from pathlib import Path

from alpool.core.atomic_files import atomic_write_text

POINTER = Path(".alpool") / "last-run"  # in the current folder: the absolute path of the last run directory


def remember_run(root: Path, cwd: Path | None = None) -> None:
    """Remember ``root`` as the run directory of the next command run from ``cwd``."""
    pointer = (cwd or Path.cwd()) / POINTER
    atomic_write_text(pointer, str(Path(root).resolve()) + "\n")


def last_run(cwd: Path | None = None) -> Path | None:
    """Return the run directory the previous command used, if any."""
    pointer = (cwd or Path.cwd()) / POINTER
    if not pointer.exists():
        return None
    text = pointer.read_text().strip()
    return Path(text) if text else None
