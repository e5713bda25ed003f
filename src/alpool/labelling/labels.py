"""Labels made by a person: check a labels file against the dataset, accumulate rounds.

The file is read by :mod:`alpool.labelling.label_files` (CSV, Label Studio CSV / JSON / JSON_MIN).
A row names its image by ``path`` (relative to the image folder, as in the exported
``to_label.csv``), ``index`` (a train index) or ``image`` (the task URL of ``label_studio.json``).
Every problem is refused with one line naming the row, before anything is written: an unknown
path or index, an empty label, one image with two different labels (in the file, or against an
earlier round). The same label given twice is kept once. Paths match as exported: leading and
trailing spaces are kept (and tried stripped only when the exact path is not an image), and
unicode names match in either normal form (NFC, or NFD as macOS writes them).
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alpool.core.errors import ConfigError
from alpool.data.base import Dataset
from alpool.labelling.label_files import LabelRows, Row, cut, read_label_file
from alpool.labelling.label_studio import path_of_url
from alpool.rundir.run_dir import RunDir, StepWriter
from alpool.rundir.step_dir import StepDir


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
        if index in self.labels:
            if self.labels[index] != label:
                raise ConfigError(f"{where}: {what} is labelled {cut(label)}, but {self.origin[index]} labels it "
                                  f"{cut(self.labels[index])}; keep one label per image")
            return False
        self.labels[index] = label
        self.origin[index] = where
        return True


def nfc(text: str) -> str:
    """Return ``text`` in Unicode normal form C (how file names are compared)."""
    return unicodedata.normalize("NFC", text)


class IndexOf:
    """Maps a row's key (relative path, index or task URL) to a train index of the dataset."""

    def __init__(self, dataset: Dataset) -> None:
        self.n = dataset.n_train
        self.paths = {nfc(p): i for i, p in enumerate(dataset.paths)}
        self.root = Path(dataset.root) if dataset.root else None

    def __call__(self, row: Row) -> int:
        """Return the index or raise one line naming the row."""
        value = row.value
        if row.key != "index" and not self.paths and row.index not in (None, ""):  # exported PNGs: by index
            return self(Row(row.where, "index", str(row.index), row.label))
        if row.key == "index":
            text = value.strip()
            if not text.lstrip("-").isdigit() or not 0 <= int(text) < self.n:
                raise ConfigError(f"{row.where}: index {cut(value)} is not a train index (0 ... {self.n - 1})")
            return int(text)
        if not self.paths:
            raise ConfigError(f"{row.where}: this dataset has no image files; label by index (index,label columns)")
        for candidate in self._candidates(value, row.key == "image"):
            if candidate in self.paths:
                return self.paths[candidate]
        raise ConfigError(f"{row.where}: {row.key} {cut(value)} is not an image of the dataset; "
                          "use the path of to_label.csv (relative to the image folder)")

    def _candidates(self, value: str, url: bool) -> list[str]:
        """Return the relative paths ``value`` may mean, most literal first."""
        text = path_of_url(value) if url else value
        forms = [text, text.strip()]
        out: list[str] = []
        for form in forms:
            relative = self._relative(nfc(form))
            out.append(relative)
            if url and "/" in relative:  # /data/local-files/?d=<folder>/<path>
                out.append(relative.split("/", 1)[1])
        return out

    def _relative(self, value: str) -> str:
        """Normalise a path: forward slashes, no ``./``, absolute paths under the root made relative."""
        text = value.replace("\\", "/")
        text = text[2:] if text.startswith("./") else text
        path = Path(text)
        if path.is_absolute() and self.root is not None:
            try:
                return nfc(path.resolve().relative_to(self.root.resolve()).as_posix())
            except ValueError:
                return text
        return text


def parse_rows(source: LabelRows, dataset: Dataset, into: LabelSet) -> list[tuple[int, str]]:
    """Check every row and add it to ``into``; return the new ``(index, label)`` pairs."""
    index_of = IndexOf(dataset)
    new: list[tuple[int, str]] = []
    for row in source.rows:
        if not row.value.strip():
            raise ConfigError(f"{row.where}: empty {row.key}; give the image's {row.key} or delete the row")
        if not row.label:
            raise ConfigError(f"{row.where}: empty label for {cut(row.value)}; label the image or delete the row")
        index = index_of(row)
        if into.add(index, row.label, row.where, f"{row.key} {cut(row.value)}"):
            new.append((index, row.label))
    return new


def parse_file(file: Path, dataset: Dataset, into: LabelSet, column: str = "label") -> list[tuple[int, str]]:
    """Read ``file`` (CSV or Label Studio export), check every row and add it to ``into``; return the new pairs."""
    return parse_rows(read_label_file(file, column), dataset, into)


def labels_steps(run: RunDir) -> list[StepDir]:
    """Return the finished labels steps, oldest first (by name: round-001, round-002, ...)."""
    return run.finished("labels")


def load_imported(run: RunDir, writer: StepWriter | None = None, exclude: str | None = None) -> LabelSet:
    """Return every label imported so far (all finished ``labels/`` steps) with the class list.

    The class list is the union of the lists the rounds recorded (in order) and of their labels
    (rounds from before class lists were recorded hold none). With a ``writer``, each ``labels.csv``
    is verified against its manifest and recorded as an input; ``exclude`` names a round left out
    (the one ``--force`` replaces).
    """
    result = LabelSet()
    for step in (s for s in labels_steps(run) if s.name != exclude):
        manifest = step.manifest()
        if writer is not None:
            writer.record_step_input(step, "labels.csv")
        declared = manifest.config.get("classes")
        path = step.file("labels.csv")
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                result.add(int(row["index"]), row["label"], f"{step.label}", f"index {row['index']}")
        known = list(result.declared or [])
        known += [c for c in declared or [] if c not in known]
        known += sorted(set(result.labels.values()) - set(known))
        result.declared = known
    return result
