"""Start-up: help, list and argument errors import neither torch nor scikit-learn, scipy, pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import alpool

PROBE = """
import json, runpy, sys
sys.argv = ["alpool", *json.loads(sys.argv[1])]
try:
    runpy.run_module("alpool", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = ("torch", "sklearn", "scipy", "pandas")
print(json.dumps({"code": code, "heavy": sorted(m for m in heavy if m in sys.modules)}))
"""


def imported_by(args: list[str], cwd: Path) -> dict:
    """Run ``alpool ARGS`` in a fresh interpreter; return its exit code and the heavy modules it imported."""
    env = {**os.environ, "PYTHONPATH": str(Path(alpool.__file__).parents[1]), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args, code", [
    (["--help"], 0),
    (["al-run", "--help"], 0),
    (["init-pool", "--help"], 0),
    (["pretrain", "--help"], 0),
    (["rank", "--help"], 0),
    (["analyze", "--help"], 0),
    (["all", "--help"], 0),
    (["list", "datasets"], 0),
    (["list", "selectors"], 0),
    (["list", "selectr"], 2),             # unknown kind: did-you-mean error
    (["al-run", "--episodes", "many"], 2),  # argument error from the parser
    (["rank"], 2),                        # missing required option
])
def test_cheap_commands_import_no_heavy_library(args: list[str], code: int, tmp_path: Path) -> None:
    result = imported_by(args, tmp_path)
    assert result["code"] == code
    assert result["heavy"] == [], f"`alpool {' '.join(args)}` imported {result['heavy']}"


def test_a_step_does_import_torch(tmp_path: Path) -> None:
    """The probe can fail: building a selector imports its module and torch."""
    assert "torch" in imported_by(["list", "selectors", "--params"], tmp_path)["heavy"]
