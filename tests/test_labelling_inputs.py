"""Embeddings from elsewhere, and every bad input of the labelling loop: one line, nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from test_cli import invoke, tree_digest
from test_labelling_loop import annotate

Setup = tuple[Path, Path, dict[str, str]]


def refused(run: Path, *args: str) -> str:
    """Run a command that must fail with one line (exit 2) and leave ``run`` unchanged; return the output."""
    before = tree_digest(run)
    result = invoke(*args, "--run-dir", str(run), "-q")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().startswith("error:"), result.output
    assert tree_digest(run) == before
    return " ".join(result.output.split())


def write(path: Path, text: str) -> str:
    """Write a small file and return its path as a string."""
    path.write_text(text)
    return str(path)


def one_path(setup: Setup, k: int = 0) -> str:
    """Return the k-th image path of the dataset (sorted order)."""
    return sorted(setup[2])[k]


# -- import-labels ------------------------------------------------------------------------------

def test_import_refuses_unknown_path(folder_run: Setup, tmp_path: Path) -> None:
    out = refused(folder_run[1], "import-labels", write(tmp_path / "l.csv", "path,label\nnot/there.png,cat\n"))
    assert "'not/there.png' is not an image of the dataset" in out and "line 2" in out


def test_import_refuses_two_labels_for_one_image(folder_run: Setup, tmp_path: Path) -> None:
    p = one_path(folder_run)
    out = refused(folder_run[1], "import-labels", write(tmp_path / "l.csv", f"path,label\n{p},cat\n{p},dog\n"))
    assert "labelled 'dog'" in out and "labels it 'cat'" in out


def test_import_refuses_a_label_that_contradicts_an_earlier_round(folder_run: Setup, loop_run: Path,
                                                                  tmp_path: Path) -> None:
    p = one_path(folder_run)
    ok = invoke("import-labels", write(tmp_path / "a.csv", f"path,label\n{p},cat\n"), "--run-dir", str(loop_run), "-q")
    assert ok.exit_code == 0, ok.output
    index = sorted(folder_run[2]).index(p)
    out = refused(loop_run, "import-labels", write(tmp_path / "b.csv", f"index,label\n{index},dog\n"))
    assert "labels/round-001 labels it 'cat'" in out


def test_import_refuses_empty_label(folder_run: Setup, tmp_path: Path) -> None:
    out = refused(folder_run[1], "import-labels", write(tmp_path / "l.csv", f"path,label\n{one_path(folder_run)},\n"))
    assert "empty label" in out


def test_import_refuses_label_outside_declared_classes(folder_run: Setup, tmp_path: Path) -> None:
    labels = write(tmp_path / "l.csv", f"path,label\n{one_path(folder_run)},cow\n")
    out = refused(folder_run[1], "import-labels", labels, "--classes", "cat,dog")
    assert "'cow' is not one of the classes (cat, dog)" in out and "--new-class 'cow'" in out


def test_import_refuses_bad_index_and_header(folder_run: Setup, tmp_path: Path) -> None:
    out = refused(folder_run[1], "import-labels", write(tmp_path / "l.csv", "index,label\n999,cat\n"))
    assert "index '999' is not a train index" in out
    out = refused(folder_run[1], "import-labels", write(tmp_path / "h.csv", "file,class\na.png,cat\n"))
    assert "header must hold 'label' and 'path' or 'index'" in out


# -- embeddings from elsewhere -----------------------------------------------------------------

def test_precomputed_refuses_bad_arrays(folder_run: Setup, tmp_path: Path) -> None:
    run, n = folder_run[1], len(folder_run[2])
    cases = {
        "rows.npy": (np.zeros((n + 1, 4)), f"{n + 1} rows of embeddings, but the dataset has {n} images"),
        "nan.npy": (np.where(np.eye(n, 4) > 0, np.nan, 0.0), "hold NaN or inf (first: row 0)"),
        "flat.npy": (np.zeros(n), "must be a 2-d [N, D] array"),
    }
    for name, (array, message) in cases.items():
        np.save(tmp_path / name, array)
        assert message in refused(run, "pretrain", "--task", "precomputed", "--param", f"file={tmp_path / name}")
    np.savez(tmp_path / "paths.npz", paths=np.array(sorted(folder_run[2])[1:]), embeddings=np.zeros((n - 1, 3)))
    out = refused(run, "pretrain", "--task", "precomputed", "--param", f"file={tmp_path / 'paths.npz'}")
    assert "1 image(s) of the dataset have no embedding" in out
    assert "not found" in refused(run, "pretrain", "--task", "precomputed", "--param", f"file={tmp_path / 'no.npy'}")


def test_precomputed_npz_is_matched_by_path(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    paths = sorted(folder_run[2])
    order = np.random.default_rng(0).permutation(len(paths))
    embeddings = np.arange(len(paths) * 2, dtype=np.float64).reshape(-1, 2)  # row i belongs to paths[i]
    np.savez(tmp_path / "e.npz", paths=np.array(paths)[order], embeddings=embeddings[order])
    result = invoke("pretrain", "--task", "precomputed", "--param", f"file={tmp_path / 'e.npz'}",
                    "--run-dir", str(loop_run), "-q")
    assert result.exit_code == 0, result.output
    stored = np.load(loop_run / "pretrain" / "precomputed" / "embeddings.npy")
    assert stored.dtype == np.float32 and np.array_equal(stored, embeddings.astype(np.float32))


def test_torchvision_backbone_from_a_local_file(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    torch.save(resnet18().state_dict(), tmp_path / "r18.pth")
    out = refused(folder_run[1], "pretrain", "--task", "torchvision", "--param", "arch=resnet34",
                  "--param", f"weights={tmp_path / 'r18.pth'}")
    assert "does not fit torchvision 'resnet34'" in out
    out = refused(folder_run[1], "pretrain", "--task", "torchvision", "--param", "arch=resnet18",
                  "--param", f"weights={tmp_path / 'none.pth'}")
    assert "never downloads" in out
    result = invoke("pretrain", "--task", "torchvision", "--param", "arch=resnet18", "--param",
                    f"weights={tmp_path / 'r18.pth'}", "--param", "resize=32", "--run-dir", str(loop_run), "-q")
    assert result.exit_code == 0, result.output
    assert np.load(loop_run / "pretrain" / "torchvision" / "embeddings.npy").shape == (len(folder_run[2]), 512)


# -- folders, next, export, the simulation-only commands ------------------------------------------

def test_folder_refusals(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "mixed").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "mixed" / "a.png")
    Image.new("RGB", (20, 16)).save(tmp_path / "mixed" / "b.png")
    (tmp_path / "big").mkdir()
    Image.new("RGB", (300, 200)).save(tmp_path / "big" / "photo.jpg")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    (tmp_path / "fine").mkdir()
    Image.new("L", (16, 16)).save(tmp_path / "fine" / "a.png")
    result = invoke("pretrain", "--task", "proxy", f"images:{tmp_path / 'fine'}", "--run-dir", str(tmp_path / "r"),
                    "-q")
    assert result.exit_code == 2 and "trains on ground-truth labels" in result.output and not (tmp_path / "r").exists()
    cases = {"mixed": "the images have 2 sizes (e.g. b.png is 20x16, most are 16x16); pass --image-size S",
             "big": "is 300x200, larger than 128 px; pass --image-size S",
             "broken": "none of the 1 image files"}
    for folder, message in cases.items():
        result = invoke("pretrain", "--task", "vae", f"images:{tmp_path / folder}", "--run-dir", str(tmp_path / "r"),
                        "-q")
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
        assert not (tmp_path / "r").exists()


def test_next_refusals(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    assert "at least 2 classes (have: none)" in refused(loop_run, "next", "--budget", "5")
    annotate(loop_run / "exports" / "typiclust-6" / "to_label.csv", folder_run[2], tmp_path / "l.csv")
    assert invoke("import-labels", str(tmp_path / "l.csv"), "--run-dir", str(loop_run), "-q").exit_code == 0
    assert "reads ground-truth labels" in refused(loop_run, "next", "--budget", "5", "--query", "random-covering")
    assert "more than the 30 images not yet labelled" in refused(loop_run, "next", "--budget", "31")
    out = refused(loop_run, "next", "--budget", "5", "--holdout", str(tmp_path / "l.csv"))
    assert "every image in it is also an imported training label" in out


def test_export_and_simulation_refusals(folder_run: Setup, tmp_path: Path) -> None:
    run = folder_run[1]
    assert "pools/nope" in refused(run, "export", "nope")
    with (run / "exports" / "typiclust-6" / "to_label.csv").open() as handle:
        picked = [r["path"] for r in csv.DictReader(handle)]
    (tmp_path / "dest" / picked[0]).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dest" / picked[0]).write_bytes(b"other")
    out = refused(run, "export", "typiclust-6", "--name", "copy", "--copy-to", str(tmp_path / "dest"))
    assert "exists with other content" in out
    assert "unlabeled dataset" in refused(run, "al-run", "--query", "entropy", "--episodes", "1")
    # ProbCover has a default of 10 pseudo-classes without labels (issue 13); k-means quotas need K.
    assert "no classes yet" in refused(run, "init-pool", "--strategy", "cluster-quota", "--param",
                                       "clusters=kmeans", "--embeddings", "vae", "--budget", "3")


def test_export_works_for_in_memory_datasets_and_al_episodes(tmp_path: Path) -> None:
    """digits has no files: the picked images are written as PNGs; an AL episode's query exports too."""
    run = str(tmp_path / "run")
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(1437, 4)))
    steps = [["pretrain", "--task", "precomputed", "digits", "--param", f"file={tmp_path / 'e.npy'}"],
             ["init-pool", "--strategy", "random", "--budget", "5"],
             ["export", "random-5"],
             ["al-run", "--query", "entropy", "--episodes", "1", "--step-budget", "4", "--trials", "1",
              "--epochs", "1"],
             ["export", "al/entropy/random-5--entropy/trial-0/episode-0"]]
    for step in steps:
        result = invoke(*step, "--run-dir", run, "-q")
        assert result.exit_code == 0, (step, result.output)
    with (tmp_path / "run" / "exports" / "random-5" / "to_label.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and all((tmp_path / "run" / "exports" / "random-5" / r["path"]).is_file() for r in rows)
    episode = tmp_path / "run" / "exports" / "entropy--random-5--entropy--trial-0--episode-0"
    trial = tmp_path / "run" / "al" / "entropy" / "random-5--entropy" / "trial-0"
    queried = np.load(trial / "episode-0" / "queried.npy")
    with (episode / "to_label.csv").open() as handle:
        assert [int(r["index"]) for r in csv.DictReader(handle)] == queried.tolist()
    assert "queried nothing" in refused(tmp_path / "run", "export", "al/entropy/random-5--entropy/trial-0/episode-1")


def test_import_a_label_studio_csv_export(folder_run: Setup, loop_run: Path, tmp_path: Path) -> None:
    """Label Studio's CSV export keeps the tasks' data columns; its label column is the Choices tag."""
    truth = folder_run[2]
    with (loop_run / "exports" / "typiclust-6" / "to_label.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    lines = ["image,path,index,rank,score,choice,annotator"] + [
        f"/data/local-files/?d={r['path']},{r['path']},{r['index']},{r['rank']},{r['score']},{truth[r['path']]},ann@x"
        for r in rows]
    export = write(tmp_path / "project-1.csv", "\n".join(lines) + "\n")
    assert "'label' and 'path'" in refused(loop_run, "import-labels", export)
    result = invoke("import-labels", export, "--label-column", "choice", "--run-dir", str(loop_run), "-q")
    assert result.exit_code == 0 and "6 labels imported" in result.output, result.output
    with (loop_run / "labels" / "round-001" / "labels.csv").open() as handle:
        assert {r["path"]: r["label"] for r in csv.DictReader(handle)} == {r["path"]: truth[r["path"]] for r in rows}


def test_self_supervised_tasks_on_unlabeled_images(loop_run: Path) -> None:
    """simclr and scan train without classes; scan asks for a number of clusters first, writing nothing."""
    run = str(loop_run)
    result = invoke("pretrain", "--task", "simclr", "--epochs", "1", "--param", "batch_size=16", "--run-dir", run, "-q")
    assert result.exit_code == 0, result.output
    assert "give --param clusters=K" in refused(loop_run, "pretrain", "--task", "scan", "--epochs", "1")
    result = invoke("pretrain", "--task", "scan", "--epochs", "1", "--param", "clusters=3", "--run-dir", run, "-q")
    assert result.exit_code == 0, result.output
    assert len(np.unique(np.load(loop_run / "pretrain" / "scan" / "cluster.npy"))) <= 3
