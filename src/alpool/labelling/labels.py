"""Labels made by a person: read a CSV, check it against the dataset, accumulate rounds.

A labels file is a CSV with a header holding ``label`` and ``path`` (relative to the image folder,
as in the exported ``to_label.csv``) or ``index`` (a train index); other columns are ignored, so the
exported CSV with a ``label`` column added imports as it is. Every problem is refused with one line
naming the row, before anything is written: an unknown path or index, an empty label, one image
with two different labels (in the file, or against an earlier round), a label outside the
declared class list. The same label given twice is kept once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alpool.data.base import Dataset
from alpool.errors import ConfigError, CorruptFileError
from alpool.rundir import RunDir, StepDir, StepWriter


@dataclass
class LabelSet:
    """Labels by train index (insertion order kept) and the class list they use."""

    labels: dict[int, str] = field(default_factory=dict)
    origin: dict[int, str] = field(default_factory=dict)  # index -> where the label came from
    declared: list[str] | None = None

    @property
    def classes(self) -> list[str]:
        """Return the declared class list, else the sorted labels seen."""
        return list(self.declared) if self.declared is not None else sorted(set(self.labels.values()))

    def indices(self) -> np.ndarray:
        """Return the labelled train indices ``[n]`` int64, sorted."""
        return np.asarray(sorted(self.labels), dtype=np.int64)

    def targets(self, n: int) -> np.ndarray:
        """Return ``[n]`` int64 class ids (``-1`` where unlabelled)."""
        ids = {name: k for k, name in enumerate(self.classes)}
        y = np.full(n, -1, dtype=np.int64)
        for index, label in self.labels.items():
            y[index] = ids[label]
        return y

    def add(self, index: int, label: str, where: str, what: str) -> bool:
        """Add one label; refuse a different label for the same image. Return whether it is new."""
        if self.declared is not None and label not in self.declared:
            raise ConfigError(f"{where}: label {label!r} is not one of the declared classes "
                              f"({', '.join(self.declared)}); fix the label or the class list")
        if index in self.labels:
            if self.labels[index] != label:
                raise ConfigError(f"{where}: {what} is labelled {label!r}, but {self.origin[index]} labels it "
                                  f"{self.labels[index]!r}; keep one label per image")
            return False
        self.labels[index] = label
        self.origin[index] = where
        return True


def read_rows(file: Path, column: str = "label") -> tuple[str, list[tuple[int, str, str]]]:
    """Return the key column (``path`` or ``index``) and ``(line, key, label)`` rows of a labels CSV.

    ``column`` names the label column (Label Studio's CSV export calls it after the Choices tag,
    e.g. ``choice``; its ``path`` and ``index`` columns come from the exported tasks).
    """
    column = column.strip().lower()
    if not file.is_file():
        raise ConfigError(f"labels file {file} not found; pass a CSV with a path,label or index,label header")
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            reader.fieldnames = header
            key = "path" if "path" in header else "index" if "index" in header else None
            if key is None or column not in header:
                raise ConfigError(f"{file}: the header must hold {column!r} and 'path' or 'index' "
                                  f"(it has: {', '.join(header) or 'nothing'}; --label-column names another)")
            rows = [(reader.line_num, (r.get(key) or "").strip(), (r.get(column) or "").strip()) for r in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CorruptFileError(f"{file} is not a readable UTF-8 CSV ({exc})") from None
    if not rows:
        raise ConfigError(f"{file} has a header but no rows; add one row per labelled image")
    return key, rows


class IndexOf:
    """Maps a CSV key (relative path or index) to a train index of the dataset."""

    def __init__(self, dataset: Dataset) -> None:
        self.n = dataset.n_train
        self.paths = {p: i for i, p in enumerate(dataset.paths)}
        self.root = Path(dataset.root) if dataset.root else None

    def __call__(self, key: str, value: str, where: str) -> int:
        """Return the index or raise one line naming the row."""
        if key == "index":
            if not value.lstrip("-").isdigit() or not 0 <= int(value) < self.n:
                raise ConfigError(f"{where}: index {value!r} is not a train index (0 ... {self.n - 1})")
            return int(value)
        if not self.paths:
            raise ConfigError(f"{where}: this dataset has no image files; label by index (index,label columns)")
        relative = self._relative(value)
        if relative not in self.paths:
            raise ConfigError(f"{where}: path {value!r} is not an image of the dataset; "
                              "use the path of to_label.csv (relative to the image folder)")
        return self.paths[relative]

    def _relative(self, value: str) -> str:
        """Normalise a path: forward slashes, no ``./``, absolute paths under the root made relative."""
        text = value.replace("\\", "/")
        text = text[2:] if text.startswith("./") else text
        path = Path(text)
        if path.is_absolute() and self.root is not None:
            try:
                return path.resolve().relative_to(self.root).as_posix()
            except ValueError:
                return text
        return text


def parse_file(file: Path, dataset: Dataset, into: LabelSet, column: str = "label") -> list[tuple[int, str]]:
    """Check every row of ``file`` and add it to ``into``; return the new ``(index, label)`` pairs."""
    key, rows = read_rows(file, column)
    index_of = IndexOf(dataset)
    new: list[tuple[int, str]] = []
    for line, value, label in rows:
        where = f"{file.name} line {line}"
        if not value:
            raise ConfigError(f"{where}: empty {key}; give the image's {key} or delete the row")
        if not label:
            raise ConfigError(f"{where}: empty label for {value!r}; label the image or delete the row")
        index = index_of(key, value, where)
        if into.add(index, label, where, f"{key} {value!r}"):
            new.append((index, label))
    return new


def labels_steps(run: RunDir) -> list[StepDir]:
    """Return the finished labels steps, oldest first (by name: round-001, round-002, ...)."""
    return run.finished("labels")


def load_imported(run: RunDir, writer: StepWriter | None = None, exclude: str | None = None) -> LabelSet:
    """Return every label imported so far (all finished ``labels/`` steps) with the declared classes.

    With a ``writer``, each ``labels.csv`` is verified against its manifest and recorded as an input;
    ``exclude`` names a round left out (the one ``--force`` replaces).
    """
    result = LabelSet()
    for step in (s for s in labels_steps(run) if s.name != exclude):
        manifest = step.manifest()
        if writer is not None:
            writer.record_step_input(step, "labels.csv")
        declared = manifest.config.get("classes")
        if declared is not None and result.declared is None:
            result.declared = list(declared)
        path = step.file("labels.csv")
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                result.add(int(row["index"]), row["label"], f"{step.label}", f"index {row['index']}")
    return result
