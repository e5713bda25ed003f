"""The folders of an AL experiment, part of the run-directory layout of :mod:`alpool.rundir.run_dir`.

Layout: ``al/<experiment>/<pool>--<query>/trial-<t>/episode-<e>/`` with ``labeled.npy`` (the set
trained on), ``queried.npy`` (what this episode's model picked for the next one; empty in the last
episode), ``model.pt`` (only with ``--warm-start``), ``selector_state.npz`` (only for a query that
keeps state between rounds, e.g. DCoM's radii; read back by the next episode) and
``metrics.json``, written last. An episode
with a ``metrics.json`` is finished: a resumed run reads it instead of recomputing it.

This module is the only code that builds these paths, writes an episode or decides whether one is
finished. Paths are always built forward from a known (pool, query, trial): a folder name is never
parsed back into a pool and a query (pool names may contain ``--``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alpool.core import reporting
from alpool.core.atomic_files import (
    atomic_save_array,
    atomic_write_bytes,
    atomic_write_text,
    file_lock,
    load_array,
    save_state,
)
from alpool.core.errors import CorruptFileError
from alpool.core.jsonify import json_default_or_str
from alpool.rundir.selector_state import encode_state, read_state
from alpool.rundir.step_files import SELECTOR_STATE

METRICS = "metrics.json"
STATE = "model.pt"
LOCK = ".lock"  # held by the one process that runs (writes) the trial
QUERIED = "queried.npy"  # what the episode's model picked for the next episode
LABELED = "labeled.npy"  # the set the episode trained on
EPISODE_SOURCE = "al/EXP/POOL--QUERY/trial-T/episode-E"  # how a user names one episode's query (alpool export)
_EPISODE_SOURCE = re.compile(r"^al/(?P<exp>[^/]+)/(?P<trial>[^/]+--[^/]+/trial-\d+)/(?P<ep>episode-\d+)/?$")


def episode_source(run_root: Path, text: str) -> tuple[EpisodeFolder, str] | None:
    """Return the episode folder a user named as ``al/EXP/POOL--QUERY/trial-T/episode-E`` and its one-word name.

    Returns:
        None when ``text`` does not have the shape of an episode path (it may name a pool); the
        folder is returned whether or not it is finished.
    """
    match = _EPISODE_SOURCE.match(text.strip().rstrip("/"))
    if match is None:
        return None
    name = "--".join([match["exp"], match["trial"].replace("/", "--"), match["ep"]])
    return EpisodeFolder(run_root / match.group(0).rstrip("/")), name


def pair_folder(experiment: Path, pool: str, query: str) -> Path:
    """Return the folder of one (pool, query) arm of an experiment."""
    return experiment / f"{pool}--{query}"


@dataclass(frozen=True)
class FinishedEpisode:
    """What a finished episode left: its metrics row, its queries and (warm start) its weights."""

    row: dict[str, Any]
    queried: np.ndarray  # [q] int64 dataset indices
    state: dict[str, Any] | None


@dataclass(frozen=True)
class EpisodeFolder:
    """One episode folder ``.../trial-<t>/episode-<e>``."""

    path: Path

    def is_finished(self) -> bool:
        """Return whether the episode wrote its ``metrics.json`` (the last of its files)."""
        return (self.path / METRICS).exists()

    def row(self) -> dict[str, Any]:
        """Return the finished episode's metrics row."""
        path = self.path / METRICS
        try:
            row: dict[str, Any] = json.loads(path.read_text())
        except ValueError as exc:
            raise CorruptFileError(f"{path} is not valid JSON ({exc}); rerun the experiment to redo the "
                                   "episode, or redo it with --force") from None
        return row

    @property
    def queried_path(self) -> Path:
        """Return the path of ``queried.npy``."""
        return self.path / QUERIED

    def queried(self) -> np.ndarray:
        """Return the indices the episode's model queried ``[q]`` int64."""
        return load_array(self.queried_path)

    def selector_state(self) -> dict[str, np.ndarray] | None:
        """Return the query's state kept for the next round (None when the query keeps none)."""
        return read_state(self.path / SELECTOR_STATE)

    def read(self, with_state: bool = False) -> FinishedEpisode:
        """Read a finished episode (the weights only when asked and saved)."""
        state = None
        if with_state and (self.path / STATE).exists():
            import torch

            state = torch.load(self.path / STATE, map_location="cpu", weights_only=True)
        return FinishedEpisode(self.row(), self.queried(), state)

    def read_finished(self, with_state: bool = False) -> FinishedEpisode | None:
        """Return the finished episode; None when it is unfinished or unreadable (then it is redone)."""
        if not self.is_finished():
            return None
        try:
            return self.read(with_state)
        except (ValueError, OSError, RuntimeError, CorruptFileError) as exc:
            reporting.warning(f"{self.path} is unreadable ({type(exc).__name__}: {exc}); redoing this episode "
                              "and the ones after it")
            return None

    def write(self, labeled: np.ndarray, queried: np.ndarray, row: dict[str, Any],
              state: dict[str, Any] | None = None,
              selector_state: dict[str, np.ndarray] | None = None) -> None:
        """Write the episode's files atomically, ``metrics.json`` last."""
        atomic_save_array(self.path / LABELED, labeled)
        atomic_save_array(self.queried_path, queried)
        if selector_state is not None:
            atomic_write_bytes(self.path / SELECTOR_STATE, encode_state(selector_state))
        if state is not None:
            save_state(self.path / STATE, state)
        atomic_write_text(self.path / METRICS, json.dumps(row, indent=2, default=json_default_or_str))


@dataclass(frozen=True)
class TrialFolder:
    """One trial ``al/<experiment>/<pool>--<query>/trial-<t>`` of an experiment folder."""

    experiment: Path
    pool: str
    query: str
    trial: int

    @property
    def path(self) -> Path:
        """Return the trial's folder."""
        return pair_folder(self.experiment, self.pool, self.query) / f"trial-{self.trial}"

    def episode(self, episode: int) -> EpisodeFolder:
        """Return the folder of ``episode``."""
        return EpisodeFolder(self.path / f"episode-{episode}")

    def lock(self, wait: float) -> AbstractContextManager[None]:
        """Hold the trial's lock file ``trial-<t>/.lock`` while running it, waiting up to ``wait`` seconds.

        A ``filelock`` lock (``flock``): released when its process dies, so a retry waits for an
        orphaned worker of the same trial to finish or die, never writes beside it.
        """
        return file_lock(self.path / LOCK, f"trial {self.pool} / {self.query} / {self.trial}", wait)


@dataclass(frozen=True)
class FoundEpisode:
    """A finished episode found on disk, with the arm and numbers of the folders that hold it."""

    pool: str
    query: str
    trial: int
    episode: int
    folder: EpisodeFolder


def finished_episodes(experiment: Path, pairs: Iterable[tuple[str, str]]) -> Iterator[FoundEpisode]:
    """Yield every finished episode of the given (pool, query) arms of an experiment folder."""
    for pool, query in sorted(set(pairs)):
        for trial_path in sorted(pair_folder(experiment, pool, query).glob("trial-*")):
            for path in sorted(trial_path.glob("episode-*")):
                trial, episode = _number(trial_path.name, "trial-"), _number(path.name, "episode-")
                folder = EpisodeFolder(path)
                if trial is not None and episode is not None and folder.is_finished():
                    yield FoundEpisode(pool, query, trial, episode, folder)


def _number(name: str, prefix: str) -> int | None:
    """Return ``t`` of a folder named ``<prefix><t>`` (None for other names)."""
    digits = name.removeprefix(prefix)
    return int(digits) if name.startswith(prefix) and digits.isdigit() else None
