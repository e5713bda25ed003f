"""``alpool export``: a pool (or an AL episode's query) as files to label, in ``exports/<name>/``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alpool.errors import ConfigError, MissingStepError, StepExistsError
from alpool.labelling.config import ExportConfig
from alpool.labelling.export import check_copy, copy_files, export_rows, summary_of, write_export
from alpool.run_context import RunContext, open_run
from alpool.rundir import RunDir, StepDir, StepManifest, StepWriter
from alpool.trial_dirs import EpisodeFolder

EPISODE = re.compile(r"^al/(?P<exp>[^/]+)/(?P<trial>[^/]+--[^/]+/trial-\d+)/(?P<ep>episode-\d+)/?$")


def resolve(run: RunDir, source: str) -> tuple[str, str]:
    """Return ``(kind, default export name)`` of ``source``; refuse what is neither a pool nor an episode."""
    text = source.strip().rstrip("/")
    match = EPISODE.match(text)
    if match:
        folder = run.root / text
        if not EpisodeFolder(folder).is_finished():
            raise MissingStepError(f"{folder} is not a finished AL episode; give "
                                   "al/EXP/POOL--QUERY/trial-T/episode-E of a run that got there")
        name = "--".join([match["exp"], match["trial"].replace("/", "--"), match["ep"]])
        return "episode", name
    name = text.removeprefix("pools/")
    if "/" in name:
        raise ConfigError(f"cannot export {source!r}: give a pool name (see {run.root / 'pools'}) or "
                          "al/EXP/POOL--QUERY/trial-T/episode-E")
    run.step("pools", name).manifest()  # says which command makes it
    return "pool", name


@dataclass
class Picks:
    """The picked train indices in order, their ``[N]`` scores (``None`` if not recorded), the files read."""

    indices: np.ndarray
    scores: np.ndarray | None
    files: list[tuple[StepDir | None, Path]]

    def record(self, writer: StepWriter) -> None:
        """Record the files read as the writer's inputs (step files verified against their manifest)."""
        for step, path in self.files:
            if step is not None:
                writer.record_step_input(step, path.name)
            else:
                writer.record_input(path)


def read_picks(run: RunDir, source: str, kind: str) -> Picks:
    """Read the picks of a pool (with its scores) or of an AL episode's query (no scores)."""
    if kind == "pool":
        step = run.step("pools", source.strip().rstrip("/").removeprefix("pools/"))
        files: list[tuple[StepDir | None, Path]] = [(step, step.file("indices.npy"))]
        scores = None
        if "selection_scores.npy" in step.manifest().outputs:
            scores = step.read_array("selection_scores.npy")
            files.append((step, step.file("selection_scores.npy")))
        return Picks(step.read_array("indices.npy").astype(np.int64), scores, files)
    episode = EpisodeFolder(run.root / source.strip().rstrip("/"))
    path = episode.path / "queried.npy"
    indices = episode.queried().astype(np.int64)
    if len(indices) == 0:
        raise ConfigError(f"{source} queried nothing (the last episode of a trial); export an earlier episode")
    return Picks(indices, None, [(None, path)])


def run(config: ExportConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Write ``exports/<name>/`` (CSV, Label Studio tasks) and copy the files when asked."""
    ctx = open_run(run_dir, data_dir)
    kind, default = resolve(ctx.run, config.source)
    return export_selection(ctx, config, read_picks(ctx.run, config.source, kind), config.name or default)


def export_selection(ctx: RunContext, config: ExportConfig, picks: Picks, name: str) -> StepManifest:
    """Export picks as ``exports/<name>`` (every check before the first write)."""
    step = ctx.run.step("exports", name)
    if step.is_finished() and not config.force:
        raise StepExistsError(f"export {step.label} already exists in {ctx.run.root}; pass --force to redo it")
    if len(picks.indices) and int(picks.indices.max()) >= ctx.dataset.n_train:
        raise ConfigError(f"{config.source} holds index {int(picks.indices.max())}, beyond the "
                          f"{ctx.dataset.n_train} images of the dataset")
    rows = export_rows(picks.indices, picks.scores, ctx.dataset)
    if config.copy_to is not None:
        check_copy(rows, ctx.dataset, config.copy_to)
    with ctx.run.writing("exports", name, config.model_dump(mode="json"), config.force) as w:
        picks.record(w)
        write_export(w, rows, ctx.dataset, config.url_prefix, config.source)
        if config.copy_to is not None:
            copy_files(rows, ctx.dataset, config.copy_to)
        return w.finish(summary_of(rows, config.source, config.copy_to), oracle=False)
