"""``alpool import-labels``: record a person's labels as ``labels/<name>/`` (never oracle).

A Label Studio CSV export of the exported tasks imports directly: it carries the tasks' ``path``
and ``index`` columns, and ``--label-column choice`` names its label column.

Each import is one step (``round-001``, ``round-002``, ... by default) holding the new labels as
``labels.csv`` (``index, path, label``); ``alpool next`` trains on the union of every round. The
class list is the one declared with ``--classes`` (first import; later imports inherit it and may
not change it), else the labels seen so far. Every row is checked, against the dataset and against
earlier rounds, before anything is written.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from alpool.atomic_files import sha256_file
from alpool.errors import ConfigError, StepExistsError
from alpool.labelling.config import ImportLabelsConfig
from alpool.labelling.labels import LabelSet, labels_steps, load_imported, parse_file
from alpool.run_context import open_run
from alpool.rundir import RunDir, StepManifest


def default_name(run: RunDir) -> str:
    """Return ``round-<k>`` for the next round (k = finished labels steps + 1, three digits)."""
    taken = {s.name for s in run.steps("labels")}
    k = len(labels_steps(run)) + 1
    while f"round-{k:03d}" in taken:
        k += 1
    return f"round-{k:03d}"


def declare(previous: LabelSet, classes: list[str] | None) -> None:
    """Set the declared class list: the first declaration holds; a different later one is refused."""
    if classes is None:
        return
    names = [c.strip() for c in classes]
    if any(not c for c in names) or len(set(names)) != len(names):
        raise ConfigError(f"--classes {','.join(classes)!r} has empty or repeated names; list each class once")
    if previous.declared is not None and previous.declared != names:
        raise ConfigError(f"the classes were declared as {','.join(previous.declared)} in an earlier import; "
                          "keep that list (omit --classes) or start a new run directory")
    undeclared = sorted(set(previous.labels.values()) - set(names))
    if undeclared:
        raise ConfigError(f"earlier imports use labels {', '.join(undeclared)} that --classes does not list; "
                          "add them to --classes")
    previous.declared = names


def run(config: ImportLabelsConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Check ``config.file`` against the dataset and earlier rounds, then write ``labels/<name>/``."""
    ctx = open_run(run_dir, data_dir)
    name = config.name or default_name(ctx.run)
    step = ctx.run.step("labels", name)
    if step.is_finished() and not config.force:
        raise StepExistsError(f"labels step {step.label} already exists in {ctx.run.root}; "
                              "choose another --name (or --force to replace it)")
    labels = load_imported(ctx.run, exclude=name)
    declare(labels, config.classes)
    before = len(labels.labels)
    new = parse_file(config.file, ctx.dataset, labels, config.label_column)
    if not new:
        raise ConfigError(f"{config.file}: every row was imported before; nothing new to record")
    record = {**config.model_dump(mode="json"), "classes": labels.declared,
              "source_sha256": sha256_file(config.file)}
    with ctx.run.writing("labels", name, record, config.force) as w:
        load_imported(ctx.run, w, exclude=name)  # records the earlier rounds as inputs
        w.write_text("labels.csv", _csv(new, ctx.dataset.paths))
        counts = Counter(label for _, label in new)
        summary = {
            "n_labels": len(new), "total_labeled": before + len(new), "classes": labels.classes,
            "counts": {c: counts.get(c, 0) for c in labels.classes},
            "source": str(config.file.resolve()), "by": config.by, "round": name,
        }
        return w.finish(summary, oracle=False)


def _csv(rows: list[tuple[int, str]], paths: tuple[str, ...]) -> str:
    """Return ``labels.csv``: index, path (empty without files), label."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "path", "label"])
    for index, label in rows:
        writer.writerow([index, paths[index] if paths else "", label])
    return buffer.getvalue()
