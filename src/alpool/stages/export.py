"""``alpool export``: a pool (or an AL episode's query) as files to label, in ``exports/<name>/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpool.core.errors import ConfigError, MissingStepError
from alpool.labelling.config import ExportConfig
from alpool.labelling.export_step import Picks, export_picks, pool_picks
from alpool.rundir.context import open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir
from alpool.rundir.trial_dirs import EPISODE_SOURCE, episode_source


def resolve(run: RunDir, source: str) -> tuple[str, str]:
    """Return ``(kind, default export name)`` of ``source``; refuse what is neither a pool nor an episode."""
    episode = episode_source(run.root, source)
    if episode is not None:
        folder, name = episode
        if not folder.is_finished():
            raise MissingStepError(f"{folder.path} is not a finished AL episode; give {EPISODE_SOURCE} of a run "
                                   "that got there")
        return "episode", name
    name = run.name_in("pools", source)
    if "/" in name or not name:
        raise ConfigError(f"cannot export {source!r}: give a pool name (see {run.kind_folder('pools')}) or "
                          f"{EPISODE_SOURCE}")
    run.step("pools", name).manifest()  # says which command makes it
    return "pool", name


def read_picks(run: RunDir, source: str, kind: str) -> Picks:
    """Read the picks of a pool (with its scores) or of an AL episode's query (no scores)."""
    if kind == "pool":
        return pool_picks(run.step("pools", run.name_in("pools", source)))
    found = episode_source(run.root, source)
    if found is None:
        raise ConfigError(f"cannot export {source!r}: give a pool name or {EPISODE_SOURCE}")
    episode = found[0]
    path = episode.queried_path
    indices = episode.queried().astype(np.int64)
    if len(indices) == 0:
        raise ConfigError(f"{source} queried nothing (the last episode of a trial); export an earlier episode")
    return Picks(indices, None, [(None, path)])


def run(config: ExportConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Write ``exports/<name>/`` (CSV, Label Studio tasks) and copy the files when asked."""
    ctx = open_run(run_dir, data_dir)
    kind, default = resolve(ctx.run, config.source)
    return export_picks(ctx, config, read_picks(ctx.run, config.source, kind), config.name or default)
