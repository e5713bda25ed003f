"""``alpool al-run``: a grid of initial pools x queries x trials, each trial a resumable job."""

from __future__ import annotations

import fnmatch
from collections.abc import Generator
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from alpool.al.trial import TrialJob, TrialPlan, TrialResult, run_trial
from alpool.core import reporting
from alpool.core.atomic_files import atomic_write_text
from alpool.core.config import ALRunConfig
from alpool.core.errors import ConfigError, MissingStepError, RunInterruptedError
from alpool.execution.executor import EXECUTORS, ExecutorRequest, Shared
from alpool.frameworks import FRAMEWORKS, Framework
from alpool.learning.training import resolve_device
from alpool.models import MODELS
from alpool.ops.curves import alc
from alpool.rundir.context import open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import INPUTS_FILE, RunDir, StepWriter, check_recorded_inputs
from alpool.rundir.step_files import PARTIAL_RESULTS, POOL_INDICES, RESULTS
from alpool.rundir.summaries import ALSummary, PoolSummary
from alpool.selectors import SELECTORS, Selector
from alpool.selectors.pool_checks import NARROW_ADVICE, narrow_pool

RESULT_COLUMNS = [
    "experiment", "pool", "init_strategy", "query", "framework", "embeddings", "init", "trial", "episode", "n_labeled",
    "test_accuracy", "test_macro_auc", "val_accuracy", "n_classes_covered", "seconds",
    "seconds_train", "seconds_query", "n_candidates", "oracle", "validation",
]


def experiment_name(config: ALRunConfig) -> str:
    """Return ``--name`` or ``<queries>[-<framework>]``."""
    if config.name:
        return config.name
    base = "+".join(config.queries)
    return base if config.framework == "supervised" else f"{base}-{config.framework}"


def run(config: ALRunConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Run every (pool, query, trial) job and write ``al/<experiment>/``."""
    ctx = open_run(run_dir.resolve(), data_dir)  # absolute: workers may start in another folder
    if not ctx.dataset.has_labels:
        raise ConfigError(f"al-run simulates labelling with ground truth, and {ctx.run.root} holds an unlabeled "
                          "dataset; label the exported pool and run `alpool import-labels` then `alpool next`")
    pools = _pools(ctx.run, config)
    indices = {pool: ctx.run.step("pools", pool).read_verified(POOL_INDICES) for pool in pools}  # read once
    config = config.model_copy(update={
        "pools": pools if any(has_glob(p) for p in config.pools) else config.pools,
        "train": config.train.resolved(ctx.dataset.name, ctx.dataset.image_shape)})  # recorded as run
    framework, selectors = _check_grid(config, ctx.run, pools, len(ctx.pool))
    name = experiment_name(config)
    record = config.model_dump(mode="json")
    kept = ctx.run.finished_step("al", name, record, config.force, reads={"pools": pools})  # the one rule
    executor = EXECUTORS.create(ExecutorRequest(config.workers, config.execution, config.device,
                                                connect=kept is None))  # options
    if kept is not None:  # checked above; "already finished" needs no cluster
        raise ctx.run.already_finished(f"step al/{name}")
    with ctx.run.writing("al", name, record, config.force, resume=True) as w:
        w.keep_settings(force=config.force)
        for pool, (_, digest) in indices.items():
            w.record_step_input(ctx.run.step("pools", pool), POOL_INDICES, digest)
        check_recorded_inputs(w.step, w.inputs)
        w.write_json(INPUTS_FILE, w.inputs)
        plan = TrialPlan(ctx, config, w.step, {pool: array for pool, (array, _) in indices.items()}, framework,
                         selectors)
        jobs = [TrialJob(pool, query, trial) for pool in pools for query in config.queries
                for trial in range(config.trials)]
        rows = ResultRows(ctx.run, config, pools, framework)
        results = _run_trials(executor.map(run_trial, jobs, Shared(plan)), plan, jobs, w, rows)
        manifest = _finish(w, config, results, rows, (ctx.dataset.num_classes, ctx.dataset.image_shape))
        (w.path / PARTIAL_RESULTS).unlink(missing_ok=True)
        return manifest


def _run_trials(finished: Generator[TrialResult, None, None], plan: TrialPlan, jobs: list[TrialJob], w: StepWriter,
                rows: ResultRows) -> list[TrialResult]:
    """Collect the trials as they finish (partial results after each); Ctrl-C says what is kept."""
    name, total = plan.experiment.name, len(jobs)
    done_before = sum(plan.folder(job).episode(plan.config.episodes).is_finished() for job in jobs)
    title = f"al-run {name}: {plural(total, 'trial')}"
    if done_before:
        reporting.info(f"resuming al/{name}: {done_before}/{total} trials already finished")
        title += f" ({done_before} already finished)"
    results: list[TrialResult] = []
    try:
        with reporting.task(title, total) as progress, closing(finished):
            for result in finished:
                results.append(result)
                rows.add(result)
                atomic_write_text(w.path / PARTIAL_RESULTS, rows.table()[RESULT_COLUMNS].to_csv(index=False))
                progress.advance(status=str(result.job))
    except KeyboardInterrupt:
        trials = sum(plan.folder(job).episode(plan.config.episodes).is_finished() for job in jobs)
        episodes = sum(plan.folder(job).episode(e).is_finished() for job in jobs
                       for e in range(plan.config.episodes + 1))
        raise RunInterruptedError(
            f"al-run {name} interrupted: {trials}/{total} trials finished ({episodes} episodes kept in "
            f"{w.path}); run the same command again to resume") from None
    return results


def plural(count: int, word: str) -> str:
    """Return '1 trial' or '12 trials'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def has_glob(pattern: str) -> bool:
    """Return whether a ``--pool`` value is a glob (``*``, ``?`` or ``[``)."""
    return any(c in pattern for c in "*?[")


def _pools(run: RunDir, config: ALRunConfig) -> list[str]:
    """Return the requested pools (all finished ones by default; globs expanded, sorted), each checked to exist."""
    finished = [s.name for s in run.finished("pools")]
    if not config.pools:
        if not finished:
            raise MissingStepError(f"{run.root} has no finished pool; "
                                   "run `alpool init-pool --strategy random --budget B` first")
        names = finished
    else:
        names = []
        for pattern in config.pools:
            matched = sorted(fnmatch.filter(finished, pattern)) if has_glob(pattern) else [pattern]
            if not matched:
                raise MissingStepError(f"--pool {pattern!r} matches no finished pool of {run.root} (have: "
                                       f"{', '.join(finished) or 'none'}); quote the glob so the shell keeps it")
            names += [m for m in matched if m not in names]
    for pool in names:  # each finished (its indices are read and checked once, by the caller)
        run.step("pools", pool).manifest()
    return names


def _check_grid(config: ALRunConfig, run: RunDir, pools: list[str], pool_size: int
                ) -> tuple[Framework, dict[str, Selector]]:
    """Build the framework and each query once; refuse unknown names and budgets that exceed the pool,
    before any training."""
    selectors = {query: SELECTORS.create(query, config.query_params.get(query, {})) for query in config.queries}
    MODELS.get(config.train.arch)
    resolve_device(config.device)
    if config.candidates is not None and config.candidates < config.step_budget:
        raise ConfigError(f"--candidates {config.candidates} is smaller than --step-budget {config.step_budget}; "
                          "give at least as many candidates as images labeled per round")
    unknown = set(config.query_params) - set(config.queries)
    if unknown:
        raise ConfigError(f"query options given for {sorted(unknown)}, which are not in --query {config.queries}")
    framework = FRAMEWORKS.create(config.framework, config.framework_params)
    if config.validation not in framework.validations:
        raise ConfigError(f"--validation {config.validation} is not available for --framework {config.framework}; "
                          f"use one of {', '.join(framework.validations)}")
    for task in framework.uses_pretrain():
        run.step("pretrain", task).manifest()
    for pool in pools:
        size = PoolSummary.of(run.step("pools", pool).manifest()).budget or 0
        if config.validation == "labeled-kfold" and int(size) < 2:
            raise ConfigError(f"--validation labeled-kfold needs at least 2 labeled images; pool {pool!r} has {size}; "
                              "use --validation none")
        needed = int(size) + config.episodes * config.step_budget
        if needed > pool_size:
            raise ConfigError(f"pool {pool!r} ({size}) + {config.episodes} episodes x {config.step_budget} = {needed} "
                              f"labels, more than the {pool_size} selectable images; lower --episodes or --step-budget")
    return framework, selectors


class ResultRows:
    """The rows of ``results.csv``, added trial by trial; pool manifests are read once."""

    def __init__(self, run: RunDir, config: ALRunConfig, pools: list[str], framework: Framework) -> None:
        self.pools = {p: run.step("pools", p).manifest() for p in pools}
        params = framework.params
        self.used = {"embeddings": getattr(params, "embeddings", None) or "",
                     "init": getattr(params, "init", None) or "", "validation": config.validation}
        self.rows: list[dict[str, Any]] = []

    def add(self, result: TrialResult) -> None:
        """Add the rows of one finished trial."""
        manifest = self.pools[result.job.pool]
        labels = {**self.used, "init_strategy": PoolSummary.of(manifest).init_strategy, "oracle": manifest.oracle}
        self.rows.extend({**row, **labels} for row in result.rows)

    def table(self) -> pd.DataFrame:
        """Return the rows added so far, sorted by pool, query, trial and episode."""
        return pd.DataFrame(self.rows).sort_values(["pool", "query", "trial", "episode"])


def narrow_pools(pools: dict[str, StepManifest], num_classes: int) -> dict[str, str]:
    """Return pool -> why it is narrow (few classes, little coverage) for the pools that are."""
    found = {}
    for name, manifest in pools.items():
        summary = PoolSummary.of(manifest)
        why = narrow_pool(summary.n_classes_covered, num_classes, summary.budget or num_classes, summary.info)
        if why:
            found[name] = why
    return found


def warn_chance(final: dict[str, float], num_classes: int, config: ALRunConfig, image_shape: tuple[int, ...],
                narrow: dict[str, str] | None = None) -> None:
    """Warn once when a final accuracy is near chance, naming the likely cause.

    Near chance: below ``1/K + 0.15 (1 - 1/K)`` (0.235 for 10 classes, 0.575 for 2), i.e. less than
    15 % of the way from guessing to perfect. A narrow initial pool (``narrow``: few classes, little
    coverage) is named first: no training setting makes up for classes never labelled.
    """
    chance = 1 / num_classes
    low = {k: v for k, v in final.items() if v < chance + 0.15 * (1 - chance)}
    if not low:
        return
    train, side = config.train, int(image_shape[-1])
    key, value = min(low.items(), key=lambda kv: kv[1])
    pool = key.rsplit("|", 1)[0]
    if narrow and pool in narrow:
        cause = f"the initial pool {pool} {narrow[pool]}; only then the training settings (lr={train.lr})"
    elif train.crop_padding and train.crop_padding * 4 >= side:
        cause = (f"crop_padding={train.crop_padding} shifts {side}x{side} images by up to a quarter or more; "
                 "try --train crop_padding=0")
    elif config.framework == "supervised" and train.epochs < 10 and not train.min_steps:
        cause = f"too few optimizer steps ({train.epochs} epochs); raise --epochs or --train min_steps=200"
    else:
        cause = f"the learning rate (lr={train.lr}) or the {config.framework} settings; check history in the episodes"
    key, value = min(low.items(), key=lambda kv: kv[1])
    reporting.warning(f"final accuracy {value:.2f} ({key}) is near chance level (1/{num_classes} = {chance:.2f}); "
                      f"likely cause: {cause}")


def _finish(w: StepWriter, config: ALRunConfig, results: list[TrialResult], rows: ResultRows,
            data: tuple[int, tuple[int, ...]]) -> StepManifest:
    """Write results.csv and the manifest (ALC per trial, oracle flags of the pools, a near-chance warning).

    ``data`` is the dataset's (number of classes, image shape), for :func:`warn_chance`.
    """
    for result in results:
        w.inputs.update(result.inputs)
    table = rows.table()
    w.write_text(RESULTS, table[RESULT_COLUMNS].to_csv(index=False))
    alcs = {f"{p}|{q}|{t}": alc(g["n_labeled"].to_numpy(), g["test_accuracy"].to_numpy())
            for (p, q, t), g in table.groupby(["pool", "query", "trial"])}
    last = table[table["episode"] == table["episode"].max()]
    summary = ALSummary(
        alc=alcs,
        final_accuracy={"|".join(k): v for k, v in last.groupby(["pool", "query"])["test_accuracy"].mean().items()},
        jobs=len(results),
        candidates=config.candidates,
        validation=config.validation,
        augmentation={"crop_padding": config.train.crop_padding, "flip": config.train.flip},
        queries_oracle=sorted(q for q in set(table["query"]) if SELECTORS.entry(q).meta.get("oracle")),
    )
    oracle = any(m.oracle for m in rows.pools.values()) or bool(summary.queries_oracle)
    narrow = narrow_pools(rows.pools, data[0])  # named first: no training setting makes up for missing classes
    for pool, why in narrow.items():
        reporting.warning(f"initial pool {pool} {why}; {NARROW_ADVICE}")
    warn_chance(summary.final_accuracy, data[0], config, data[1], narrow)  # before the manifest, which records it
    return w.finish(summary.to_json(), oracle=oracle)
