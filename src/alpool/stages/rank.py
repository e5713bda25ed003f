"""``alpool rank``: one score per train image, higher = pick first, and the sorted index file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpool.analysis.step_figures import histogram_png
from alpool.core.config import RankConfig
from alpool.core.errors import ConfigError
from alpool.learning.training import resolve_device
from alpool.pretext import PretextTask
from alpool.rundir.context import Upstream, open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.step_files import SCORES, SORTED_INDEX
from alpool.rundir.summaries import ScoresSummary
from alpool.scorers import SCORERS, Scorer, ScoringContext


def sorted_indices(scores: np.ndarray) -> np.ndarray:
    """Return the permutation that sorts ``scores`` from highest to lowest (stable on ties)."""
    return np.argsort(-scores, kind="stable").astype(np.int64)


def pretrain_steps_read(entry: Scorer | PretextTask) -> list[str]:
    """Return the pretrain steps a scorer (or task) reads: its ``task`` option, else those it requires."""
    task = getattr(entry.params, "task", None)
    return [str(task)] if task else list(entry.requires)


def run(config: RankConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Score every train image with ``config.scorer`` and write ``scores/<name>/``.

    With ``ascending`` the scores are negated before saving, so that ``scores.npy`` keeps meaning
    "higher = pick first" and ``sorted_idx.npy`` lists the easiest images first.
    """
    scorer = SCORERS.create(config.scorer, config.params)
    device = resolve_device(config.device)
    ctx = open_run(run_dir, data_dir)
    for task in pretrain_steps_read(scorer):  # every check before the step folder is made
        ctx.run.step("pretrain", task).manifest()
    with ctx.run.writing("scores", config.step_name, config.model_dump(mode="json"), config.force) as w:
        upstream = Upstream(ctx.run, w)
        scoring = ScoringContext(ctx.dataset, device, config.seed, upstream.pretrain)
        raw = np.asarray(scorer.score(scoring), dtype=np.float64)
        if raw.shape != (ctx.dataset.n_train,) or not np.isfinite(raw).all():
            raise RuntimeError(f"scorer {config.scorer!r} returned {raw.shape} with non-finite values")
        scores = -raw if config.ascending else raw
        w.save_array(SCORES, scores)
        w.save_array(SORTED_INDEX, sorted_indices(scores))
        w.write_bytes("histogram.png", histogram_png(raw, config.scorer))
        summary = ScoresSummary(scorer=config.scorer, ascending=config.ascending, uses=upstream.used,
                                mean=float(raw.mean()), std=float(raw.std()), min=float(raw.min()),
                                max=float(raw.max()))
        if raw.std() == 0:
            raise ConfigError(f"scorer {config.scorer!r} gave every image the same score {raw[0]}; "
                              "its pretrain step learned nothing: train it longer")
        return w.finish(summary.to_json(), oracle=upstream.oracle)
