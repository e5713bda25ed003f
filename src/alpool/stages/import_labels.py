"""``alpool import-labels``: record a person's labels as ``labels/<name>/`` (never oracle).

The file is a CSV (``path,label`` or ``index,label``; ``to_label.csv`` with a label column added) or
Label Studio's CSV, JSON or JSON_MIN export of the exported tasks (see
:mod:`alpool.labelling.label_files`).

Each import is one step (``round-001``, ``round-002``, ... by default: the first number not yet
finished, so a killed import is redone under its own number) holding the new labels as
``labels.csv`` (``index, path, label``); ``alpool next`` trains on the union of every round. The
class list is declared by the first import (``--classes``, else the labels it holds) and grows only
on purpose (``--new-class``, see :mod:`alpool.labelling.classes`). Every row is checked, against
the dataset and against earlier rounds, before anything is written. Importing a file again (the
same bytes, or only labels imported before) is "already finished": exit 0, nothing written.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from alpool.core import reporting
from alpool.core.atomic_files import file_lock, sha256_file
from alpool.core.errors import AlreadyFinishedError, ConfigError, LockedError, StepExistsError
from alpool.labelling.classes import check_new_names, grow
from alpool.labelling.config import ImportLabelsConfig
from alpool.labelling.label_files import read_label_file
from alpool.labelling.labels import LabelSet, labels_steps, load_imported, parse_rows
from alpool.labelling.tidy import tidy
from alpool.rundir.context import open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_dir import StepDir


def default_name(run: RunDir) -> str:
    """Return ``round-<k>``: the first round not finished and not being written by another process."""
    k = 1
    while True:
        name = f"round-{k:03d}"
        taken = run.step("labels", name).is_finished() or _being_written(run, name)
        if not taken:
            return name
        k += 1


def _being_written(run: RunDir, name: str) -> bool:
    """Return whether another process holds the lock of ``labels/<name>``."""
    lock = run.step_lock("labels", name)
    if not lock.exists():
        return False
    try:
        with file_lock(lock, f"step {run.step('labels', name).label}"):
            return False
    except LockedError:
        return True


def imported_before(run: RunDir, digest: str, config: ImportLabelsConfig) -> StepDir | None:
    """Return the round that imported a file with this sha256 and the same label column, if any."""
    for step in labels_steps(run):
        recorded = step.manifest().config
        if recorded.get("source_sha256") == digest and recorded.get("label_column", "label") == config.label_column:
            return step
    return None


def class_list(labels: LabelSet, config: ImportLabelsConfig, first: bool) -> list[str] | None:
    """Return the classes a label may have before this file's new names (``None``: the first import takes any)."""
    known = labels.classes if not first else []
    if config.classes is not None:
        names = [c.strip() for c in config.classes]
        check_new_names(names, [], "--classes")
        missing = [c for c in known if c not in names]
        if missing:
            raise ConfigError(f"--classes leaves out {', '.join(missing)}, declared in an earlier import; a class "
                              "list only grows: list them too (or omit --classes)")
        check_new_names([n for n in names if n not in known], known, "--classes")
        known = known + [n for n in names if n not in known]
    if config.new_classes:
        added = [c.strip() for c in config.new_classes]
        check_new_names(added, known, "--new-class")
        known = known + [c for c in added if c not in known]
    return None if first and config.classes is None else known


def run(config: ImportLabelsConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Check ``config.file`` against the dataset and earlier rounds, then write ``labels/<name>/``."""
    ctx = open_run(run_dir, data_dir)
    tidy(ctx.run, *ctx.run.steps("labels"))
    source = read_label_file(config.file, config.label_column)
    digest = sha256_file(config.file)
    done = None if config.force else imported_before(ctx.run, digest, config)
    if done is not None:
        ctx.run.record_step(done, now=False)  # a kill may have left it unindexed
        raise AlreadyFinishedError(f"{config.file} was imported already as {done.label} (same file): kept it "
                                   "(pass --force with --name to redo a round)", root=ctx.run.root)
    name = config.name or default_name(ctx.run)
    step = ctx.run.step("labels", name)
    if ctx.run.finished_step("labels", name, config.model_dump(mode="json"), config.force) is not None:
        # the same settings, another file (the same file was answered above): a round is never overwritten
        raise StepExistsError(f"labels step {step.label} in {ctx.run.root} holds an earlier import of "
                              f"{config.file}; choose another --name (or --force to replace it)")
    labels = load_imported(ctx.run, exclude=name)
    first = not labels.labels
    before = len(labels.labels)
    new = parse_rows(source, ctx.dataset, labels)
    if not new:
        ctx.run.record_step(step, now=False)  # indexes every finished step a kill left unindexed
        raise AlreadyFinishedError(f"every label in {config.file} was already imported (same image, same label): "
                                   "nothing new to record", root=ctx.run.root)
    seen: dict[str, str] = {}
    for row in source.rows:
        seen.setdefault(row.label, row.where)
    previous = [] if first else labels.classes
    classes = grow(class_list(labels, config, first), seen)
    added = [c for c in classes if c not in previous]
    if source.skipped:
        reporting.info(f"{config.file.name}: {source.skipped} skipped or cancelled annotation(s) left out")
    record = {**config.model_dump(mode="json"), "classes": classes, "source_sha256": digest}
    with ctx.run.writing("labels", name, record, config.force) as w:
        current = load_imported(ctx.run, w, exclude=name)  # records the earlier rounds as inputs
        for index, label in new:  # a round another process finished meanwhile may disagree
            current.add(index, label, f"{config.file.name}", f"index {index}")
        w.write_text("labels.csv", _csv(new, ctx.dataset.paths))
        counts = Counter(label for _, label in new)
        summary = {
            "n_labels": len(new), "total_labeled": before + len(new), "classes": classes,
            "declared": added if first else [], "added_classes": [] if first else added,
            "counts": {c: counts.get(c, 0) for c in classes}, "skipped_annotations": source.skipped,
            "format": source.kind, "source": str(config.file.resolve()), "by": config.by, "round": name,
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
