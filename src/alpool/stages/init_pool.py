"""``alpool init-pool``: pick the first images to label with a selector that needs no classifier.

Two decisions for practitioners' runs:

- ``--embeddings`` and ``--score`` are offered for every strategy; a strategy that does not use
  one (``random --embeddings vae``) accepts it, records it in the pool's config and says it is
  unused, so scripts that compare strategies with the same flags run. Other unknown options
  (``--param``) are still refused.
- In a run with imported labels (``labels/`` steps) the selection leaves the labelled images out
  (they are the selector's ``labeled`` set) and says so; the pool's config records the rounds left
  out, so the same command after another import is a different pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from alpool.core import reporting
from alpool.core.config import InitPoolConfig
from alpool.core.errors import ConfigError, UnknownNameError
from alpool.core.seeding import numpy_rng
from alpool.labelling.labels import LabelSet, load_imported
from alpool.learning.training import resolve_device
from alpool.rundir.context import RunContext, RunInputs, Upstream, open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.step_dir import InputLog
from alpool.rundir.step_files import POOL_INDICES, SELECTION_SCORES
from alpool.rundir.summaries import PoolSummary
from alpool.selectors import SELECTORS, SelectionContext, init_pool_names
from alpool.selectors.base import NEED_CLASSIFIER, Selector
from alpool.selectors.pool_checks import NARROW_ADVICE, narrow_pool


def class_summary(indices: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Return the class histogram of a pool, classes covered and the imbalance ratio (min / max)."""
    counts = np.bincount(labels[indices], minlength=num_classes)
    return {
        "class_histogram": counts.tolist(),
        "n_classes_covered": int((counts > 0).sum()),
        "imbalance_ratio": float(counts.min() / counts.max()) if counts.max() > 0 else 0.0,
    }


def pool_budget(config: InitPoolConfig, pool_size: int) -> int:
    """Return the budget: ``--budget`` or ``--budget-ratio`` of the selectable pool."""
    if config.budget is not None:
        return config.budget
    assert config.budget_ratio is not None  # the config validator guarantees one of the two
    return max(1, int(round(config.budget_ratio * pool_size)))


SHARED_OPTIONS = ("embeddings", "score")  # flags offered for every strategy (unused ones are recorded)


def selector_params(config: InitPoolConfig) -> tuple[dict[str, Any], list[str]]:
    """Return the options the strategy takes, and the shared flags it does not use (accepted, recorded)."""
    fields = SELECTORS.get(config.strategy).Params.model_fields
    unused = [k for k in SHARED_OPTIONS if k in config.params and k not in fields]
    return {k: v for k, v in config.params.items() if k not in unused}, unused


def check_strategy(name: str) -> None:
    """Refuse an unknown strategy, suggesting only selectors that init-pool accepts."""
    if name not in SELECTORS:
        raise UnknownNameError(SELECTORS.unknown_message(name, among=init_pool_names()))


def default_name(config: InitPoolConfig, selector: Selector) -> str:
    """Return the pool folder name: ``<strategy>[-<score>][-easy]-<budget>`` (``-r<ratio>`` for ratios).

    The name depends on the config only (never on the dataset), so ``alpool all`` can tell which
    pools are finished without loading the data.
    """
    label = config.strategy
    if "score" in config.params and "score" in type(selector.params).model_fields:
        label += f"-{config.params['score']}"
    if getattr(selector.params, "ascending", False):
        label += "-easy"  # the bottom of the order must not collide with the top's folder
    size = f"r{config.budget_ratio:g}" if config.budget_ratio is not None else str(config.budget)
    return f"{label}-{size}"


def pool_names(config: InitPoolConfig, selector: Selector) -> list[str]:
    """Return one name per pool; ``--count M`` numbers them ``-000`` ... ``-M-1``."""
    base = config.name or default_name(config, selector)
    return [base] if config.count == 1 else [f"{base}-{i:03d}" for i in range(config.count)]


def run(config: InitPoolConfig, run_dir: Path, data_dir: Path | None = None) -> list[StepManifest]:
    """Select ``config.count`` pools and write ``pools/<name>/`` for each."""
    check_strategy(config.strategy)
    params, unused = selector_params(config)
    selector = SELECTORS.create(config.strategy, params)
    for option in unused:
        reporting.info(f"--strategy {config.strategy} does not use --{option} (recorded in the pool's config)")
    if NEED_CLASSIFIER in selector.needs:
        raise ConfigError(f"{config.strategy!r} needs a trained classifier, so it is an AL query: "
                          f"use `alpool al-run --query {config.strategy}`")
    if config.count > 1 and not selector.seeded:
        raise ConfigError(f"--strategy {config.strategy} picks the top of a fixed order, so --count {config.count} "
                          f"would make {config.count} identical pools; use --count 1")
    resolve_device(config.device)  # refuse a missing GPU before anything is written
    ctx = open_run(run_dir, data_dir)
    labels = load_imported(ctx.run)
    selectable = np.setdiff1d(ctx.pool, labels.indices()).astype(np.int64)
    budget = pool_budget(config, len(selectable))
    if budget > len(selectable):
        left = f" not yet labelled ({len(labels.labels)} are)" if labels.labels else ""
        raise ConfigError(f"budget {budget} is larger than the {len(selectable)} selectable train images{left}; "
                          "lower --budget")
    names = pool_names(config, selector)
    kept = {}  # refuse (or keep) before computing anything: the run directory's one rule
    for member, name in enumerate(names):
        manifest = ctx.run.finished_step("pools", name, _record(config, member, labels), config.force)
        if manifest is not None:
            kept[name] = manifest
    if len(kept) == len(names):
        first = ctx.run.step("pools", names[0]).label
        raise ctx.run.already_finished(f"pool {first}" if len(names) == 1 else f"pool {first} ... {names[-1]}")
    if labels.labels:
        reporting.info(f"left out the {len(labels.labels)} images labelled in {', '.join(labels_rounds(ctx))}")
    manifests = [kept.get(name) or _write_pool(config, ctx, selector, name, i, budget, labels)
                 for i, name in enumerate(names)]
    warn_identical(ctx, config.strategy, names)
    return manifests


def labels_rounds(ctx: RunContext) -> list[str]:
    """Return the finished labels steps of the run (``labels/round-001``, ...)."""
    return [s.label for s in ctx.run.finished("labels")]


def warn_identical(ctx: RunContext, strategy: str, names: list[str]) -> None:
    """Say so when the ``--count`` pools of a selector are one pool (it does not depend on the seed)."""
    if len(names) < 2:
        return
    picks = {np.sort(ctx.run.step("pools", name).read_array(POOL_INDICES)).tobytes() for name in names}
    if len(picks) == 1:
        with reporting.recording_warnings():  # said once the pools are written: no later step's manifest takes it
            reporting.warning(f"the {len(names)} pools {names[0]} ... {names[-1]} are identical: --strategy "
                              f"{strategy} does not depend on the seed here, so they count as one pool")


def _record(config: InitPoolConfig, member: int, labels: LabelSet) -> dict[str, Any]:
    """Return the recorded config of pool ``member`` of the group (its own seed; the labelled images left out)."""
    record = {**config.model_dump(mode="json"), "member_seed": config.seed + member}
    if labels.labels:
        record["leaves_out_labelled"] = len(labels.labels)
    return record


def _write_pool(config: InitPoolConfig, ctx: RunContext, selector: Selector, name: str, member: int,
                budget: int, labels: LabelSet) -> StepManifest:
    """Select the pool, then write ``pools/<name>/``: every input is read before the folder exists."""
    seed = config.seed + member
    log = InputLog(ctx.run.root)  # reads are recorded here, then handed to the writer
    upstream = Upstream(ctx.run, log)
    inputs = RunInputs(ctx, upstream)
    sel_ctx = SelectionContext(
        n_total=ctx.dataset.n_train,
        labeled=labels.indices(),
        candidates=np.setdiff1d(ctx.pool, labels.indices()).astype(np.int64),
        rng=numpy_rng(seed, "init-pool", config.strategy),
        num_classes=ctx.dataset.num_classes,
        inputs=inputs,
        device=str(resolve_device(config.device)),
    )
    selection = selector(sel_ctx, budget)
    scores = np.full(ctx.dataset.n_train, np.nan)
    scores[sel_ctx.candidates] = selection.candidate_scores
    grouped = config.count > 1 or config.budget_ratio is not None
    counts = (class_summary(selection.indices, ctx.dataset.train_y.numpy(), ctx.dataset.num_classes)
              if ctx.dataset.has_labels else {})  # an unlabeled dataset has no classes to count
    summary = PoolSummary(
        strategy=config.strategy, params=config.params, budget=budget, seed=seed, uses=upstream.used,
        info=selection.info, **counts,
        group=config.name or default_name(config, selector) if grouped else None,
        ratio=budget / len(ctx.pool) if grouped else None,
    )
    with ctx.run.writing("pools", name, _record(config, member, labels), config.force) as w:
        load_imported(ctx.run, w)  # the labels left out are inputs
        w.inputs.update(log.inputs)
        w.save_array(POOL_INDICES, selection.indices)
        w.save_array(SELECTION_SCORES, scores)
        narrow = narrow_pool(counts.get("n_classes_covered"), ctx.dataset.num_classes, budget, selection.info)
        if narrow:  # said before the manifest, which records it
            reporting.warning(f"pool {name} {narrow}; {NARROW_ADVICE}")
        return w.finish(summary.to_json(), oracle=selector.oracle or inputs.used_labels or upstream.oracle)

