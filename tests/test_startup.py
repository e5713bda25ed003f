"""Start-up: help, list and argument errors import neither torch nor scikit-learn, scipy, pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import alpool

# Runs each command in turn in one fresh interpreter; after each, the heavy modules imported so far.
PROBE = """
import json, runpy, sys
heavy = ("torch", "sklearn", "scipy", "pandas")
results = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["alpool", *args]
    try:
        runpy.run_module("alpool", run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code
    results.append({"args": args, "code": code, "heavy": sorted(m for m in heavy if m in sys.modules)})
print(json.dumps(results))
"""

CHEAP = [
    (["--help"], 0), (["al-run", "--help"], 0), (["init-pool", "--help"], 0), (["pretrain", "--help"], 0),
    (["rank", "--help"], 0), (["analyze", "--help"], 0), (["all", "--help"], 0), (["list", "datasets"], 0),
    (["list", "selectors"], 0),
    (["list", "selectr"], 2),               # unknown kind: did-you-mean error
    (["al-run", "--episodes", "many"], 2),  # argument error from the parser
    (["rank"], 2),                          # missing required option
]


def run_in_fresh_python(commands: list[list[str]], cwd: Path) -> list[dict]:
    """Run ``alpool ARGS`` for each command in one new interpreter; return code and heavy modules per command."""
    env = {**os.environ, "PYTHONPATH": str(Path(alpool.__file__).parents[1]), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cheap_commands_import_no_heavy_library(tmp_path: Path) -> None:
    results = run_in_fresh_python([args for args, _ in CHEAP], tmp_path)
    assert [r["code"] for r in results] == [code for _, code in CHEAP]
    for result in results:
        assert result["heavy"] == [], f"`alpool {' '.join(result['args'])}` imported {result['heavy']}"


def test_the_probe_sees_heavy_imports(tmp_path: Path) -> None:
    """The probe can fail: listing options builds the selector classes, which imports torch."""
    (result,) = run_in_fresh_python([["list", "selectors", "--params"]], tmp_path)
    assert result["code"] == 0 and "torch" in result["heavy"]
