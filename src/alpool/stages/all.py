"""``alpool all --preset NAME``: the whole chain, keeping the steps that already finished with the same settings."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from alpool.core import reporting
from alpool.core.config import (
    ALRunConfig,
    AnalyzeConfig,
    Execution,
    InitPoolConfig,
    Preset,
    PretrainConfig,
    RankConfig,
)
from alpool.core.errors import AlreadyFinishedError
from alpool.execution import threads
from alpool.execution.executor import EXECUTORS, ExecutorRequest
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir
from alpool.selectors import SELECTORS
from alpool.stages import al_run, analyze, init_pool, pretrain, rank


def run(preset: Preset, run_dir: Path, device: str = "auto", force: bool = False, workers: int = 1,
        data_dir: Path | None = None, execution: Execution | None = None) -> list[str]:
    """Run every step of ``preset`` in order; return the step labels that ran (not kept).

    Each step decides itself, by the run directory's one rule, whether it is kept: a step that
    finished with the same settings is kept, one that finished with other settings is refused
    without ``force``. Before each step the thread policy measures the idle cores again.
    """
    ran: list[str] = []
    if preset.al:
        # refuse bad executor options before any step
        EXECUTORS.create(ExecutorRequest(workers, execution or Execution(), device, connect=False))
    run_ = RunDir(run_dir)
    for step in preset.pretrain:
        config = PretrainConfig(task=step.task, dataset=preset.dataset, data_dir=data_dir, params=step.params,
                                name=step.name, seed=preset.seed, device=device, force=force,  # type: ignore[arg-type]
                                val_fraction=preset.val_fraction)
        ran += _unless_kept(run_.step("pretrain", config.step_name).label, partial(pretrain.run, config, run_dir))
    for item in preset.rank:
        rank_config = RankConfig(scorer=item.scorer, params=item.params, ascending=item.ascending,
                                 seed=preset.seed, device=device, force=force)  # type: ignore[arg-type]
        ran += _unless_kept(run_.step("scores", rank_config.step_name).label,
                            partial(rank.run, rank_config, run_dir, data_dir))
    for pool in preset.pools:
        pool_config = InitPoolConfig(strategy=pool.strategy, budget=pool.budget, budget_ratio=pool.budget_ratio,
                                     count=pool.count, params=pool.params, name=pool.name,
                                     seed=preset.seed if pool.seed is None else pool.seed, device=device,  # type: ignore[arg-type]
                                     force=force)
        names = init_pool.pool_names(pool_config, SELECTORS.create(pool_config.strategy, pool_config.params))
        label = run_.step("pools", names[0]).label + ("" if len(names) == 1 else f" ... {names[-1]}")
        ran += _unless_kept(label, partial(init_pool.run, pool_config, run_dir, data_dir))
    for grid in preset.al:
        al_config = ALRunConfig(**grid.model_dump(), seed=preset.seed, workers=workers, device=device, force=force,  # type: ignore[arg-type]
                                 execution=execution or Execution())
        experiment = al_run.experiment_name(al_config)
        ran += _unless_kept(run_.step("al", experiment).label, partial(al_run.run, al_config, run_dir, data_dir),
                            workers)
    if preset.analyze is not None:
        analyze_config: AnalyzeConfig = preset.analyze
        threads.refresh()
        ran.append(run_.step("analysis", analyze.run(analyze_config, run_dir, data_dir).name).label)
    return ran


def _unless_kept(label: str, step: Callable[[], StepManifest | list[StepManifest]], workers: int = 1) -> list[str]:
    """Run one step of the chain and return the labels of the steps it wrote; [] when it was kept as finished."""
    threads.refresh(workers)
    try:
        done = step()
    except AlreadyFinishedError:
        reporting.info(f"{label} is finished: kept")
        return []
    return [f"{m.kind}/{m.name}" for m in (done if isinstance(done, list) else [done])]
