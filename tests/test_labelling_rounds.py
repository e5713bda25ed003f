"""The labelling loop's rounds: Label Studio files, reruns, class lists, first rounds, paths as exported."""

from __future__ import annotations

import csv
import json
import shutil
import unicodedata
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from folder_data import make_image_folder
from test_cli import invoke, tree_digest
from test_labelling_inputs import refused, write
from test_labelling_loop import annotate

Setup = tuple[Path, Path, dict[str, str]]
AWKWARD = ["a+b.png", "c#d.png", "e&f g.png", " lead.png", "q,u\"ote.png", "100%.png",
           unicodedata.normalize("NFD", "été.png")]


def ok(*args: str) -> str:
    """Run a command that must succeed; return its output on one line."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A folder whose file names a URL and a CSV must quote, a random pool of all of them and its export."""
    root = tmp_path_factory.mktemp("awkward")
    truth = make_image_folder(root / "my photos", per_kind=4, size=8)
    for old, new in zip(sorted(truth)[:len(AWKWARD)], AWKWARD, strict=True):
        (root / "my photos" / old).rename(root / "my photos" / new)
        truth[unicodedata.normalize("NFC", new)] = truth.pop(old)  # the run records NFC, as a person types
    np.save(root / "e.npy", np.random.default_rng(0).normal(size=(len(truth), 4)))
    run = str(root / "run")
    ok("pretrain", "--task", "precomputed", "--param", f"file={root / 'e.npy'}", f"images:{root / 'my photos'}",
       "--run-dir", run, "-q")
    ok("init-pool", "--strategy", "random", "--budget", str(len(truth)), "--name", "all", "--run-dir", run, "-q")
    ok("export", "all", "--run-dir", run, "-q")
    return root, root / "run", truth


# -- Label Studio -------------------------------------------------------------------------------

def test_tasks_urls_are_encoded_under_the_folder_name(awkward: Setup) -> None:
    root, run, truth = awkward
    tasks = json.loads((run / "exports" / "all" / "label_studio.json").read_text())
    urls = {t["data"]["path"]: t["data"]["image"] for t in tasks}
    assert set(urls) == set(truth)
    assert urls["a+b.png"] == "/data/local-files/?d=my%20photos/a%2Bb.png"
    assert urls["c#d.png"].endswith("/c%23d.png") and urls["e&f g.png"].endswith("/e%26f%20g.png")
    assert urls[" lead.png"].endswith("/%20lead.png") and urls["100%.png"].endswith("/100%25.png")
    summary = json.loads((run / "exports" / "all" / "manifest.json").read_text())["summary"]["label_studio"]
    assert summary["environment"] == {"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
                                      "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root.resolve())}
    assert summary["storage_path"] == str((root / "my photos").resolve())
    assert (run / "exports" / "all" / "label_studio_setup.txt").read_text().count("\n") == 5


def test_every_exported_path_imports_back(awkward: Setup, tmp_path: Path) -> None:
    """to_label.csv with a label column, and Label Studio's URLs, import back for every awkward name."""
    root, run, truth = awkward
    shutil.copytree(run, tmp_path / "run")
    with (run / "exports" / "all" / "to_label.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["rank", "path", "label"])
        writer.writerows([r["rank"], r["path"], truth[r["path"]]] for r in rows[:10])
    out = ok("import-labels", str(tmp_path / "labels.csv"), "--run-dir", str(tmp_path / "run"))
    assert "10 labels imported" in out and "declared the classes" in out
    tasks = json.loads((run / "exports" / "all" / "label_studio.json").read_text())
    urls = "image,label\n" + "".join(f"{t['data']['image']},{truth[t['data']['path']]}\n" for t in tasks[10:])
    out = ok("import-labels", write(tmp_path / "urls.csv", urls), "--run-dir", str(tmp_path / "run"))
    assert f"{len(truth)} labelled in all" in out
    nfc = unicodedata.normalize("NFC", "été.png")  # typed on a keyboard: NFC, the file is NFD
    (tmp_path / "nfc.csv").write_text(f"path,label\n{nfc},{truth[nfc]}\n")
    assert "already imported" in ok("import-labels", str(tmp_path / "nfc.csv"), "--run-dir", str(tmp_path / "run"))


def test_label_studio_json_exports(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    """JSON (cancelled annotations ignored, disagreement refused naming the image) and JSON_MIN."""
    truth = folder_run[2]
    tasks = json.loads((loop_run / "exports" / "typiclust-6" / "label_studio.json").read_text())

    def annotation(label: str | None, cancelled: bool = False, who: int = 1) -> dict[str, object]:
        result = [] if label is None else [{"from_name": "label", "to_name": "image", "type": "choices",
                                            "value": {"choices": [label]}}]
        return {"id": who, "completed_by": who, "result": result, "was_cancelled": cancelled}

    export = [{"id": n, "data": t["data"], "annotations": [annotation(truth[t["data"]["path"]])]}
              for n, t in enumerate(tasks, start=1)]
    export[0]["annotations"].append(annotation(None, cancelled=True, who=2))
    export[1]["annotations"] = [annotation(None, cancelled=True)]  # skipped: left out
    bad = json.loads(json.dumps(export))
    bad[2]["annotations"].append(annotation("something-else", who=7))
    out = refused(loop_run, "import-labels", write(tmp_path / "bad.json", json.dumps(bad)))
    assert "task 3" in out and tasks[2]["data"]["path"] in out and "disagree" in out and "by 7" in out
    out = ok("import-labels", write(tmp_path / "ok.json", json.dumps(export)), "--run-dir", str(loop_run))
    assert "5 labels imported" in out
    minimal = [{**t["data"], "id": n, "label": truth[t["data"]["path"]], "annotator": 1}
               for n, t in enumerate(tasks, start=1)]
    out = ok("import-labels", write(tmp_path / "min.json", json.dumps(minimal)), "--run-dir", str(loop_run))
    assert "1 labels imported" in out and "6 labelled in all" in out


def test_errors_quote_a_readable_part_of_the_file(loop_run: Path, tmp_path: Path) -> None:
    huge = "[" + ",".join(['{"data": {"nothing": "x"}, "annotations": []}'] * 500) + "]"
    out = refused(loop_run, "import-labels", write(tmp_path / "huge.json", huge))
    assert len(out) < 300 and "no 'path', 'index' or 'image'" in out
    header = ",".join(f"column{n}" for n in range(3000))
    out = refused(loop_run, "import-labels", write(tmp_path / "wide.csv", header + "\n" + "x," * 2999 + "x\n"))
    assert len(out) < 300 and "chars)" in out
    assert "is a folder" in refused(loop_run, "import-labels", str(tmp_path))


def test_url_prefix_is_remembered_by_next(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    ok("export", "typiclust-6", "--name", "custom", "--url-prefix", "http://files.local/x/", "--run-dir",
       str(loop_run), "-q")
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    ok("import-labels", str(tmp_path / "l.csv"), "--run-dir", str(loop_run), "-q")
    ok("next", "--budget", "2", "--folds", "0", "--run-dir", str(loop_run), "-q")
    tasks = json.loads((loop_run / "exports" / "next-002" / "label_studio.json").read_text())
    assert all(t["data"]["image"] == "http://files.local/x/" + quote(t["data"]["path"]) for t in tasks)
    config = (loop_run / "exports" / "next-002" / "label_config.xml").read_text()
    assert "<Choices" in config and all(f'"{c}"' in config for c in set(folder_run[2].values()) & set(
        r["label"] for r in csv.DictReader((tmp_path / "l.csv").open())))


# -- reruns ---------------------------------------------------------------------------------------

def test_finished_steps_rerun_say_already_finished(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    run = str(loop_run)
    assert "already finished" in ok("export", "typiclust-6", "--run-dir", run)
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    ok("import-labels", str(tmp_path / "l.csv"), "--run-dir", run, "-q")
    before = tree_digest(loop_run)
    assert "imported already as labels/round-001" in ok("import-labels", str(tmp_path / "l.csv"), "--run-dir", run)
    assert tree_digest(loop_run) == before
    ok("next", "--budget", "3", "--folds", "0", "--run-dir", run, "-q")
    before = tree_digest(loop_run)
    assert "round next-002 already finished" in ok("next", "--budget", "3", "--folds", "0", "--run-dir", run)
    assert tree_digest(loop_run) == before
    assert "made with budget=3" in refused(loop_run, "next", "--budget", "4", "--folds", "0")


def test_an_unfinished_round_keeps_its_number(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    (loop_run / "labels" / "round-001").mkdir(parents=True)
    (loop_run / "labels" / "round-001" / "labels.csv").write_text("index,path,label\n")  # a killed import
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    ok("import-labels", str(tmp_path / "l.csv"), "--run-dir", str(loop_run), "-q")
    assert sorted(p.name for p in (loop_run / "labels").iterdir() if not p.name.startswith(".")) == ["round-001"]
    assert (loop_run / "labels" / "round-001" / "manifest.json").is_file()


def test_copy_to_a_file_is_refused(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    out = refused(loop_run, "export", "typiclust-6", "--name", "c", "--copy-to", str(tmp_path / "file"))
    assert "is a file, not a folder" in out and not (loop_run / "exports" / "c").exists()
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    ok("import-labels", str(tmp_path / "l.csv"), "--run-dir", str(loop_run), "-q")
    assert "is a file, not a folder" in refused(loop_run, "next", "--budget", "2", "--copy-to", str(tmp_path / "file"))
    ok("next", "--budget", "2", "--folds", "0", "--copy-to", str(tmp_path / "copies"), "--run-dir", str(loop_run), "-q")


# -- class names ----------------------------------------------------------------------------------

def test_class_names_cannot_drift(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    paths = sorted(folder_run[2])
    first = write(tmp_path / "a.csv", f"path,label\n{paths[0]},eight\n{paths[1]},seven\n")
    out = ok("import-labels", first, "--run-dir", str(loop_run))
    assert "declared the classes eight, seven" in out
    cases = {f"{paths[2]},Eight": "near-duplicate of the class 'eight' (they differ only in case",
             f"{paths[2]},seven.": "near-duplicate of the class 'seven'",
             f"{paths[2]},sevn": "one typo apart",
             f"{paths[2]},\"seven, I think\"": "not one of the classes (eight, seven)",
             f"{paths[2]},nine": "--new-class 'nine'"}
    for n, (row, message) in enumerate(cases.items()):
        assert message in refused(loop_run, "import-labels", write(tmp_path / f"b{n}.csv", f"path,label\n{row}\n"))
    assert "near-duplicate" in refused(loop_run, "import-labels", write(tmp_path / "c.csv", f"path,label\n{paths[2]},"
                                                                      "Eight\n"), "--new-class", "Eight")
    out = ok("import-labels", write(tmp_path / "d.csv", f"path,label\n{paths[2]},nine\n"), "--new-class", "nine",
             "--run-dir", str(loop_run))
    assert "added the classes nine" in out
    assert "near-duplicate" in refused(loop_run, "import-labels",
                                       write(tmp_path / "e.csv", f"path,label\n{paths[3]},Nine\n{paths[4]},nine\n"))


def test_first_import_refuses_twins_within_the_file(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    paths = sorted(folder_run[2])
    twins = write(tmp_path / "a.csv", f"path,label\n{paths[0]},Eight\n{paths[1]},eight\n")
    out = refused(loop_run, "import-labels", twins)
    assert "'eight' is a near-duplicate of the class 'Eight'" in out
    ok("import-labels", write(tmp_path / "b.csv", f"path,label\n{paths[0]},type-a\n{paths[1]},type-b\n"),
       "--run-dir", str(loop_run), "-q")  # one different letter: distinct classes


# -- first rounds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("declare", [False, True])
def test_holdout_with_classes_never_labelled(folder_run: Setup, loop_run: Path, tmp_path: Path, declare: bool) -> None:
    """A class no training label has (undeclared, or declared with --classes but not labelled yet)."""
    truth = folder_run[2]
    paths = sorted(truth)
    by_kind: dict[str, list[str]] = {}
    for p in paths:
        by_kind.setdefault(truth[p], []).append(p)
    kinds = sorted(by_kind)
    train = [p for k in kinds[:2] for p in by_kind[k][:3]]
    write(tmp_path / "train.csv", "path,label\n" + "".join(f"{p},{truth[p]}\n" for p in train))
    declared = ["--classes", ",".join(kinds)] if declare else []
    ok("import-labels", str(tmp_path / "train.csv"), *declared, "--run-dir", str(loop_run), "-q")
    held = [p for k in kinds for p in by_kind[k][3:5]]
    write(tmp_path / "holdout.csv", "path,label\n" + "".join(f"{p},{truth[p]}\n" for p in held))
    out = ok("next", "--budget", "2", "--holdout", str(tmp_path / "holdout.csv"), "--run-dir", str(loop_run))
    assert f"2 holdout images of never-labelled classes ({kinds[2]}) count as errors" in out
    estimate = json.loads((loop_run / "pools" / "next-002" / "manifest.json").read_text())["summary"]["estimate"]
    assert estimate["n"] == 6 and estimate["n_unseen_class_images"] == 2 and estimate["accuracy"] <= 4 / 6


def test_init_pool_after_labels_leaves_them_out(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    ok("import-labels", str(tmp_path / "l.csv"), "--run-dir", str(loop_run), "-q")
    out = ok("init-pool", "--strategy", "random", "--budget", "30", "--name", "holdout", "--embeddings", "vae",
             "--run-dir", str(loop_run))
    assert "left out the 6 images labelled" in out and "does not use --embeddings" in out
    picked = set(np.load(loop_run / "pools" / "holdout" / "indices.npy").tolist())
    labelled = set(np.load(loop_run / "pools" / "typiclust-6" / "indices.npy").tolist())
    assert len(picked) == 30 and not picked & labelled
    config = json.loads((loop_run / "pools" / "holdout" / "manifest.json").read_text())["config"]
    assert config["params"]["embeddings"] == "vae" and config["leaves_out_labelled"] == 6
    assert "30 selectable train images not yet labelled" in refused(loop_run, "init-pool", "--strategy", "random",
                                                                    "--budget", "31", "--name", "h2")


def test_smaller_refusals(loop_run: Path) -> None:
    assert "--folds 1" in refused(loop_run, "next", "--budget", "2", "--folds", "1")
    help_text = invoke("next", "--help").output
    assert "random-covering" not in help_text and "class-balanced" not in help_text and "entropy" in help_text
    for command in ("export", "import-labels", "next"):
        assert "--threads" in invoke(command, "--help").output


def test_label_studio_export_of_a_dataset_without_files(tmp_path: Path) -> None:
    """digits has no files: the export's PNGs are served from the export folder; LS exports import by index."""
    run = str(tmp_path / "run")
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(1437, 4)))
    ok("pretrain", "--task", "precomputed", "digits", "--param", f"file={tmp_path / 'e.npy'}", "--run-dir", run, "-q")
    ok("init-pool", "--strategy", "random", "--budget", "4", "--run-dir", run, "-q")
    ok("export", "random-4", "--run-dir", run, "-q")
    export = tmp_path / "run" / "exports" / "random-4"
    tasks = json.loads((export / "label_studio.json").read_text())
    assert tasks[0]["data"]["image"] == f"/data/local-files/?d=random-4/{tasks[0]['data']['path']}"
    setup = json.loads((export / "manifest.json").read_text())["summary"]["label_studio"]
    assert setup["storage_path"] == str(export.resolve())
    assert (export / tasks[0]["data"]["path"]).is_file()
    minimal = [{**t["data"], "label": "a" if n % 2 else "b", "annotator": 1} for n, t in enumerate(tasks)]
    out = ok("import-labels", write(tmp_path / "min.json", json.dumps(minimal)), "--run-dir", run)
    assert "4 labels imported" in out
