"""One AL trial: episodes of train -> evaluate -> query, each episode written by :mod:`alpool.trial_dirs`.

A finished episode (one with ``metrics.json``) is read back instead of recomputed. Every random
choice of a (trial, episode) derives from the experiment seed, so a resumed run ends with exactly
the results of an uninterrupted one.

Candidate subset (``--candidates C``): scoring all unlabeled images each episode is what makes
expensive queries slow (BALD runs 25 forward passes per image), so, as is common practice (e.g.
Yoo & Kweon, CVPR 2019, score a random 10,000 of CIFAR-10's unlabeled images per cycle), a query may
be given only a random subset of C unlabeled images, drawn per (trial, episode) from the experiment
seed, the same rule for every query. ``None`` (the default) gives every unlabeled image.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.al.embedding_cache import SplitEmbeddingCache
from alpool.config import ALRunConfig
from alpool.errors import MissingStepError
from alpool.frameworks import FRAMEWORKS, EpisodeData
from alpool.run_context import RunContext, RunInputs, Upstream, open_run
from alpool.rundir import InputLog, RunDir
from alpool.seeding import derive_seed, numpy_rng
from alpool.selectors import SelectionContext, make_selector  # the name tests patch to watch queries
from alpool.training import classification_metrics, resolve_device
from alpool.trial_dirs import TrialFolder


@dataclass(frozen=True)
class TrialJob:
    """A picklable description of one (pool, query, trial)."""

    run_dir: str
    data_dir: str | None
    experiment: str
    pool: str
    query: str
    trial: int
    config_json: str

    def __str__(self) -> str:
        return f"{self.pool} / {self.query} / trial {self.trial}"

    @property
    def folder(self) -> TrialFolder:
        """Return the trial's folder."""
        return TrialFolder(RunDir(Path(self.run_dir)).step("al", self.experiment).path, self.pool, self.query,
                           self.trial)


@dataclass
class TrialResult:
    """Rows of metrics (one per episode) and the files the trial read, with their hashes."""

    job: TrialJob
    rows: list[dict[str, Any]]
    inputs: dict[str, str]


_CONTEXTS: dict[tuple[str, str | None], RunContext] = {}


def _context(job: TrialJob) -> RunContext:
    """Open the run once per process."""
    key = (job.run_dir, job.data_dir)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = open_run(Path(job.run_dir), Path(job.data_dir) if job.data_dir else None)
    return _CONTEXTS[key]


def share_context(run_dir: str, data_dir: str | None, ctx: RunContext) -> None:
    """Use the run opened by the driver for the jobs of ``(run_dir, data_dir)`` in this process.

    Workers get the dataset from the driver instead of reloading and re-hashing it; the run
    directory itself must still be visible here (a shared filesystem on a cluster).

    Raises:
        MissingStepError: this process cannot see the run directory at ``ctx.run.root``.
    """
    if not (ctx.run.root / "run.json").is_file():
        raise MissingStepError(f"the worker on {socket.gethostname()} cannot see the run directory "
                               f"{ctx.run.root}: put it on a filesystem every node mounts, at the same path")
    _CONTEXTS[(run_dir, data_dir)] = ctx


def run_trial(job: TrialJob) -> TrialResult:
    """Run (or resume) every episode of one trial and return its metric rows."""
    config = ALRunConfig.model_validate_json(job.config_json)
    ctx = _context(job)
    log = InputLog(ctx.run)
    upstream = Upstream(ctx.run, log)
    inputs = RunInputs(ctx, upstream)
    framework = FRAMEWORKS.create(config.framework, config.framework_params)
    selector = make_selector(job.query, config.query_params.get(job.query, {}))
    device = resolve_device(config.device)
    labeled = upstream.step("pools", job.pool).array("indices")
    rows, previous, redo = [], None, False
    for episode in range(config.episodes + 1):
        finished = None if redo else job.folder.episode(episode).read_finished(config.warm_start)
        if finished is not None:
            row, queried, previous = finished.row, finished.queried, finished.state
        else:
            redo = True  # the episodes after a redone one are redone too (they build on its queries)
            row, queried, previous = _run_episode(job, config, ctx, inputs, framework, selector, device,
                                                  labeled, episode, previous)
        rows.append(row)
        labeled = np.concatenate([labeled, queried])
    return TrialResult(job, rows, log.inputs)


def _run_episode(job: TrialJob, config: ALRunConfig, ctx: RunContext, inputs: RunInputs, framework: Any,
                 selector: Any, device: torch.device, labeled: np.ndarray, episode: int,
                 previous: dict[str, torch.Tensor] | None) -> tuple[dict[str, Any], np.ndarray, Any]:
    """Train on ``labeled``, evaluate, query, and write the episode folder (metrics last)."""
    folder = job.folder.episode(episode)
    seed = derive_seed(config.seed, "trial", job.trial, "episode", episode)
    unlabeled = np.setdiff1d(ctx.pool, labeled).astype(np.int64)
    started = time.time()
    trained = framework.train(EpisodeData(
        dataset=ctx.dataset, labeled=labeled, unlabeled=unlabeled, val=ctx.val, train=config.train,
        seed=seed, device=device, embeddings=inputs.embeddings,
        checkpoint=lambda task: inputs.upstream.pretrain(task).checkpoint(),
        previous=previous if config.warm_start else None,
        validation=config.validation, folds=config.folds, split_cache=_split_cache(ctx, inputs),
    ))
    seconds_train = time.time() - started
    metrics = classification_metrics(trained.test_proba, ctx.dataset.test_y.numpy(), ctx.dataset.num_classes)
    started = time.time()
    queried = np.empty(0, dtype=np.int64)
    info: dict[str, Any] = {}
    candidates = np.empty(0, dtype=np.int64)
    if episode < config.episodes:
        candidates = candidate_subset(unlabeled, config.candidates,
                                      numpy_rng(config.seed, "trial", job.trial, "episode", episode, "candidates"))
        selection = selector(SelectionContext(
            n_total=ctx.dataset.n_train, labeled=labeled, candidates=candidates,
            rng=numpy_rng(config.seed, "trial", job.trial, "episode", episode, "query"),
            num_classes=ctx.dataset.num_classes, inputs=inputs, classifier=trained.classifier,
            device=str(device),
        ), config.step_budget)
        queried, info = selection.indices, selection.info
    seconds_query = time.time() - started
    labels = ctx.dataset.train_y.numpy()
    row = {
        "experiment": job.experiment, "pool": job.pool, "query": job.query, "framework": config.framework,
        "trial": job.trial, "episode": episode, "n_labeled": int(len(labeled)),
        "test_accuracy": metrics["accuracy"], "test_macro_auc": metrics["macro_auc"],
        "val_accuracy": trained.val_accuracy, "per_class_accuracy": metrics["per_class_accuracy"],
        "n_classes_covered": int(len(np.unique(labels[labeled]))),
        "n_queried": int(len(queried)), "n_candidates": int(len(candidates)), "seconds_train": round(seconds_train, 3),
        "seconds_query": round(seconds_query, 3), "seconds": round(seconds_train + seconds_query, 3),
        "train_info": trained.info, "query_info": info,
    }
    folder.write(labeled, queried, row, trained.state if config.warm_start else None)
    return row, queried, trained.state


def _split_cache(ctx: RunContext, inputs: RunInputs) -> Any:
    """Return the run's split-embedding cache; a hit still records the encoder's model.pt as an input."""
    cache = SplitEmbeddingCache(ctx.run)

    def get(task: str, split: str, device: torch.device, compute: Any) -> np.ndarray:
        if inputs.upstream.writer is not None:
            inputs.upstream.writer.record_step_input(ctx.run.step("pretrain", task), "model.pt")
        return cache.get(task, split, device, compute)

    return get


def candidate_subset(unlabeled: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Return the indices a query may pick from: all ``unlabeled``, or ``size`` of them drawn with ``rng``.

    Args:
        unlabeled: int64 ``[U]`` unlabeled dataset indices.
        size: subset size; ``None`` or ``>= U`` keeps every index.
        rng: generator of the draw (derived from seed, trial and episode).

    Returns:
        int64 sorted dataset indices ``[min(size, U)]``.
    """
    if size is None or size >= len(unlabeled):
        return unlabeled
    return np.sort(rng.choice(unlabeled, size=size, replace=False)).astype(np.int64)
