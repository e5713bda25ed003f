"""Issue 20's table from our own run: 60+ bad inputs and 15+ kills on the labelling loop (slow).

``OMP_NUM_THREADS=1 python -m pytest -m slow -s tests/test_loop_abuse.py`` prints the counts
(see ``loop_abuse.py`` for the columns) and fails on any traceback, changed run, silent wrong
result, lost label, refused valid input or unclear refusal.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from loop_abuse import COLUMNS, run_cases, table
from test_loop_kills import COMMANDS, leftovers, prepared, reference, run_alpool, state

__all__ = ["prepared"]  # the fixture, shared with test_loop_kills

pytestmark = pytest.mark.slow

BAD = ("traceback", "run changed", "silent wrong", "lost", "refused valid", "unclear refusal")
# every write of import-labels and export just after it, the moments of next around its pool and export, torn writes
KILLS = [("import-labels", k, "after") for k in range(1, 6)] + [("import-labels", 2, "torn")] + \
        [("export", k, "after") for k in (1, 2, 3, 5, 6, 7)] + [("export", 4, "torn")] + \
        [("next", k, m) for k, m in ((1, "after"), (3, "torn"), (4, "after"), (5, "after"), (6, "after"),
                                     (8, "torn"), (11, "after"), (12, "after"))]


def test_bad_inputs(prepared: Path, folder_run: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    counts, rows = run_cases(prepared, tmp_path, folder_run[2])
    for name, column, out in rows:
        print(f"{column:16s} {name:28s} {out}")
    print(table(counts, len(rows)))
    assert len(rows) >= 60
    assert not [r for r in rows if r[1] in BAD], [r for r in rows if r[1] in BAD]


@pytest.mark.timeout(3600)
def test_kills(prepared: Path, tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    expected = {c: reference(prepared, tmp_path / c, c) for c in {k[0] for k in KILLS}}
    for command, at, mode in KILLS:
        folder = tmp_path / f"{command}-{at}-{mode}"
        shutil.copytree(prepared, folder)
        killed = run_alpool(folder, COMMANDS[command], kill_at=at, mode=mode)
        again = run_alpool(folder, COMMANDS[command])
        if killed.returncode != -9:
            column = "not killed"
        elif "Traceback" in again.stderr or again.returncode not in (0, 2):
            column = "traceback"
        elif again.returncode == 2:
            column = "refused valid"
        elif leftovers(folder / "run"):
            column = "run changed"
        elif state(folder / "run") != expected[command][0]:
            column = "silent wrong"
        else:
            column = "handled"
        counts[column] += 1
        print(f"{column:14s} {command} killed at write {at} ({mode})")
    print(table(counts, len(KILLS)))
    assert len(KILLS) >= 15 and counts["handled"] == len(KILLS), counts
    assert set(COLUMNS) >= set(counts) - {"not killed"}

