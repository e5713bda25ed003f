"""Careless users and kills on the labelling loop: each case classified, as in issue 20's table.

A case runs one loop command with a bad (or awkward but valid) input on a fresh copy of a prepared
run (round 1 imported, classes declared) and is counted as:

- ``clean refusal``: exit 2, one ``error:`` line, the run unchanged (expected refusals);
- ``handled``: exit 0 and the expected result (awkward but valid inputs, reruns);
- ``traceback``: any other exit code, or a traceback in the output;
- ``run changed``: refused, but the run's files changed;
- ``silent wrong``: exit 0 where a refusal was due, or a result other than expected;
- ``lost``: a label imported before is no longer there afterwards;
- (extra columns, zero when all is well) ``refused valid``: a valid input refused; ``unclear
  refusal``: refused in more than one line, over 400 characters, or without the expected words.

Kills run the command in a subprocess that SIGKILLs itself at its k-th write (``kill_driver.py``),
rerun it unchanged and compare with an uninterrupted run. ``tests/test_loop_abuse.py`` (slow) runs
both and prints the table.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from test_cli import invoke, tree_digest

COLUMNS = ("cases", "clean refusal", "handled", "traceback", "run changed", "silent wrong", "lost", "refused valid",
           "unclear refusal")


@dataclass
class Case:
    """One command line on a fresh copy of the run; ``expect`` is ``refuse`` or ``ok`` (with a check)."""

    name: str
    args: Callable[[Path], list[str]]  # given the case folder (run at folder/"run")
    expect: str = "refuse"
    check: Callable[[Path, str], bool] = field(default=lambda folder, out: True)
    words: str = ""  # the refusal must contain this


def labels_in(run: Path) -> dict[str, str]:
    """Return every imported label by index."""
    out = {}
    for path in sorted((run / "labels").glob("*/labels.csv")):
        if (path.parent / "manifest.json").exists():
            with path.open(newline="") as handle:
                out.update({r["index"]: r["label"] for r in csv.DictReader(handle)})
    return out


def classify(case: Case, prepared: Path, work: Path) -> tuple[str, str]:
    """Run ``case`` on a copy of ``prepared``; return (column, output line)."""
    folder = work / case.name.replace(" ", "_").replace("/", "_")
    shutil.copytree(prepared, folder)
    run = folder / "run"
    before, labels_before = tree_digest(run), labels_in(run)
    result = invoke(*case.args(folder), "--run-dir", str(run), "-q")
    out = " ".join(result.output.split())
    after = labels_in(run)
    if any(after.get(k) != v for k, v in labels_before.items()):
        return "lost", out
    if result.exit_code not in (0, 2) or "Traceback" in out:
        return "traceback", f"{result.exit_code} {result.exception!r}"[:300]
    if result.exit_code == 2:
        if tree_digest(run) != before:
            return "run changed", out
        if case.expect == "ok":
            return "refused valid", out
        one_line = out.startswith("error:") and len(result.output.strip().splitlines()) == 1 and len(out) < 400
        return ("clean refusal" if one_line and case.words in out else "unclear refusal"), out
    if case.expect == "refuse" or not case.check(folder, out):
        return "silent wrong", out
    return "handled", out


def table(counts: Counter[str], cases: int) -> str:
    """Return the counts as a Markdown table row with its header."""
    header = "| " + " | ".join(COLUMNS) + " |"
    row = "| " + " | ".join([str(cases), *(str(counts.get(c, 0)) for c in COLUMNS[1:])]) + " |"
    return "\n".join([header, "|" + "---|" * len(COLUMNS), row])


def write(folder: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> str:
    """Write an input file into the case folder; return its path."""
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return str(path)


def cases(paths: list[str], truth: dict[str, str], labelled: list[str]) -> list[Case]:
    """Return the bad (and awkward) inputs; ``paths`` sorted dataset paths, ``labelled`` those of round 1."""
    free = [p for p in paths if p not in labelled]
    a, b = free[0], free[1]
    la = truth[a]
    other = next(c for c in sorted(set(truth.values())) if c != truth[labelled[0]])

    def csv_case(name: str, text: str, expect: str = "refuse", words: str = "", *extra: str,
                 encoding: str = "utf-8") -> Case:
        return Case(name, lambda f: ["import-labels", write(f, "in.csv", text, encoding), *extra], expect,
                    lambda f, out: "imported" in out or "already" in out, words)

    def json_case(name: str, data: object, expect: str = "refuse", words: str = "") -> Case:
        return Case(name, lambda f: ["import-labels", write(f, "in.json", json.dumps(data))], expect,
                    lambda f, out: "imported" in out, words)

    task = {"data": {"path": a}, "annotations": []}
    vote = {"result": [{"from_name": "label", "value": {"choices": [la]}}]}
    out: list[Case] = [
        Case("missing file", lambda f: ["import-labels", str(f / "nope.csv")], words="not found"),
        Case("folder as file", lambda f: ["import-labels", str(f)], words="is a folder"),
        csv_case("empty file", "", words="header must hold"),
        csv_case("header only", "path,label\n", words="no labelled image"),
        Case("png bytes", lambda f: ["import-labels", write(f, "x.csv", b"\x89PNG\r\n\x1a\n\x00\x00garbage")],
             words="not a readable UTF-8 CSV"),
        csv_case("latin-1", f"path,label\n{a},caf\xe9\n", "refuse", "not a readable UTF-8 CSV", encoding="latin-1"),
        csv_case("utf-16", f"path,label\n{a},{la}\n", "refuse", "", encoding="utf-16"),
        csv_case("semicolons", f"path;label\n{a};{la}\n", words="header must hold"),
        csv_case("tabs", f"path\tlabel\n{a}\t{la}\n", words="header must hold"),
        csv_case("wrong header", f"file,class\n{a},{la}\n", words="header must hold"),
        csv_case("unknown path", f"path,label\nnot/there.png,{la}\n", words="is not an image of the dataset"),
        csv_case("absolute outside", f"path,label\n/etc/passwd,{la}\n", words="is not an image of the dataset"),
        csv_case("index too big", f"index,label\n99999,{la}\n", words="is not a train index"),
        csv_case("negative index", f"index,label\n-1,{la}\n", words="is not a train index"),
        csv_case("index text", f"index,label\nabc,{la}\n", words="is not a train index"),
        csv_case("index float", f"index,label\n1.5,{la}\n", words="is not a train index"),
        csv_case("empty label", f"path,label\n{a},\n", words="empty label"),
        csv_case("empty path", f"path,label\n,{la}\n", words="empty path"),
        csv_case("two labels in file", f"path,label\n{a},{la}\n{a},{other}\n", words="keep one label per image"),
        csv_case("contradicts round 1", f"path,label\n{labelled[0]},{other}\n", words="labels/round-001 labels it"),
        csv_case("new class no flag", f"path,label\n{a},zebra\n", words="--new-class 'zebra'"),
        csv_case("case twin", f"path,label\n{a},{la.upper()}\n", words="near-duplicate"),
        csv_case("punctuation twin", f"path,label\n{a},{la}.\n", words="near-duplicate"),
        csv_case("space twin", f"path,label\n{a},{la.replace('-', ' ')}\n", words="near-duplicate"),
        csv_case("typo twin", f"path,label\n{a},{la[:2] + la[3] + la[2] + la[4:]}\n", words="near-duplicate"),
        csv_case("unsure label", f"path,label\n{a},\"{la}, I think\"\n", words="not one of the classes"),
        csv_case("classes shrink", f"path,label\n{a},{la}\n", "refuse", "a class list only grows", "--classes", la),
        csv_case("new-class twin", f"path,label\n{a},{la}\n", "refuse", "near-duplicate", "--new-class", la.title()),
        csv_case("new-class empty", f"path,label\n{a},{la}\n", "refuse", "empty or repeated", "--new-class", " "),
        csv_case("label column missing", f"path,label\n{a},{la}\n", "refuse", "header must hold", "--label-column",
                 "choice"),
        csv_case("name with slash", f"path,label\n{a},{la}\n", "refuse", "one folder name", "--name", "a/b"),
        csv_case("name hidden", f"path,label\n{a},{la}\n", "refuse", "one folder name", "--name", ".x"),
        csv_case("name taken", f"path,label\n{a},{la}\n", "refuse", "already exists", "--name", "round-001"),
        json_case("json object", {"a": 1}, words="expected a list"),
        json_case("json numbers", [1, 2], words="expected a list"),
        json_case("json task no path", [{"data": {"x": 1}, "annotations": [vote]}], words="no 'path'"),
        json_case("json disagree", [{**task, "id": 9, "annotations": [
            vote, {"completed_by": 2, "result": [{"from_name": "label", "value": {"choices": [other]}}]}]}],
            words="disagree"),
        json_case("json two choices", [{**task, "annotations": [
            {"result": [{"from_name": "label", "value": {"choices": [la, other]}}]}]}], words="several labels"),
        json_case("json only cancelled", [{**task, "annotations": [{"was_cancelled": True, "result": []}]}],
                  words="skipped or cancelled"),
        Case("json truncated", lambda f: ["import-labels", write(f, "t.json", '[{"data": {"path": "')],
             words="not readable JSON"),
        Case("huge wrong json", lambda f: ["import-labels", write(f, "h.json", json.dumps(
            [{"data": {"nothing": "x" * 200}, "annotations": []}] * 100))], words="no 'path'"),
        Case("huge header", lambda f: ["import-labels", write(f, "w.csv", ",".join(f"c{n}" for n in range(4000)))],
             words="chars)"),
        # awkward but valid
        csv_case("bom crlf", f"\ufeffpath,label\r\n{a},{la}\r\n", "ok"),
        csv_case("backslashes", f"path,label\n{a.replace('/', chr(92))},{la}\n", "ok"),
        csv_case("dot slash", f"path,label\n./{a},{la}\n", "ok"),
        csv_case("trailing space", f"path,label\n{a} ,{la}\n", "ok"),
        csv_case("duplicate rows", f"path,label\n{a},{la}\n{a},{la}\n", "ok"),
        csv_case("reimport round 1", "".join(["path,label\n"] + [f"{p},{truth[p]}\n" for p in labelled]), "ok"),
        csv_case("new class flagged", f"path,label\n{a},zebra\n", "ok", "", "--new-class", "zebra"),
        csv_case("label studio csv skipped", f"annotation_id,annotator,path,label\n1,1,{a},{la}\n2,1,{b},\n", "ok"),
        json_case("json min", [{"path": a, "label": la, "annotator": 1}], "ok"),
        json_case("json cancelled ignored", [{**task, "annotations": [vote, {"was_cancelled": True}]}], "ok"),
        # export
        Case("export unknown pool", lambda f: ["export", "nope"], words="pools/nope"),
        Case("export nested name", lambda f: ["export", "pools/x/y"], words="cannot export"),
        Case("export missing episode", lambda f: ["export", "al/e/p--q/trial-0/episode-0"], words="not a finished"),
        Case("export empty source", lambda f: ["export", ""], words=""),
        Case("copy-to a file", lambda f: ["export", "typiclust-6", "--name", "c", "--copy-to", write(f, "file", "x")],
             words="is a file, not a folder"),
        Case("copy-to under a file", lambda f: ["export", "typiclust-6", "--name", "c", "--copy-to",
                                                write(f, "file", "x") + "/sub"], words="is a file, not a folder"),
        Case("export name dots", lambda f: ["export", "typiclust-6", "--name", "../evil"], words="one folder name"),
        Case("export other settings", lambda f: ["export", "typiclust-6", "--url-prefix", "http://x/"],
             words="already exists"),
        Case("export rerun", lambda f: ["export", "typiclust-6"], "ok", lambda f, out: "already finished" in out),
        # next
        Case("budget 0", lambda f: ["next", "--budget", "0"], words="budget"),
        Case("budget too big", lambda f: ["next", "--budget", "9999"], words="not yet labelled"),
        Case("folds 1", lambda f: ["next", "--budget", "2", "--folds", "1"], words="--folds 1"),
        Case("folds negative", lambda f: ["next", "--budget", "2", "--folds", "-1"], words="folds"),
        Case("oracle query", lambda f: ["next", "--budget", "2", "--query", "random-covering"], words="ground-truth"),
        Case("unknown query", lambda f: ["next", "--budget", "2", "--query", "entropyy"], words="did you mean"),
        Case("holdout missing", lambda f: ["next", "--budget", "2", "--holdout", str(f / "no.csv")], words="not found"),
        Case("holdout folder", lambda f: ["next", "--budget", "2", "--holdout", str(f)], words="is a folder"),
        Case("holdout all training", lambda f: ["next", "--budget", "2", "--holdout", write(
            f, "h.csv", "".join(["path,label\n"] + [f"{p},{truth[p]}\n" for p in labelled]))], words="every image"),
        Case("holdout twin", lambda f: ["next", "--budget", "2", "--holdout", write(
            f, "h.csv", f"path,label\n{a},{la.upper()}\n")], words="near-duplicate"),
        Case("unknown framework", lambda f: ["next", "--budget", "2", "--framework", "svm"], words="unknown"),
        Case("unknown embeddings", lambda f: ["next", "--budget", "2", "--embeddings", "nope"], words="nope"),
        Case("next copy-to file", lambda f: ["next", "--budget", "2", "--copy-to", write(f, "file", "x")],
             words="is a file"),
        Case("next bad param", lambda f: ["next", "--budget", "2", "--param", "bogus=1"], words="bogus"),
        Case("next name slash", lambda f: ["next", "--budget", "2", "--name", "a/b"], words="one folder name"),
        # init-pool in a labelled run
        Case("random with embeddings", lambda f: ["init-pool", "--strategy", "random", "--budget", "3",
                                                  "--embeddings", "vae", "--name", "h"], "ok",
             lambda f, out: json.loads((f / "run" / "pools" / "h" / "manifest.json").read_text())
             ["config"]["params"]["embeddings"] == "vae"),
        Case("init-pool too big", lambda f: ["init-pool", "--strategy", "random", "--budget", str(len(free) + 1),
                                             "--name", "h"], words="not yet labelled"),
        Case("init-pool bad param", lambda f: ["init-pool", "--strategy", "random", "--budget", "3",
                                               "--param", "bogus=1"], words="bogus"),
    ]
    return out


def run_cases(prepared: Path, work: Path, truth: dict[str, str]) -> tuple[Counter[str], list[tuple[str, str, str]]]:
    """Run every case; return the counts and (case, column, output) rows."""
    run = prepared / "run"
    with (run / "labels" / "round-001" / "labels.csv").open(newline="") as handle:
        labelled = [r["path"] for r in csv.DictReader(handle)]
    counts: Counter[str] = Counter()
    rows = []
    for case in cases(sorted(truth), truth, labelled):
        column, out = classify(case, prepared, work)
        counts[column] += 1
        rows.append((case.name, column, out[:200]))
    return counts, rows
