"""Read run directories into tidy tables: step status, AL results, pools, episode folders.

Only finished steps (with a ``manifest.json``) are read; unfinished ones are listed by
:func:`step_status` so the report can say so. Several run directories can be analysed together:
every table carries a ``run`` column with a short, unique label of its run directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpool.core.errors import ConfigError, CorruptFileError
from alpool.rundir.manifests import STEP_KINDS
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_dir import StepDir
from alpool.rundir.step_files import RESULTS
from alpool.rundir.summaries import PoolSummary
from alpool.rundir.trial_dirs import finished_episodes

METRICS = ("test_accuracy", "test_macro_auc", "val_accuracy")
DEFAULTS: dict[str, Any] = {"framework": "supervised", "test_macro_auc": np.nan,
                            "val_accuracy": np.nan, "n_classes_covered": np.nan, "seconds": np.nan,
                            "oracle": False, "validation": "split"}  # results.csv before --validation: split


@dataclass(frozen=True)
class EpisodeDir:
    """One finished episode folder of an AL experiment, keyed by the values in its results row."""

    run: str
    experiment: str
    pool: str
    query: str
    trial: int
    episode: int
    path: Path


def run_labels(runs: list[RunDir]) -> list[str]:
    """Return a short unique label per run directory (its folder name, or the path if repeated)."""
    names = [r.root.resolve().name or str(r.root) for r in runs]
    return [n if names.count(n) == 1 else str(r.root.resolve())
            for n, r in zip(names, runs, strict=True)]


def step_status(run: RunDir, label: str) -> pd.DataFrame:
    """Return one row per step folder: kind, name, finished, oracle, version, seed, seconds.

    Unfinished ``analysis`` folders are left out: one of them is the analysis being written.
    """
    rows = []
    for kind in STEP_KINDS:
        for step in run.steps(kind):
            finished = step.is_finished()
            if kind == "analysis" and not finished:
                continue
            row: dict[str, Any] = {"run": label, "kind": kind, "name": step.name,
                                   "status": "finished" if finished else "unfinished"}
            if finished:
                manifest = step.manifest()
                row.update(oracle=manifest.oracle, alpool_version=manifest.alpool_version,
                           seed=manifest.config.get("seed"), seconds=manifest.seconds,
                           finished_at=manifest.finished_at,
                           torch=manifest.environment.get("torch"))
            rows.append(row)
    columns = ["run", "kind", "name", "status", "oracle", "alpool_version", "seed", "seconds",
               "finished_at", "torch"]
    return pd.DataFrame(rows, columns=columns)


def select_experiments(runs: list[RunDir], wanted: list[str]) -> list[list[StepDir]]:
    """Return the finished ``al`` steps of each run, restricted to ``wanted`` when given.

    Raises:
        ConfigError: a wanted experiment is not a folder of any run directory.
    """
    present = {s.name for run in runs for s in run.steps("al")}
    unknown = sorted(set(wanted) - present)
    if unknown:
        raise ConfigError(f"experiment {unknown[0]!r} is not in the run directory "
                          f"(experiments: {', '.join(sorted(present)) or 'none'}); "
                          "pass one of them to --experiment or run `alpool al-run` first")
    return [[s for s in run.finished("al") if not wanted or s.name in wanted] for run in runs]


def read_results(step: StepDir, label: str) -> pd.DataFrame:
    """Read ``results.csv`` of a finished experiment, with ``run`` added and defaults filled."""
    path = step.file(RESULTS)
    if not path.exists():
        raise CorruptFileError(f"{path} is missing; redo step {step.label} with --force")
    step.verify(RESULTS)  # a changed results.csv is refused, not analysed
    table = pd.read_csv(path)
    required = {"trial", "episode", "n_labeled", "test_accuracy"}
    missing = sorted(required - set(table.columns))
    if missing:
        raise CorruptFileError(f"{path} lacks column {missing[0]!r}; "
                               f"redo step {step.label} with --force")
    table.insert(0, "run", label)
    table["experiment"] = step.name
    if "init_strategy" not in table:
        table["init_strategy"] = table.get("pool", "?")
    if "pool" not in table:
        table["pool"] = table["init_strategy"]
    if "query" not in table:
        table["query"] = "random"
    for column, value in DEFAULTS.items():
        if column not in table:
            table[column] = value
    return table


def load_results(experiments: list[list[StepDir]], labels: list[str]) -> pd.DataFrame:
    """Concatenate the results of every selected experiment (one row per trial x episode)."""
    frames = [read_results(step, label)
              for steps, label in zip(experiments, labels, strict=True) for step in steps]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["run", "experiment", "pool", "init_strategy", "query",
                                     "framework", "validation", "trial", "episode", "n_labeled", *METRICS])
    table = pd.concat(frames, ignore_index=True)
    for column in ("pool", "init_strategy", "query", "framework"):
        table[column] = table[column].astype(str)
    return table


def class_entropy(histogram: np.ndarray) -> float:
    """Return the normalised Shannon entropy (0 = one class, 1 = uniform) of counts ``[K]``."""
    counts = np.asarray(histogram, dtype=float)
    total = counts.sum()
    if total <= 0 or len(counts) < 2:
        return float("nan")
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum() / np.log(len(counts)))


def load_pools(run: RunDir, label: str, labels: np.ndarray | None = None,
               indices: Callable[[str], np.ndarray] | None = None) -> pd.DataFrame:
    """Return one row per finished pool: strategy, budget, group/ratio, class histogram, coverage.

    Args:
        run: the run directory.
        label: its run label.
        labels: train labels ``[N]`` int64, used when a manifest has no class histogram.
        indices: reads a pool's indices by name (the command's one read of each pool); default: read here.

    Returns:
        Columns ``run, pool, strategy, init_strategy, budget, seed, group, ratio, oracle,
        histogram, n_classes, n_classes_covered, missing_class, class_entropy, is_bench``.
    """
    n_classes = run.manifest().dataset.n_classes
    read = indices or (lambda name: run.step("pools", name).read_array("indices.npy"))
    rows = [_pool_row(step, label, n_classes, labels, read) for step in run.finished("pools")]
    table = pd.DataFrame(rows, columns=["run", "pool", "strategy", "init_strategy", "budget",
                                        "seed", "group", "ratio", "oracle", "histogram",
                                        "n_classes", "n_classes_covered", "missing_class",
                                        "class_entropy", "is_bench"])
    return table


def _pool_row(step: StepDir, label: str, n_classes: int, labels: np.ndarray | None,
              indices: Callable[[str], np.ndarray]) -> dict[str, Any]:
    manifest = step.manifest()
    summary = PoolSummary.of(manifest)
    histogram = summary.class_histogram
    if histogram is None and labels is not None:
        histogram = np.bincount(labels[indices(step.name)], minlength=n_classes).tolist()
    hist = None if histogram is None else np.asarray(histogram, dtype=np.int64)  # [K]
    covered = int((hist > 0).sum()) if hist is not None else summary.n_classes_covered
    return {
        "run": label, "pool": step.name, "strategy": summary.strategy, "init_strategy": summary.init_strategy,
        "budget": summary.budget, "seed": summary.seed, "group": summary.group,
        "ratio": summary.ratio, "oracle": manifest.oracle, "histogram": hist,
        "n_classes": n_classes, "n_classes_covered": covered,
        "missing_class": covered is not None and covered < n_classes,
        "class_entropy": class_entropy(hist) if hist is not None else float("nan"),
        "is_bench": summary.is_bench,
    }


def add_arms(results: pd.DataFrame, pools: pd.DataFrame) -> pd.DataFrame:
    """Add ``arm``: a pool's group (many pools drawn alike) or else the pool itself."""
    table = results.copy()
    if pools.empty:
        table["arm"] = table["pool"]
        return table
    groups = pools.set_index(["run", "pool"])["group"]
    keys = pd.MultiIndex.from_frame(table[["run", "pool"]])
    group = groups.reindex(keys).to_numpy()
    table["arm"] = [g if isinstance(g, str) and g else p for g, p in zip(group, table["pool"],
                                                                        strict=True)]
    return table


def find_episode_dirs(step: StepDir, label: str, results: pd.DataFrame) -> list[EpisodeDir]:
    """Find every finished episode folder of an experiment, keyed by its results rows.

    The (pool, query) arms come from the experiment's ``results.csv`` rows; their folders are
    built forward by :mod:`alpool.rundir.trial_dirs` (never parsed back from a folder name, so pool
    names may contain ``--``). Folders without ``metrics.json`` are unfinished and skipped.
    """
    rows = results[(results["run"] == label) & (results["experiment"] == step.name)]
    pairs = zip(rows["pool"].astype(str), rows["query"].astype(str), strict=True)
    found = list(finished_episodes(step.path, pairs))
    for episode in found:
        episode.folder.row()  # a torn metrics.json is one clear error, not a half-drawn report
    return [EpisodeDir(label, step.name, e.pool, e.query, e.trial, e.episode, e.folder.path) for e in found]
