"""Packaging and layering: presets ship as package data, the wheel runs from any folder, imports point down."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from alpool.core.errors import ConfigError
from alpool.presets import load_preset, preset_names

REPO = Path(__file__).parents[1]
SRC = REPO / "src" / "alpool"


def test_presets_are_found_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert {"quickstart", "fashion-mnist", "cs-pathmnist"} <= set(preset_names())
    name, preset = load_preset("quickstart")
    assert name == "quickstart" and preset.dataset == "digits"


def test_a_local_preset_overrides_a_shipped_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "quickstart.toml").write_text('dataset = "digits"\ndescription = "mine"\n')
    (tmp_path / "presets" / "own.toml").write_text('dataset = "digits"\ndescription = "own"\n')
    assert load_preset("quickstart")[1].description == "mine"
    assert "own" in preset_names()
    with pytest.raises(ConfigError, match="did you mean 'quickstart'"):
        load_preset("quikstart")


def _imports(path: Path) -> set[str]:
    """Return the alpool modules ``path`` imports (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("alpool")}


def test_nothing_below_stages_imports_stages() -> None:
    """Dependencies point down (cli -> stages -> everything else): only cli/ and stages/ import stages."""
    offenders = [f"{path.relative_to(SRC)} imports {module}"
                 for path in SRC.rglob("*.py") if path.parent.name not in ("cli", "stages")
                 for module in _imports(path) if module.startswith("alpool.stages")]
    assert offenders == []


@pytest.mark.slow
def test_wheel_installs_and_runs_the_quickstart_first_step() -> None:
    """Build the wheel, install it into a fresh venv and run ``pretrain`` of the quickstart from a temp folder."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(REPO / ".ci" / "wheel-check")], capture_output=True, text=True, timeout=900,
                          env={**env, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "wheel-check: ok" in done.stdout
