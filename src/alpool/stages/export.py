"""``alpool export``: a pool (or an AL episode's query) as files to label, in ``exports/<name>/``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from alpool.errors import ConfigError, MissingStepError
from alpool.labelling.config import ExportConfig
from alpool.labelling.export_step import Picks, export_picks, pool_picks
from alpool.run_context import open_run
from alpool.rundir import RunDir, StepManifest
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
    if "/" in name or not name:
        raise ConfigError(f"cannot export {source!r}: give a pool name (see {run.root / 'pools'}) or "
                          "al/EXP/POOL--QUERY/trial-T/episode-E")
    run.step("pools", name).manifest()  # says which command makes it
    return "pool", name


def read_picks(run: RunDir, source: str, kind: str) -> Picks:
    """Read the picks of a pool (with its scores) or of an AL episode's query (no scores)."""
    if kind == "pool":
        return pool_picks(run.step("pools", source.strip().rstrip("/").removeprefix("pools/")))
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
    return export_picks(ctx, config, read_picks(ctx.run, config.source, kind), config.name or default)
