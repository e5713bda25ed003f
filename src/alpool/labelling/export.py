"""A selection as files a person can label: ``to_label.csv``, Label Studio tasks and config, copies.

``to_label.csv`` has ``rank, index, path, score`` in pick order (rank 1 = picked first; score is
the selector's score of the image, empty where it has none); add a ``label`` column and it imports
as it is (``alpool import-labels``). ``label_studio.json`` is a list of Label Studio import tasks
whose ``data.image`` is the URL prefix + the percent-encoded path, ``label_config.xml`` the
labelling interface and ``label_studio_setup.txt`` the steps that make the URLs work (see
:mod:`alpool.labelling.label_studio`).

Datasets without image files (digits, CIFAR, ...) get their picked images written as
``images/<index>.png`` inside the export folder, so every pool can be exported.
``--copy-to DIR`` copies the picked files to ``DIR/<path>`` (relative paths kept, so labels
written against the copies import unchanged); a different file already there is refused first.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alpool.core.atomic_files import atomic_copy, remove_stale_temps
from alpool.core.errors import ConfigError
from alpool.data.base import Dataset
from alpool.labelling.label_studio import Setup, image_url, label_config
from alpool.rundir.run_dir import StepWriter
from alpool.rundir.step_files import TO_LABEL

IMAGES_DIR = "images"


@dataclass(frozen=True)
class ExportRow:
    """One image to label."""

    rank: int
    index: int
    path: str  # as the run records it (NFC), shown to the person and read back by import-labels
    score: float
    file: str = ""  # the name on disk, relative to the folder, when it differs from ``path`` (macOS NFD names)

    @property
    def on_disk(self) -> str:
        """Return the relative name of the file on disk (what a copy and a URL must use)."""
        return self.file or self.path


def export_rows(indices: np.ndarray, scores: np.ndarray | None, dataset: Dataset) -> list[ExportRow]:
    """Return the rows in pick order; ``scores`` is ``[N]`` by train index (NaN = no score)."""
    rows = []
    for rank, index in enumerate(np.asarray(indices, dtype=np.int64).tolist(), start=1):
        path = dataset.paths[index] if dataset.paths else f"{IMAGES_DIR}/{index:06d}.png"
        score = float(scores[index]) if scores is not None else float("nan")
        on_disk = dataset.files[index] if dataset.files else ""
        rows.append(ExportRow(rank, index, path, score, on_disk if on_disk != path else ""))
    return rows


def csv_text(rows: list[ExportRow]) -> str:
    """Return ``to_label.csv``: rank, index, path, score (empty score where NaN)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["rank", "index", "path", "score"])
    for row in rows:
        writer.writerow([row.rank, row.index, row.path, "" if np.isnan(row.score) else f"{row.score:.6g}"])
    return buffer.getvalue()


def label_studio_tasks(rows: list[ExportRow], url_prefix: str, source: str) -> list[dict[str, object]]:
    """Return Label Studio import tasks (one per image, in pick order; the path percent-encoded in the URL)."""
    return [{"data": {"image": image_url(url_prefix, row.on_disk), "path": row.path, "index": row.index,
                      "rank": row.rank, "score": None if np.isnan(row.score) else row.score},
             "meta": {"alpool_source": source}} for row in rows]


def write_export(writer: StepWriter, rows: list[ExportRow], dataset: Dataset, setup: Setup, classes: list[str],
                 source: str) -> None:
    """Write the CSV, the Label Studio files and, for datasets without files, the images as PNG."""
    if not dataset.paths:
        _write_pngs(writer, rows, dataset)
    writer.write_text(TO_LABEL, csv_text(rows))
    writer.write_json("label_studio.json", label_studio_tasks(rows, setup.prefix, source))
    writer.write_text("label_config.xml", label_config(classes))
    writer.write_text("label_studio_setup.txt", "\n".join(setup.lines(writer.path)) + "\n")


def _write_pngs(writer: StepWriter, rows: list[ExportRow], dataset: Dataset) -> None:
    """Write every picked image of an in-memory dataset as a PNG."""
    from torchvision.io import encode_png

    for row in rows:
        image = dataset.train_x[row.index]  # [C, H, W] uint8
        writer.write_bytes(row.path, encode_png(image).numpy().tobytes())


def check_copy(rows: list[ExportRow], dataset: Dataset, dest: Path) -> None:
    """Refuse a copy that cannot be made or would overwrite a different file (checked before anything is written)."""
    if not dataset.paths or dataset.root is None:
        raise ConfigError("--copy-to needs a dataset of image files; the exported images/ folder holds the PNGs")
    for folder in (dest, *dest.parents):
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--copy-to {dest}: {folder} is a file, not a folder; give a folder (new or empty)")
        if folder.exists():
            break
    for row in rows:
        target = dest / row.path
        for folder in target.parents:
            if folder == dest:
                break
            if folder.exists() and not folder.is_dir():
                raise ConfigError(f"--copy-to {dest}: {folder} is a file where a folder of the copies goes; "
                                  "choose an empty --copy-to folder")
        if target.is_dir():
            raise ConfigError(f"--copy-to {dest}: {target} is a folder where an image goes; choose an empty folder")
        if target.exists() and target.read_bytes() != (Path(dataset.root) / row.on_disk).read_bytes():
            raise ConfigError(f"{target} exists with other content; choose an empty --copy-to folder")


def copy_files(rows: list[ExportRow], dataset: Dataset, dest: Path) -> int:
    """Copy the picked files to ``dest/<path>`` (each through a temporary name); return how many were copied."""
    root = Path(dataset.root or ".")  # check_copy refused datasets without a root
    for folder in {(dest / row.path).parent for row in rows}:
        if folder.is_dir():
            remove_stale_temps(folder)  # left by a killed copy
    for row in rows:
        atomic_copy(root / row.on_disk, dest / row.path, writable=dest)
    return len(rows)


def summary_of(rows: list[ExportRow], source: str, copied_to: Path | None, setup: Setup,
               lines: list[str]) -> dict[str, object]:
    """Return the export's manifest summary (with the Label Studio setup that serves its URLs)."""
    return {"source": source, "n_images": len(rows), "first": [r.path for r in rows[:5]],
            "copied_to": str(copied_to.resolve()) if copied_to is not None else None,
            "files": [TO_LABEL, "label_studio.json", "label_config.xml", "label_studio_setup.txt"],
            "url_prefix": setup.prefix, "image_folder": str(setup.folder),
            "label_studio": {"environment": setup.environment(), "storage_path": str(setup.folder),
                             "steps": lines}}
