"""``alpool next``: train on the imported labels, estimate quality, pick and export the next batch.

Only the labels of the ``labels/`` steps are used: the framework sees a view of the dataset whose
targets are the imported labels (``-1`` elsewhere) and whose classes are the imported class list;
ground truth, where a dataset has any, is never read (oracle queries are refused). Quality is
estimated without a test set: stratified k-fold cross-validation on the labelled images
(:func:`alpool.labelling.kfold.kfold_estimate`), or the accuracy on a labelled ``--holdout`` file
kept out of training. Cross-validation on images a selector picked is optimistic (they are not a
random sample: on 2,000 Fashion-MNIST images, 5-fold on a TypiClust pool of 50 said 0.76, the
model scored 0.54 on the other 1,950), so the estimate carries that caveat; a randomly drawn
labelled holdout is unbiased. The final model is trained on every label, the query picks ``budget`` images
among those neither labelled nor held out, and the batch is written as ``pools/<name>`` and
exported as ``exports/<name>`` (``name`` defaults to ``next-<k>``, k = the round it is for).

A query that keeps a state from round to round (DCoM: the radius of every labelled image, as the
reference keeps it and ``al-run`` keeps it per episode) stores it as ``pools/<name>/selector_state.npz``;
the next round hands the state of the latest finished earlier round of the same query back to the
selector (recorded as an input and as ``summary.selector_state_from``), so only the newest images get
new radii. A round without one (the first, or after a change of query) starts every radius afresh.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.core import reporting
from alpool.core.errors import AlreadyFinishedError, ConfigError, MissingStepError, StepExistsError
from alpool.core.seeding import derive_seed, numpy_rng
from alpool.frameworks import FRAMEWORKS, EpisodeData, Framework, TrainedModel
from alpool.labelling.classes import near
from alpool.labelling.config import ExportConfig, NextConfig
from alpool.labelling.export import check_copy, export_rows
from alpool.labelling.export_step import Picks, export_picks, pool_picks
from alpool.labelling.kfold import kfold_estimate
from alpool.labelling.labels import LabelSet, labels_steps, load_imported, parse_file
from alpool.labelling.tidy import tidy
from alpool.learning.training import resolve_device
from alpool.rundir.context import RunContext, RunInputs, Upstream, open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir
from alpool.rundir.selector_state import encode_state, read_state
from alpool.rundir.step_dir import InputLog, StepDir
from alpool.rundir.step_files import POOL_INDICES, SELECTION_SCORES, SELECTOR_STATE
from alpool.selectors import SELECTORS, SelectionContext
from alpool.selectors.base import NEED_LABELS, Selector

KFOLD_CAVEAT = ("optimistic when the labelled images were picked by a selector (typical or uncertain images are "
                "not a random sample); label a random batch and pass it as --holdout for an unbiased estimate")


def default_embeddings(run: RunDir) -> str | None:
    """Return the run's only pretrain step (the embeddings a probe and queries use by default)."""
    steps = [s.name for s in run.finished("pretrain")]
    return steps[0] if len(steps) == 1 else None


def with_embeddings(params: dict[str, Any], fields: dict[str, Any], fallback: str | None) -> dict[str, Any]:
    """Fill an ``embeddings`` option the entry has but the user did not give."""
    if "embeddings" in fields and "embeddings" not in params and fallback is not None:
        return {**params, "embeddings": fallback}
    return params


def check_query(selector: Selector, name: str) -> None:
    """Refuse queries that read ground truth: the loop has only the labels a person made."""
    if selector.oracle or NEED_LABELS in selector.needs:
        raise ConfigError(f"query {name!r} reads ground-truth labels, which a labelling loop does not have; "
                          "choose e.g. entropy, margin, least-confidence, bald, coreset, badge, typiclust")


class Trainer:
    """Trains the framework on subsets of the imported labels (one seed per purpose)."""

    def __init__(self, ctx: RunContext, config: NextConfig, framework: Framework, inputs: RunInputs,
                 targets: np.ndarray, classes: list[str]) -> None:
        self.ctx, self.config, self.framework, self.inputs = ctx, config, framework, inputs
        self.view = replace(ctx.dataset, train_y=torch.from_numpy(targets), classes=tuple(classes))
        self.device = resolve_device(config.device)

    def train(self, labeled: np.ndarray, purpose: object) -> TrainedModel:
        """Train on ``labeled`` (imported labels only); every other pool image counts as unlabeled."""
        return self.framework.train(EpisodeData(
            dataset=self.view, labeled=labeled, unlabeled=np.setdiff1d(self.ctx.pool, labeled).astype(np.int64),
            val=np.empty(0, dtype=np.int64), train=self.config.train,
            seed=derive_seed(self.config.seed, "next", purpose), device=self.device,
            embeddings=self.inputs.embeddings,
            checkpoint=lambda task: self.inputs.upstream.pretrain(task).checkpoint(),
        ))

    def fold(self, train_idx: np.ndarray, eval_idx: np.ndarray, fold: int) -> np.ndarray:
        """Train on a fold's training part and return probabilities of its held-out images."""
        return self.train(train_idx, f"fold-{fold}").classifier.predict_proba(eval_idx)


def estimate(trainer: Trainer, final: TrainedModel, labels: LabelSet, holdout: LabelSet | None,
             config: NextConfig, n: int) -> dict[str, Any]:
    """Return the quality estimate: accuracy on the holdout file, else k-fold on the labels."""
    if holdout is not None:
        return holdout_estimate(final, labels, holdout, config)
    labeled = labels.indices()
    if config.folds < 2 or len(labeled) < 2:
        return {"method": "none (--folds 0 or fewer than 2 labels)"}
    y = labels.targets(n)[labeled]
    with reporting.task("cross-validation", min(config.folds, len(labeled))) as progress:
        def step(train_idx: np.ndarray, eval_idx: np.ndarray, fold: int) -> np.ndarray:
            proba = trainer.fold(train_idx, eval_idx, fold)
            progress.advance()
            return proba

        result = kfold_estimate(labeled, y, config.folds, step, numpy_rng(config.seed, "next", "folds"))
    return {**result, "caveat": KFOLD_CAVEAT}


def holdout_estimate(final: TrainedModel, labels: LabelSet, holdout: LabelSet, config: NextConfig) -> dict[str, Any]:
    """Return the accuracy on the holdout; its images of classes never labelled for training count as errors."""
    classes, trained = labels.classes, set(labels.labels.values())
    idx = holdout.indices()
    truth = [holdout.labels[int(i)] for i in idx]
    predicted = final.classifier.predict_proba(idx).argmax(1)
    unseen = [t not in trained for t in truth]  # also declared classes that no training label has yet
    right = np.array([not u and classes.index(t) == p
                      for t, u, p in zip(truth, unseen, predicted.tolist(), strict=True)])
    result: dict[str, Any] = {"method": f"held-out labelled file {config.holdout}", "n": int(len(idx)),
                              "accuracy": float(right.mean())}
    if any(unseen):
        known = ~np.array(unseen)
        result.update({
            "n_unseen_class_images": int(sum(unseen)),
            "unseen_classes": sorted({t for t, u in zip(truth, unseen, strict=True) if u}),
            "accuracy_on_labelled_classes": float(right[known].mean()) if known.any() else None,
            "note": "holdout images of classes never labelled for training count as errors",
        })
    return result


def read_holdout(config: NextConfig, ctx: RunContext, labels: LabelSet) -> LabelSet | None:
    """Parse ``--holdout``; images that are also training labels are left out of it.

    Its labels may name classes that no training label has yet (a random first batch misses rare
    classes): they count as errors of the estimate. A near-duplicate of a known class is refused.
    """
    if config.holdout is None:
        return None
    holdout = LabelSet()
    parse_file(config.holdout, ctx.dataset, holdout)
    for label in sorted(set(holdout.labels.values()) - set(labels.classes)):
        twin = near(label, labels.classes)
        if twin is not None:
            raise ConfigError(f"{config.holdout.name}: label {label!r} is a near-duplicate of the class {twin[0]!r} "
                              f"({twin[1]}); write {twin[0]!r}")
    both = set(holdout.labels) & set(labels.labels)
    if len(both) == len(holdout.labels):
        raise ConfigError(f"{config.holdout}: every image in it is also an imported training label; "
                          "a holdout must hold images kept out of training")
    if both:
        reporting.warning(f"{config.holdout}: {len(both)} image(s) are also training labels; "
                          "they are left out of the holdout")
        holdout.labels = {i: label for i, label in holdout.labels.items() if i not in both}
    return holdout


def run(config: NextConfig, run_dir: Path, data_dir: Path | None = None) -> tuple[StepManifest, StepManifest]:
    """Train, estimate, select, and write ``pools/<name>`` and ``exports/<name>``."""
    ctx = open_run(run_dir, data_dir)
    fallback = config.embeddings or default_embeddings(ctx.run)
    selector = SELECTORS.create(config.query, with_embeddings(
        config.query_params, SELECTORS.get(config.query).Params.model_fields, fallback))
    check_query(selector, config.query)
    framework = FRAMEWORKS.create(config.framework, with_embeddings(
        config.framework_params, FRAMEWORKS.get(config.framework).Params.model_fields, fallback))
    for task in framework.uses_pretrain():
        ctx.run.step("pretrain", task).manifest()
    labels = load_imported(ctx.run)
    if len(set(labels.labels.values())) < 2:
        have = ", ".join(sorted(set(labels.labels.values()))) or "none"
        raise MissingStepError(f"next needs imported labels of at least 2 classes (have: {have}); "
                               "label the exported images and run `alpool import-labels FILE.csv`")
    if config.copy_to is not None:  # a file given as the folder is refused before training
        check_copy([], ctx.dataset, config.copy_to)
    name = config.name or f"next-{len(labels_steps(ctx.run)) + 1:03d}"
    tidy(ctx.run, ctx.run.step("pools", name), ctx.run.step("exports", name))
    finished = None if config.force else resume(ctx, config, name)
    if finished is not None:
        return finished
    holdout = read_holdout(config, ctx, labels)
    taken = np.union1d(labels.indices(), holdout.indices() if holdout else np.empty(0, np.int64))
    candidates = np.setdiff1d(ctx.pool, taken).astype(np.int64)
    if config.budget > len(candidates):
        raise ConfigError(f"--budget {config.budget} is more than the {len(candidates)} images not yet labelled")
    return _select_and_write(ctx, config, framework, selector, labels, holdout, candidates, name)


def export_config(config: NextConfig, pool: StepDir) -> ExportConfig:
    """Return the settings of the round's export (``exports/<name>`` of the round's pool ``pools/<name>``)."""
    return ExportConfig(source=pool.label, name=pool.name, copy_to=config.copy_to, url_prefix=config.url_prefix,
                        force=config.force)


def resume(ctx: RunContext, config: NextConfig, name: str) -> tuple[StepManifest, StepManifest] | None:
    """Finish a round whose pool exists (a killed ``next``); ``None`` when the pool is still to be made.

    Raises:
        AlreadyFinishedError: the pool and its export both finished with these settings.
        StepExistsError: the pool or the export finished with other settings.
    """
    pool_step, export_step = ctx.run.step("pools", name), ctx.run.step("exports", name)
    if ctx.run.finished_step("pools", name, config.model_dump(mode="json")) is None:  # the run directory's one rule
        if export_step.is_finished():
            raise StepExistsError(f"step {export_step.label} in {ctx.run.root} finished without its pool; "
                                  "pass --force to redo the round or choose another --name")
        return None
    try:
        export = export_picks(ctx, export_config(config, pool_step), pool_picks(pool_step), name)
    except AlreadyFinishedError:
        raise ctx.run.already_finished(f"round {name}") from None  # its pool and export both
    reporting.info(f"{pool_step.label} had finished: wrote its export")
    return pool_step.manifest(), export


def previous_state(run: RunDir, query: str, name: str) -> tuple[StepDir, dict[str, np.ndarray]] | None:
    """Return the latest finished earlier ``next`` round of ``query`` that kept a selector state, and the state."""
    rounds = [(step, step.manifest()) for step in run.finished("pools")
              if step.name != name and step.file(SELECTOR_STATE).exists()]
    same = [(m.finished_at, step) for step, m in rounds
            if m.summary.get("strategy") == "next" and m.summary.get("query") == query]
    if not same:
        return None
    step = max(same, key=lambda pair: pair[0])[1]
    state = read_state(step.file(SELECTOR_STATE))
    return (step, state) if state is not None else None


def _select_and_write(ctx: RunContext, config: NextConfig, framework: Framework, selector: Selector,
                      labels: LabelSet, holdout: LabelSet | None, candidates: np.ndarray,
                      name: str) -> tuple[StepManifest, StepManifest]:
    """Train (estimate, final model), query, then write the pool and its export."""
    log = InputLog(ctx.run.root)  # reads are recorded here, then handed to the writer
    upstream = Upstream(ctx.run, log)
    inputs = RunInputs(ctx, upstream)
    n = ctx.dataset.n_train
    classes = labels.classes
    trainer = Trainer(ctx, config, framework, inputs, labels.targets(n), classes)
    labeled = labels.indices()
    reporting.info(f"training {config.framework} on {len(labeled)} imported labels ({len(classes)} classes)")
    final = trainer.train(labeled, "final")
    quality = estimate(trainer, final, labels, holdout, config, n)
    kept = previous_state(ctx.run, config.query, name)
    selection = selector(SelectionContext(
        n_total=n, labeled=labeled, candidates=candidates, rng=numpy_rng(config.seed, "next", name, config.query),
        num_classes=len(classes), inputs=inputs, classifier=final.classifier, device=str(trainer.device),
        labeled_labels=labels.targets(n)[labeled],  # the imported annotations (DCoM's ball purity)
        state=kept[1] if kept else None,
    ), config.budget)
    predicted = final.classifier.predict_proba(selection.indices).argmax(1)
    scores = np.full(n, np.nan)
    scores[candidates] = selection.candidate_scores
    if config.copy_to is not None:  # refuse a conflicting copy before writing anything
        check_copy(export_rows(selection.indices, None, ctx.dataset), ctx.dataset, config.copy_to)
    record = config.model_dump(mode="json")
    with ctx.run.writing("pools", name, record, config.force) as w:
        load_imported(ctx.run, w)
        w.inputs.update(log.inputs)
        w.save_array(POOL_INDICES, selection.indices)
        w.save_array(SELECTION_SCORES, scores)
        if kept is not None:
            w.record_step_input(kept[0], SELECTOR_STATE)
        if selection.state is not None:
            w.write_bytes(SELECTOR_STATE, encode_state(selection.state))
        summary = {
            "strategy": "next", "query": config.query, "framework": config.framework, "budget": config.budget,
            "seed": config.seed, "n_labeled": int(len(labeled)), "classes": classes,
            "labels_steps": [s.name for s in labels_steps(ctx.run)], "estimate": quality,
            "predicted_class_counts": {c: int((predicted == k).sum()) for k, c in enumerate(classes)},
            "uses": upstream.used, "info": selection.info, "train_info": final.info,
            "selector_state_from": kept[0].name if kept else None,
        }
        pool = w.finish(summary, oracle=False)
    step = ctx.run.step("pools", name)
    picks = Picks(selection.indices.astype(np.int64), scores,  # handed over in memory, recorded as inputs
                  [(step, step.file(POOL_INDICES)), (step, step.file(SELECTION_SCORES))])
    return pool, export_picks(ctx, export_config(config, step), picks, name)
