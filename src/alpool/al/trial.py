"""One AL trial: episodes of train -> evaluate -> query, each episode written by :mod:`alpool.rundir.trial_dirs`.

A finished episode (one with ``metrics.json``) is read back instead of recomputed. Every random
choice of a (trial, episode) derives from the experiment seed, so a resumed run ends with exactly
the results of an uninterrupted one.

Candidate subset (``--candidates C``): scoring all unlabeled images each episode is what makes
expensive queries slow (BALD runs 25 forward passes per image), so, as is common practice (e.g.
Yoo & Kweon, CVPR 2019, score a random 10,000 of CIFAR-10's unlabeled images per cycle), a query may
be given only a random subset of C unlabeled images, drawn per (trial, episode) from the experiment
seed, the same rule for every query. ``None`` (the default) gives every unlabeled image.

Data passed, not re-read: the stage opens the run, validates the config, reads and verifies each
pool once and builds the framework and each query once; a trial gets all of it as one
:class:`TrialPlan` object (through :class:`~alpool.execution.executor.Shared`: the object itself in-process,
pickled once per worker process at a process or Ray boundary) and a small :class:`TrialJob`.

One writer per trial: a trial runs holding its folder's lock (:meth:`TrialFolder.lock`), so a worker
orphaned by a lost node and the retry of its task never write the same trial at once; the retry
waits for the orphan to release it (or die), then resumes from the episodes the orphan finished.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from alpool.al.embedding_cache import SplitEmbeddingCache
from alpool.core.config import ALRunConfig
from alpool.core.errors import MissingStepError
from alpool.core.seeding import derive_seed, numpy_rng
from alpool.frameworks import EpisodeData, Framework
from alpool.learning.training import classification_metrics, resolve_device
from alpool.rundir.context import RunContext, RunInputs, Upstream
from alpool.rundir.step_dir import InputLog, StepDir
from alpool.rundir.step_files import MODEL
from alpool.rundir.trial_dirs import TrialFolder
from alpool.selectors import SelectionContext, Selector

TRIAL_LOCK_WAIT = 900.0  # seconds a retried trial waits for an orphaned worker to release the trial


@dataclass(frozen=True)
class TrialJob:
    """One (pool, query, trial) of the grid: small and picklable."""

    pool: str
    query: str
    trial: int

    def __str__(self) -> str:
        return f"{self.pool} / {self.query} / trial {self.trial}"


@dataclass(frozen=True)
class TrialPlan:
    """What every trial of one al-run shares, built once by the stage and handed to trials as objects."""

    ctx: RunContext  # the opened run with its dataset
    config: ALRunConfig  # the validated config (train settings resolved)
    experiment: StepDir  # al/<experiment>
    pools: Mapping[str, np.ndarray]  # pool name -> [B] int64 dataset indices, read and verified once
    framework: Framework  # built once
    selectors: Mapping[str, Selector]  # query name -> selector, each built once

    def folder(self, job: TrialJob) -> TrialFolder:
        """Return the folder of ``job``."""
        return TrialFolder(self.experiment.path, job.pool, job.query, job.trial)


@dataclass
class TrialResult:
    """Rows of metrics (one per episode), the files the trial read with their hashes, the episodes it ran."""

    job: TrialJob
    rows: list[dict[str, Any]]
    inputs: dict[str, str]
    computed: list[int] = field(default_factory=list)  # episodes trained here (the others were read back)


def run_trial(plan: TrialPlan, job: TrialJob) -> TrialResult:
    """Run (or resume) every episode of one trial, holding the trial's lock, and return its metric rows.

    Raises:
        MissingStepError: this process cannot see the run directory (no shared filesystem).
        LockedError: another worker still holds the trial after :data:`TRIAL_LOCK_WAIT` seconds.
    """
    ctx, config = plan.ctx, plan.config
    if not ctx.run.manifest_path.is_file():
        raise MissingStepError(f"the worker on {socket.gethostname()} cannot see the run directory "
                               f"{ctx.run.root}: put it on a filesystem every node mounts, at the same path")
    folder = plan.folder(job)
    log = InputLog(ctx.run.root)
    inputs = RunInputs(ctx, Upstream(ctx.run, log))
    selector = plan.selectors[job.query]
    device = resolve_device(config.device)
    labeled = plan.pools[job.pool]
    rows, computed, previous, redo = [], [], None, False
    kept: dict[str, np.ndarray] | None = None  # the query's state from the previous episode (DCoM's radii)
    with folder.lock(TRIAL_LOCK_WAIT):
        for episode in range(config.episodes + 1):
            episode_folder = folder.episode(episode)
            finished = None if redo else episode_folder.read_finished(config.warm_start)
            if finished is not None:
                row, queried, previous = finished.row, finished.queried, finished.state
                kept = episode_folder.selector_state()
            else:
                redo = True  # the episodes after a redone one are redone too (they build on its queries)
                row, queried, previous, kept = _run_episode(plan, job, inputs, selector, device, labeled, episode,
                                                            previous, kept)
                computed.append(episode)
            rows.append(row)
            labeled = np.concatenate([labeled, queried])
    return TrialResult(job, rows, log.inputs, computed)


def _run_episode(plan: TrialPlan, job: TrialJob, inputs: RunInputs, selector: Selector, device: torch.device,
                 labeled: np.ndarray, episode: int, previous: dict[str, torch.Tensor] | None,
                 kept: dict[str, np.ndarray] | None) -> tuple[dict[str, Any], np.ndarray, Any, Any]:
    """Train on ``labeled``, evaluate, query, and write the episode folder (metrics last)."""
    ctx, config, framework = plan.ctx, plan.config, plan.framework
    folder = plan.folder(job).episode(episode)
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
    labels = ctx.dataset.train_y.numpy()
    state = None
    if episode < config.episodes:
        candidates = candidate_subset(unlabeled, config.candidates,
                                      numpy_rng(config.seed, "trial", job.trial, "episode", episode, "candidates"))
        selection = selector(SelectionContext(
            n_total=ctx.dataset.n_train, labeled=labeled, candidates=candidates,
            rng=numpy_rng(config.seed, "trial", job.trial, "episode", episode, "query"),
            num_classes=ctx.dataset.num_classes, inputs=inputs, classifier=trained.classifier,
            device=str(device), labeled_labels=labels[labeled], state=kept,  # the annotations trained on
        ), config.step_budget)
        queried, info, state = selection.indices, selection.info, selection.state
    seconds_query = time.time() - started
    row = {
        "experiment": plan.experiment.name, "pool": job.pool, "query": job.query, "framework": config.framework,
        "trial": job.trial, "episode": episode, "n_labeled": int(len(labeled)),
        "test_accuracy": metrics["accuracy"], "test_macro_auc": metrics["macro_auc"],
        "val_accuracy": trained.val_accuracy, "per_class_accuracy": metrics["per_class_accuracy"],
        "n_classes_covered": int(len(np.unique(labels[labeled]))),
        "n_queried": int(len(queried)), "n_candidates": int(len(candidates)), "seconds_train": round(seconds_train, 3),
        "seconds_query": round(seconds_query, 3), "seconds": round(seconds_train + seconds_query, 3),
        "train_info": trained.info, "query_info": info,
    }
    folder.write(labeled, queried, row, trained.state if config.warm_start else None, state)
    return row, queried, trained.state, state


def _split_cache(ctx: RunContext, inputs: RunInputs) -> Any:
    """Return the run's split-embedding cache; a hit still records the encoder's model.pt as an input."""
    cache = SplitEmbeddingCache(ctx.run)

    def get(task: str, split: str, device: torch.device, compute: Any) -> np.ndarray:
        if inputs.upstream.writer is not None:
            inputs.upstream.writer.record_step_input(ctx.run.step("pretrain", task), MODEL)
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
