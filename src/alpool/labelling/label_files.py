"""Read a labels file as rows of ``(where, key, value, label)``: a CSV, or Label Studio's JSON / JSON_MIN export.

- **CSV** with a header holding the label column (``label`` by default) and ``path``, ``index`` or
  ``image`` (a task URL). The exported ``to_label.csv`` with a ``label`` column added, and Label
  Studio's CSV export, both import as they are.
- **Label Studio JSON** (a list of tasks with ``annotations``): the label is the ``choices`` (or
  ``text``) value of the result whose ``from_name`` is the label column. Cancelled (skipped)
  annotations and tasks without an annotation are left out and counted. Two annotations of one
  task that disagree are refused in one line naming the image.
- **Label Studio JSON_MIN** (a list of flat objects, one per annotation): like a CSV.

In Label Studio's CSV and JSON_MIN exports a row without a label is a skipped annotation: left
out and counted. In a hand-made CSV an empty label is refused.

Every message is one line; text quoted from the file is cut to :data:`QUOTE_CHARS`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alpool.core.errors import ConfigError, CorruptFileError

QUOTE_CHARS = 80
KEYS = ("path", "index", "image")  # how a row names its image, in order of preference
LS_COLUMNS = {"annotator", "annotation_id", "lead_time"}  # columns that only Label Studio's exports have


def cut(text: object, limit: int = QUOTE_CHARS) -> str:
    """Return ``repr(text)`` cut to ``limit`` characters (one line, never the whole file)."""
    shown = repr(text) if isinstance(text, str) else str(text)
    shown = shown.replace("\n", "\\n")
    return shown if len(shown) <= limit else shown[:limit - 5] + "...'" + f" ({len(str(text))} chars)"


@dataclass(frozen=True)
class Row:
    """One labelled image as the file names it."""

    where: str  # "labels.csv line 3", "export.json task 12"
    key: str  # path, index or image
    value: str
    label: str
    index: str | None = None  # the row's index too, where it has one (datasets without files need it)


@dataclass
class LabelRows:
    """The rows of a labels file and what was left out of it."""

    rows: list[Row]
    skipped: int = 0  # cancelled / unlabelled annotations of a Label Studio export
    kind: str = "csv"
    notes: list[str] = field(default_factory=list)


def read_label_file(file: Path, column: str = "label") -> LabelRows:
    """Return the rows of a CSV, Label Studio JSON or JSON_MIN labels file.

    Raises:
        ConfigError: no such file, a folder, a header without the needed columns, no rows,
            annotators who disagree.
        CorruptFileError: not readable as UTF-8 CSV or JSON.
    """
    column = column.strip().lower()
    if file.is_dir():
        raise ConfigError(f"labels file {file} is a folder; pass the CSV or JSON file inside it")
    if not file.is_file():
        raise ConfigError(f"labels file {file} not found; pass a CSV (path,label or index,label) or a Label "
                          "Studio export (CSV, JSON, JSON_MIN)")
    try:
        with file.open("rb") as handle:
            start = handle.read(64).decode("utf-8-sig", errors="replace").lstrip()
    except OSError as exc:
        raise CorruptFileError(f"cannot read {file} ({exc.strerror}); check its permissions") from None
    result = _read_json(file, column) if start.startswith(("[", "{")) else _read_csv(file, column)
    if not result.rows:
        what = f" ({result.skipped} skipped or cancelled annotations left out)" if result.skipped else ""
        raise ConfigError(f"{file} holds no labelled image{what}; label some images and export again")
    return result


def _read_csv(file: Path, column: str) -> LabelRows:
    """Read a CSV with a header (BOM, CRLF and quoted fields allowed)."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            reader.fieldnames = header
            key = next((k for k in KEYS if k in header), None)
            if key is None or column not in header:
                shown = cut(", ".join(header) or "nothing")
                raise ConfigError(f"{file.name}: the header must hold {column!r} and 'path' or 'index' "
                                  f"(it has: {shown}; --label-column names another column)")
            studio = bool(LS_COLUMNS & set(header))
            rows: list[Row] = []
            skipped = 0
            for record in reader:
                value, label = record.get(key) or "", (record.get(column) or "").strip()
                if studio and not label:
                    skipped += 1
                    continue
                rows.append(Row(f"{file.name} line {reader.line_num}", key, value, label, record.get("index")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CorruptFileError(f"{file} is not a readable UTF-8 CSV ({cut(str(exc))})") from None
    return LabelRows(rows, skipped, "label-studio-csv" if studio else "csv")


def _read_json(file: Path, column: str) -> LabelRows:
    """Read Label Studio's JSON (tasks with annotations) or JSON_MIN (flat records) export."""
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptFileError(f"{file} is not readable JSON ({cut(str(exc))})") from None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise ConfigError(f"{file.name}: expected a list of Label Studio tasks (an export in JSON or JSON_MIN), "
                          f"got {cut(type(data).__name__)}")
    if any("annotations" in t for t in data):
        return _tasks(file, data, column)
    rows, skipped = [], 0
    for n, record in enumerate(data, start=1):
        lowered = {str(k).lower(): v for k, v in record.items()}
        key = next((k for k in KEYS if lowered.get(k) not in (None, "")), None)
        where = f"{file.name} item {n}"
        if key is None:
            raise ConfigError(f"{where}: no 'path', 'index' or 'image' field (it has: "
                              f"{cut(', '.join(lowered))}); export the tasks alpool wrote")
        label = _label_value(lowered.get(column), where)
        if label is None:
            skipped += 1
            continue
        rows.append(Row(where, key, str(lowered[key]), label, _text(lowered.get("index"))))
    return LabelRows(rows, skipped, "label-studio-json-min")


def _tasks(file: Path, tasks: list[dict[str, Any]], column: str) -> LabelRows:
    """Read full JSON tasks: one label per task from its annotations that were not cancelled."""
    rows, skipped = [], 0
    for n, task in enumerate(tasks, start=1):
        data = {str(k).lower(): v for k, v in (task.get("data") or {}).items()}
        where = f"{file.name} task {task.get('id', n)}"
        key = next((k for k in KEYS if data.get(k) not in (None, "")), None)
        if key is None:
            raise ConfigError(f"{where}: its data has no 'path', 'index' or 'image' (it has: "
                              f"{cut(', '.join(data))}); import alpool's label_studio.json into Label Studio")
        votes: dict[str, str] = {}
        for annotation in task.get("annotations") or []:
            label = None if annotation.get("was_cancelled") else _annotation_label(annotation, column, where)
            if label is None:
                skipped += 1
                continue
            votes.setdefault(label, str(annotation.get("completed_by", annotation.get("id", "?"))))
        if len(votes) > 1:
            (a, who_a), (b, who_b) = list(votes.items())[:2]
            raise ConfigError(f"{where}: {key} {cut(str(data[key]))} has annotations that disagree ({cut(a)} by "
                              f"{who_a}, {cut(b)} by {who_b}); keep one in Label Studio and export again")
        if votes:
            rows.append(Row(where, key, str(data[key]), next(iter(votes)), _text(data.get("index"))))
    return LabelRows(rows, skipped, "label-studio-json")


def _text(value: Any) -> str | None:
    """Return a JSON value as text (``None`` stays ``None``)."""
    return None if value is None else str(value)


def _annotation_label(annotation: dict[str, Any], column: str, where: str) -> str | None:
    """Return the label an annotation gives in field ``column`` (``None``: none given)."""
    results = [r for r in annotation.get("result") or [] if str(r.get("from_name", "")).lower() == column]
    if not results:
        return None
    value = results[0].get("value") or {}
    return _label_value(value.get("choices", value.get("text")), where)


def _label_value(value: Any, where: str) -> str | None:
    """Return one label from a JSON value (a string or a one-element list); ``None`` when empty."""
    if isinstance(value, dict) and "choices" in value:
        value = value["choices"]
    if isinstance(value, list):
        values = [str(v).strip() for v in value if str(v).strip()]
        if len(values) > 1:
            raise ConfigError(f"{where}: several labels {cut(', '.join(values))} for one image; "
                              "choose one (single choice) and export again")
        value = values[0] if values else None
    text = str(value).strip() if value is not None else ""
    return text or None
