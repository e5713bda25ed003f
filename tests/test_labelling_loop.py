"""The practitioner's loop end to end on a generated folder of unlabeled PNGs.

pretrain -> init-pool typiclust -> export -> a scripted annotator labels from the generator's
hidden truth -> import-labels -> next -> export, and a second round. The dataset has no ground
truth to read: no class folders, meaningless file names, ``train_y`` is -1 and there is no test
split; everything the model learns comes from the imported labels.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import torch

from alpool.core.errors import ConfigError
from alpool.data import load_dataset
from alpool.labelling.kfold import kfold_estimate
from alpool.learning.validation import labeled_folds
from alpool.rundir.context import RunInputs, Upstream, open_run
from alpool.rundir.run_dir import RunDir
from folder_data import KINDS, make_image_folder
from test_cli import invoke


def annotate(export_csv: Path, truth: dict[str, str], out: Path) -> list[str]:
    """The scripted annotator: label every exported path from the hidden truth; return the paths."""
    with export_csv.open() as handle:
        paths = [row["path"] for row in csv.DictReader(handle)]
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([p, truth[p]] for p in paths)
    return paths


def test_unlabeled_folder_has_no_ground_truth(folder_run: tuple[Path, Path, dict[str, str]]) -> None:
    root, run, truth = folder_run
    dataset = load_dataset(f"images:{root / 'photos'}")
    assert dataset.paths == tuple(sorted(truth)) and not dataset.has_labels
    assert (dataset.train_y == -1).all() and len(dataset.test_x) == 0 and dataset.classes == ()
    record = RunDir(run).manifest()
    assert record.dataset.n_classes == 0 and record.val_fraction == 0.0
    ctx = open_run(run)
    assert len(ctx.pool) == len(truth) and len(ctx.val) == 0  # no split taken from unlabeled data
    with pytest.raises(ConfigError, match="no ground-truth labels"):
        RunInputs(ctx, Upstream(ctx.run, None)).labels()


def test_export_lists_the_pool_in_pick_order(folder_run: tuple[Path, Path, dict[str, str]]) -> None:
    root, run, truth = folder_run
    indices = np.load(run / "pools" / "typiclust-6" / "indices.npy")
    with (run / "exports" / "typiclust-6" / "to_label.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    paths = sorted(truth)
    assert [int(r["index"]) for r in rows] == indices.tolist()
    assert [r["path"] for r in rows] == [paths[i] for i in indices]
    assert [int(r["rank"]) for r in rows] == list(range(1, 7)) and all(r["score"] for r in rows)
    tasks = json.loads((run / "exports" / "typiclust-6" / "label_studio.json").read_text())
    assert [t["data"]["path"] for t in tasks] == [r["path"] for r in rows]
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=photos/" + quote(rows[0]["path"])
    config = (run / "exports" / "typiclust-6" / "label_config.xml").read_text()
    assert '<Image name="image" value="$image"/>' in config and "<TextArea" in config  # no class yet
    assert json.loads((run / "exports" / "typiclust-6" / "manifest.json").read_text())["oracle"] is False


def test_loop_end_to_end(folder_run: tuple[Path, Path, dict[str, str]], loop_run: Path, tmp_path: Path) -> None:
    root, _, truth = folder_run
    run = str(loop_run)
    first = annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", truth, tmp_path / "labels.csv")
    result = invoke("import-labels", str(tmp_path / "labels.csv"), "--by", "script", "--run-dir", run, "-q")
    assert result.exit_code == 0, result.output
    result = invoke("next", "--query", "entropy", "--budget", "6", "--folds", "3", "--run-dir", run,
                    "--copy-to", str(tmp_path / "copies"), "-q")
    assert result.exit_code == 0, result.output
    assert "estimated accuracy" in result.output and "3-fold" in result.output
    second = annotate(loop_run / "exports" / "next-002" / "to_label.csv", truth, tmp_path / "labels2.csv")
    assert len(second) == 6 and not set(first) & set(second)  # the second batch excludes the first
    assert all((tmp_path / "copies" / p).read_bytes() == (root / "photos" / p).read_bytes() for p in second)
    pool = json.loads((loop_run / "pools" / "next-002" / "manifest.json").read_text())
    imported = sorted({truth[p] for p in first})
    assert pool["summary"]["classes"] == imported and pool["summary"]["n_labeled"] == 6
    assert pool["summary"]["estimate"]["folds"] == 3
    assert "labels/round-001/labels.csv" in pool["inputs"]
    new = sorted({truth[p] for p in second} - set(imported))  # a class the first batch missed is added on purpose
    result = invoke("import-labels", str(tmp_path / "labels2.csv"), "--run-dir", run, "-q",
                    *[arg for c in new for arg in ("--new-class", c)])
    assert result.exit_code == 0 and "12 labelled in all" in result.output, result.output
    result = invoke("next", "--query", "margin", "--budget", "6", "--folds", "0", "--run-dir", run, "-q")
    assert result.exit_code == 0, result.output
    third = np.load(loop_run / "pools" / "next-003" / "indices.npy")
    paths = sorted(truth)
    assert not {paths[i] for i in third} & (set(first) | set(second))
    assert invoke("analyze", "--run-dir", run, "-q").exit_code == 0  # reads no ground truth either
    for manifest in loop_run.glob("*/*/manifest.json"):
        assert json.loads(manifest.read_text())["oracle"] is False, manifest


def test_next_trains_on_the_imported_labels_only(folder_run: tuple[Path, Path, dict[str, str]],
                                                 loop_run: Path, tmp_path: Path) -> None:
    """Renaming the classes in labels.csv renames them in the model: what it knows came from the file."""
    _, _, truth = folder_run
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", truth, tmp_path / "labels.csv")
    renamed = {kind: f"kind-{chr(ord('z') - i)}" for i, kind in enumerate(KINDS)}
    text = (tmp_path / "labels.csv").read_text()
    for kind, new in renamed.items():
        text = text.replace(kind, new)
    (tmp_path / "labels.csv").write_text(text)
    assert invoke("import-labels", str(tmp_path / "labels.csv"), "--run-dir", str(loop_run), "-q").exit_code == 0
    result = invoke("next", "--budget", "4", "--folds", "2", "--run-dir", str(loop_run), "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((loop_run / "pools" / "next-002" / "manifest.json").read_text())["summary"]
    assert set(summary["classes"]) <= set(renamed.values())
    assert set(summary["predicted_class_counts"]) == set(summary["classes"])


def test_holdout_file_is_the_estimate(folder_run: tuple[Path, Path, dict[str, str]], loop_run: Path,
                                      tmp_path: Path) -> None:
    _, _, truth = folder_run
    first = annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", truth, tmp_path / "labels.csv")
    assert invoke("import-labels", str(tmp_path / "labels.csv"), "--run-dir", str(loop_run), "-q").exit_code == 0
    held = [p for p in sorted(truth) if p not in first][:9]
    classes = {truth[p] for p in first}
    kept = [p for p in held if truth[p] in classes]
    rows = [first[0], *kept]  # an image that is also a training label is left out of the holdout
    (tmp_path / "holdout.csv").write_text("path,label\n" + "".join(f"{p},{truth[p]}\n" for p in rows))
    result = invoke("next", "--budget", "4", "--holdout", str(tmp_path / "holdout.csv"), "--run-dir",
                    str(loop_run), "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((loop_run / "pools" / "next-002" / "manifest.json").read_text())["summary"]
    assert summary["estimate"]["n"] == len(kept) and "held-out" in summary["estimate"]["method"]
    picked = set(np.load(loop_run / "pools" / "next-002" / "indices.npy").tolist())
    paths = sorted(truth)
    assert not picked & {paths.index(p) for p in kept}  # held-out images are not asked again


def test_stratified_folds_deal_every_class_evenly() -> None:
    labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    fold = np.empty(len(labels), dtype=np.int64)
    for f, (_, held) in enumerate(labeled_folds(labels, 5, np.random.default_rng(0))):
        fold[held] = f
    assert sorted(np.bincount(fold, minlength=5).tolist()) == [2, 2, 2, 2, 2]
    assert len(set(fold[labels == 0].tolist())) == 5


def test_kfold_estimate_known_answer() -> None:
    """A predictor that returns the true class except for index 3 is right on 9 of 10 images."""
    indices = np.arange(10, dtype=np.int64)
    labels = indices % 2

    def train_predict(train: np.ndarray, held: np.ndarray, fold: int) -> np.ndarray:
        assert not set(train.tolist()) & set(held.tolist())
        predicted = labels[held] ^ (held == 3)
        return np.eye(2)[predicted]

    result = kfold_estimate(indices, labels, 5, train_predict, np.random.default_rng(0))
    assert result["accuracy"] == pytest.approx(0.9) and result["folds"] == 5
    assert result["balanced_accuracy"] == pytest.approx(0.9)


def test_grey_rgba_and_resize(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(rng.integers(0, 255, (20, 50, 4), dtype=np.uint8)).save(tmp_path / "rgba.webp", lossless=True)
    Image.fromarray(rng.integers(0, 255, (33, 33, 3), dtype=np.uint8)).save(tmp_path / "rgb.jpg")
    dataset = load_dataset(f"images:{tmp_path}@16")
    assert dataset.train_x.shape == (3, 3, 16, 16) and dataset.train_x.dtype == torch.uint8
    assert dataset.paths == ("grey.png", "rgb.jpg", "rgba.webp")
    grey = load_dataset(f"imagefolder:{tmp_path}@16").train_x[0]
    assert torch.equal(grey[0], grey[1])  # grey repeated into RGB when other images have colour
    before = dataset.fingerprint
    Image.fromarray(rng.integers(0, 255, (33, 33, 3), dtype=np.uint8)).save(tmp_path / "rgb.jpg")
    assert load_dataset(f"images:{tmp_path}@16").fingerprint != before  # the fingerprint covers the files


QUERY_PARAMS = {"ranked": {"score": "typicality"}, "vaal": {"epochs": 1}, "bald": {"passes": 3},
                "cluster-quota": {"clusters": "kmeans"}, "cluster-round-robin": {"score": "typicality"},
                "dbal": {"passes": 3}}


def test_dcom_in_next_keeps_the_earlier_rounds_radii(folder_run: tuple[Path, Path, dict[str, str]],
                                                     loop_run: Path, tmp_path: Path) -> None:
    """As in al-run, a labelled image keeps the radius an earlier round gave it; only the newest get new ones."""
    _, _, truth = folder_run
    run = str(loop_run)
    first = annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", truth, tmp_path / "labels.csv")
    assert invoke("import-labels", str(tmp_path / "labels.csv"), "--run-dir", run, "-q").exit_code == 0
    dcom = ["next", "--query", "dcom", "--budget", "4", "--folds", "0", "--run-dir", run, "-q"]
    assert invoke(*dcom).exit_code == 0
    round2 = loop_run / "pools" / "next-002"
    kept = np.load(round2 / "selector_state.npz")
    assert json.loads((round2 / "manifest.json").read_text())["summary"]["selector_state_from"] is None
    assert sorted(kept["indices"].tolist()) == sorted(sorted(truth).index(p) for p in first)
    second = annotate(loop_run / "exports" / "next-002" / "to_label.csv", truth, tmp_path / "labels2.csv")
    new = sorted({truth[p] for p in second} - {truth[p] for p in first})
    assert invoke("import-labels", str(tmp_path / "labels2.csv"), "--run-dir", run, "-q",
                  *[arg for c in new for arg in ("--new-class", c)]).exit_code == 0
    assert invoke(*dcom).exit_code == 0
    round3 = json.loads((loop_run / "pools" / "next-003" / "manifest.json").read_text())
    assert round3["summary"]["selector_state_from"] == "next-002"
    assert "pools/next-002/selector_state.npz" in round3["inputs"]
    info = round3["summary"]["info"]
    assert info["radii_kept"] == 6 and info["radii_updated"] == 4  # the 4 of round 2 are the newest
    later = np.load(loop_run / "pools" / "next-003" / "selector_state.npz")
    old = dict(zip(kept["indices"].tolist(), kept["radii"].tolist(), strict=True))
    again = dict(zip(later["indices"].tolist(), later["radii"].tolist(), strict=True))
    assert len(again) == 10 and all(again[i] == radius for i, radius in old.items())  # round 1's radii kept


@pytest.mark.slow
def test_every_query_without_ground_truth_works_in_next(folder_run: tuple[Path, Path, dict[str, str]],
                                                        loop_run: Path, tmp_path: Path) -> None:
    """Each registered selector that reads no ground truth picks a batch of unlabeled images."""
    from alpool.labelling.config import ImportLabelsConfig, NextConfig
    from alpool.selectors import SELECTORS
    from alpool.stages import import_labels, next_round

    _, _, truth = folder_run
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", truth, tmp_path / "labels.csv")
    import_labels.run(ImportLabelsConfig(file=tmp_path / "labels.csv"), loop_run)
    assert invoke("rank", "--scorer", "typicality", "--param", "task=vae", "--run-dir", str(loop_run),
                  "-q").exit_code == 0
    labeled = set(np.load(loop_run / "pools" / "typiclust-6" / "indices.npy").tolist())
    usable = [n for n in SELECTORS.names() if not SELECTORS.get(n).oracle]
    assert {"entropy", "bald", "coreset", "typiclust", "probcover", "badge"} <= set(usable)
    for query in usable:
        params = QUERY_PARAMS.get(query, {})
        if "passes" in params and "passes" not in SELECTORS.get(query).Params.model_fields:
            params = {}
        config = NextConfig(query=query, query_params=params, budget=3, folds=0, name=f"q-{query}",
                            framework_params={"dropout": 0.2, "epochs": 20})
        pool, export = next_round.run(config, loop_run)
        picked = np.load(loop_run / "pools" / pool.name / "indices.npy")
        assert len(picked) == 3 and not labeled & set(picked.tolist()), query
        assert export.summary["n_images"] == 3 and not pool.oracle


@pytest.mark.parametrize("framework", [["--framework", "supervised", "--epochs", "1"],
                                       ["--framework", "semi-supervised", "--framework-param", "steps=3"]])
def test_next_with_networks_trained_on_the_images(folder_run: tuple[Path, Path, dict[str, str]], loop_run: Path,
                                                  tmp_path: Path, framework: list[str]) -> None:
    """The CNN frameworks train on the imported labels (and, semi-supervised, on the unlabeled images)."""
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "labels.csv")
    assert invoke("import-labels", str(tmp_path / "labels.csv"), "--run-dir", str(loop_run), "-q").exit_code == 0
    result = invoke("next", "--budget", "3", "--folds", "2", *framework, "--run-dir", str(loop_run), "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((loop_run / "pools" / "next-002" / "manifest.json").read_text())["summary"]
    assert summary["framework"] == framework[1] and summary["estimate"]["folds"] == 2


def test_decoded_folders_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ALPOOL_CACHE the second load reads the cache; a changed file makes a new entry."""
    truth = make_image_folder(tmp_path / "photos", per_kind=2, size=12)
    (tmp_path / "photos" / "broken.png").write_bytes(b"not a png")
    monkeypatch.setenv("ALPOOL_CACHE", str(tmp_path / "cache"))
    first = load_dataset(f"images:{tmp_path / 'photos'}")
    assert not list((tmp_path / "cache").glob("images-*.npz")) and first.train_x.shape[0] == 6  # decoded when read
    assert len(list((tmp_path / "cache").glob("images-*.npz"))) == 1
    from alpool.core import reporting

    class Recorder(reporting.Reporter):
        def __init__(self) -> None:
            self.tasks: list[str] = []

        def start(self, description: str, total: int | None) -> object:
            self.tasks.append(description)
            return None

    recorder = Recorder()
    previous = reporting.set_reporter(recorder)
    try:
        again = load_dataset(f"images:{tmp_path / 'photos'}")
    finally:
        reporting.set_reporter(previous)
    assert "decoding images" not in recorder.tasks  # served from the cache
    assert torch.equal(first.train_x, again.train_x) and again.paths == tuple(sorted(truth))
    assert again.fingerprint == first.fingerprint
    changed = sorted(truth)[0]
    (tmp_path / "photos" / changed).write_bytes((tmp_path / "photos" / sorted(truth)[1]).read_bytes())
    third = load_dataset(f"images:{tmp_path / 'photos'}")
    assert third.train_x.shape[0] == 6 and len(list((tmp_path / "cache").glob("images-*.npz"))) == 2
    assert torch.equal(third.train_x[0], first.train_x[1]) and third.fingerprint != first.fingerprint
