"""Write one ``exports/<name>/`` step from picks held in memory (``alpool export`` and ``alpool next``).

``next`` hands its selection to :func:`export_picks` directly; ``export`` reads a finished pool or
AL episode first. The URL prefix of the tasks is the one given, else the last one a person gave in
this run (so ``next`` keeps a ``--url-prefix`` of an earlier round), else Label Studio's local-files
URL of the image folder (:mod:`alpool.labelling.label_studio`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alpool.core.errors import ConfigError
from alpool.labelling.config import ExportConfig
from alpool.labelling.export import check_copy, copy_files, export_rows, summary_of, write_export
from alpool.labelling.label_studio import Setup, default_prefix
from alpool.labelling.labels import load_imported
from alpool.labelling.tidy import tidy
from alpool.rundir.context import RunContext
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir, StepWriter
from alpool.rundir.step_dir import StepDir


@dataclass
class Picks:
    """The picked train indices in order, their ``[N]`` scores (``None`` if not recorded), the files read."""

    indices: np.ndarray  # [B] int64
    scores: np.ndarray | None  # [N] float (NaN = no score)
    files: list[tuple[StepDir | None, Path]]

    def record(self, writer: StepWriter) -> None:
        """Record the files read as the writer's inputs (step files verified against their manifest)."""
        for step, path in self.files:
            if step is not None:
                writer.record_step_input(step, path.name)
            else:
                writer.record_input(path)


def pool_picks(step: StepDir) -> Picks:
    """Return the picks of a finished pool (with its scores where it recorded them)."""
    files: list[tuple[StepDir | None, Path]] = [(step, step.file("indices.npy"))]
    scores = None
    if "selection_scores.npy" in step.manifest().outputs:
        scores = step.read_array("selection_scores.npy")
        files.append((step, step.file("selection_scores.npy")))
    return Picks(step.read_array("indices.npy").astype(np.int64), scores, files)


def remembered_prefix(run: RunDir) -> str | None:
    """Return the ``--url-prefix`` a person gave most recently in this run (``None``: never)."""
    given = [m for m in (s.manifest() for s in run.finished("exports")) if m.config.get("url_prefix")]
    return max(given, key=lambda m: m.started_at).config["url_prefix"] if given else None


def setup_of(ctx: RunContext, step: StepDir, given: str | None) -> Setup:
    """Return the image folder served and the tasks' URL prefix."""
    root = ctx.dataset.root
    folder = Path(root).resolve() if ctx.dataset.paths and root else step.path.resolve()
    prefix = given or (remembered_prefix(ctx.run) if ctx.dataset.paths else None)
    return Setup(folder, prefix or default_prefix(folder))


def export_picks(ctx: RunContext, config: ExportConfig, picks: Picks, name: str) -> StepManifest:
    """Export picks as ``exports/<name>`` (every check before the first write).

    Raises:
        AlreadyFinishedError: the export finished with the same settings (nothing to do).
        StepExistsError: it finished with other settings and ``config.force`` is false.
    """
    step = ctx.run.step("exports", name)
    tidy(ctx.run, step)
    record = config.model_dump(mode="json")
    if ctx.run.finished_step("exports", name, record, config.force) is not None:  # the run directory's one rule
        raise ctx.run.already_finished(f"export {step.label}")
    if len(picks.indices) and int(picks.indices.max()) >= ctx.dataset.n_train:
        raise ConfigError(f"{config.source} holds index {int(picks.indices.max())}, beyond the "
                          f"{ctx.dataset.n_train} images of the dataset")
    rows = export_rows(picks.indices, picks.scores, ctx.dataset)
    if config.copy_to is not None:
        check_copy(rows, ctx.dataset, config.copy_to)
    setup = setup_of(ctx, step, config.url_prefix)
    classes = load_imported(ctx.run).classes
    with ctx.run.writing("exports", name, record, config.force) as w:
        picks.record(w)
        write_export(w, rows, ctx.dataset, setup, classes, config.source)
        if config.copy_to is not None:
            copy_files(rows, ctx.dataset, config.copy_to)
        return w.finish(summary_of(rows, config.source, config.copy_to, setup, setup.lines(w.path)), oracle=False)
