"""Every loop command killed with SIGKILL at any write finishes when rerun unchanged, as if never killed.

Each case copies a prepared run, runs the command in a subprocess that kills itself (a real
``kill -9``, see ``kill_driver.py``) at its k-th file write, either just after the write or in the
middle of it, reruns the same command, and compares the run with an uninterrupted one: the same
step folders, the same files with the same bytes (manifests: the same config, inputs and outputs),
no temporary files, no unfinished step folder, no skipped round number. A third run says "already
finished" and exits 0. The default run tries one moment per command; ``-m slow`` tries every write.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_labelling_loop import annotate

DRIVER = Path(__file__).with_name("kill_driver.py")
SRC = Path(__file__).resolve().parents[1] / "src"


def run_alpool(cwd: Path, args: list[str], kill_at: int = 0, mode: str = "after",
               count: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``alpool ARGS`` in a subprocess that dies at write ``kill_at`` (0: never)."""
    env = {**os.environ, "ALPOOL_KILL_AT": str(kill_at), "ALPOOL_KILL_MODE": mode, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    if count is not None:
        env["ALPOOL_WRITES_FILE"] = str(count)
    return subprocess.run([sys.executable, str(DRIVER), *args, "-q"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def state(run: Path) -> dict[str, object]:
    """Return what a run holds: every file's bytes, manifests reduced to what they decide."""
    out: dict[str, object] = {}
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        rel = path.relative_to(run).as_posix()
        if path.name.endswith(".lock"):
            continue
        if path.name == "manifest.json":
            m = json.loads(path.read_text())
            out[rel] = {k: m[k] for k in ("kind", "name", "config", "inputs", "outputs", "oracle")}
        elif rel == "run.json":
            m = json.loads(path.read_text())
            out[rel] = sorted((s["kind"], s["name"]) for s in m["steps"])
        else:
            out[rel] = path.read_bytes()
    return out


def leftovers(run: Path) -> list[str]:
    """Return temporary files, process records of finished steps and unfinished step folders."""
    found = [p.relative_to(run).as_posix() for p in run.rglob("*") if ".tmp-" in p.name]
    for folder in run.glob("*/*"):
        if folder.is_dir() and not folder.name.startswith(".") and folder.parent.name != "cache":
            if not (folder / "manifest.json").exists():
                found.append(f"{folder.relative_to(run).as_posix()} (unfinished)")
            elif (folder / ".process.json").exists():
                found.append(f"{folder.relative_to(run).as_posix()}/.process.json")
    return found


@pytest.fixture(scope="module")
def prepared(folder_run: tuple[Path, Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with round 1 imported and the labels of round 2 ready; returns the folder holding both."""
    _, run, truth = folder_run
    base = tmp_path_factory.mktemp("kills")
    shutil.copytree(run, base / "run")
    annotate(base / "run" / "exports" / "typiclust-6" / "to_label.csv", truth, base / "labels1.csv")
    classes = ",".join(sorted(set(truth.values())))
    result = run_alpool(base, ["import-labels", str(base / "labels1.csv"), "--classes", classes, "--run-dir", "run"])
    assert result.returncode == 0, result.stderr
    picked = {r["path"] for r in csv.DictReader((base / "run" / "exports" / "typiclust-6" / "to_label.csv").open())}
    rest = [p for p in sorted(truth) if p not in picked][:5]
    (base / "labels2.csv").write_text("path,label\n" + "".join(f"{p},{truth[p]}\n" for p in rest))
    return base


COMMANDS = {
    "export": ["export", "typiclust-6", "--name", "again", "--copy-to", "copies", "--run-dir", "run"],
    "import-labels": ["import-labels", "labels2.csv", "--run-dir", "run"],
    "next": ["next", "--budget", "4", "--folds", "2", "--copy-to", "copies", "--run-dir", "run"],
}


def reference(prepared: Path, tmp_path: Path, command: str) -> tuple[dict[str, object], int]:
    """Return the state after an uninterrupted run of ``command`` and its number of writes."""
    folder = tmp_path / "reference"
    shutil.copytree(prepared, folder)
    result = run_alpool(folder, COMMANDS[command], count=folder / "writes")
    assert result.returncode == 0, result.stderr
    return state(folder / "run"), int((folder / "writes").read_text())


def kill_and_rerun(prepared: Path, folder: Path, command: str, at: int, mode: str) -> Path:
    """Copy the prepared run, kill ``command`` at write ``at``, rerun it unchanged; return the run."""
    shutil.copytree(prepared, folder)
    killed = run_alpool(folder, COMMANDS[command], kill_at=at, mode=mode)
    assert killed.returncode == -9, (at, mode, killed.returncode, killed.stderr[-2000:])
    again = run_alpool(folder, COMMANDS[command])
    assert again.returncode == 0, (at, mode, again.stderr[-2000:])
    return folder / "run"


def check_case(prepared: Path, tmp_path: Path, command: str, moments: list[tuple[int, str]] | None) -> int:
    expected, writes = reference(prepared, tmp_path, command)
    cases = moments or [(k, mode) for k in range(1, writes + 1) for mode in ("after", "torn")]
    for at, mode in cases:
        if at > writes:
            continue
        run = kill_and_rerun(prepared, tmp_path / f"{command}-{at}-{mode}", command, at, mode)
        assert leftovers(run) == [], (command, at, mode)
        assert state(run) == expected, (command, at, mode)
        copies = run.parent / "copies"
        assert not copies.exists() or not [p for p in copies.rglob("*") if ".tmp-" in p.name]
        third = run_alpool(run.parent, COMMANDS[command])
        assert third.returncode == 0 and "already" in third.stdout + third.stderr, third.stderr
    return len(cases)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_next_killed_between_its_pool_and_its_export_finishes(prepared: Path, tmp_path: Path) -> None:
    """The moment that broke ``next``: pools/next-002 finished and indexed, exports/next-002 not begun."""
    check_case(prepared, tmp_path, "next", [(5, "after")])


def test_next_finishes_the_export_of_a_finished_pool(folder_run: tuple[Path, Path, dict[str, str]],
                                                    loop_run: Path, tmp_path: Path) -> None:
    """In-process (default run): the state a kill between pool and export leaves, then the rerun."""
    from test_cli import invoke

    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    assert invoke("import-labels", str(tmp_path / "l.csv"), "--run-dir", str(loop_run), "-q").exit_code == 0
    args = ["next", "--budget", "3", "--folds", "0", "--run-dir", str(loop_run), "-q"]
    assert invoke(*args).exit_code == 0
    expected = state(loop_run)
    shutil.rmtree(loop_run / "exports" / "next-002")  # killed after the pool, before the export:
    (loop_run / "exports" / "next-002").mkdir()  # an unfinished export folder and a stale run.json temp
    (loop_run / ".run.json.tmp-999999").write_text("{")
    record = json.loads((loop_run / "run.json").read_text())
    record["steps"] = [s for s in record["steps"] if (s["kind"], s["name"]) != ("exports", "next-002")]
    (loop_run / "run.json").write_text(json.dumps(record))
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert state(loop_run) == expected and leftovers(loop_run) == []
    assert "already finished" in invoke(*args[:-1]).output


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_torn_writes_of_export_and_import(prepared: Path, tmp_path: Path) -> None:
    check_case(prepared, tmp_path, "export", [(3, "torn")])
    check_case(prepared, tmp_path, "import-labels", [(2, "after"), (4, "torn")])


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_kill_moment_of_every_loop_command(prepared: Path, tmp_path: Path, command: str) -> None:
    print(command, "kills:", check_case(prepared, tmp_path, command, None))
