"""``alpool all --preset NAME``: the whole chain, skipping the steps that already finished."""

from __future__ import annotations

from pathlib import Path

from alpool import reporting
from alpool.config import ALRunConfig, AnalyzeConfig, Execution, InitPoolConfig, Preset, PretrainConfig, RankConfig
from alpool.executor import EXECUTORS, ExecutorRequest
from alpool.rundir import RunDir
from alpool.selectors import SELECTORS
from alpool.stages import al_run, analyze, init_pool, pretrain, rank


def run(preset: Preset, run_dir: Path, device: str = "auto", force: bool = False, workers: int = 1,
        data_dir: Path | None = None, execution: Execution | None = None) -> list[str]:
    """Run every step of ``preset`` in order; return the step labels that ran (not skipped)."""
    ran: list[str] = []
    run_ = RunDir(run_dir)
    if preset.al:
        # refuse bad executor options before any step
        EXECUTORS.create(ExecutorRequest(workers, execution or Execution(), device, connect=False))
    for step in preset.pretrain:
        config = PretrainConfig(task=step.task, dataset=preset.dataset, data_dir=data_dir, params=step.params,
                                name=step.name, seed=preset.seed, device=device, force=force,  # type: ignore[arg-type]
                                val_fraction=preset.val_fraction)
        if _skip(run_, "pretrain", config.step_name, force):
            continue
        pretrain.run(config, run_dir)
        ran.append(f"pretrain/{config.step_name}")
    for item in preset.rank:
        rank_config = RankConfig(scorer=item.scorer, params=item.params, ascending=item.ascending,
                                 seed=preset.seed, device=device, force=force)  # type: ignore[arg-type]
        if _skip(run_, "scores", rank_config.step_name, force):
            continue
        rank.run(rank_config, run_dir, data_dir)
        ran.append(f"scores/{rank_config.step_name}")
    for pool in preset.pools:
        pool_config = InitPoolConfig(strategy=pool.strategy, budget=pool.budget, budget_ratio=pool.budget_ratio,
                                     count=pool.count, params=pool.params, name=pool.name,
                                     seed=preset.seed if pool.seed is None else pool.seed, device=device,  # type: ignore[arg-type]
                                     force=force)
        names = init_pool.pool_names(pool_config, SELECTORS.create(pool_config.strategy, pool_config.params))
        if all(_skip(run_, "pools", n, force) for n in names):
            continue
        ran += [f"pools/{m.name}" for m in init_pool.run(pool_config, run_dir, data_dir)]
    for grid in preset.al:
        al_config = ALRunConfig(**grid.model_dump(), seed=preset.seed, workers=workers, device=device, force=force,  # type: ignore[arg-type]
                                 execution=execution or Execution())
        if _skip(run_, "al", al_run.experiment_name(al_config), force):
            continue
        ran.append(f"al/{al_run.run(al_config, run_dir, data_dir).name}")
    if preset.analyze is not None:
        analyze_config: AnalyzeConfig = preset.analyze
        ran.append(f"analysis/{analyze.run(analyze_config, run_dir, data_dir).name}")
    return ran


def _skip(run: RunDir, kind: str, name: str, force: bool) -> bool:
    """Return whether a finished step is kept (no ``--force``), telling the user."""
    if run.exists() and run.step(kind, name).is_finished() and not force:
        run.record_step(run.step(kind, name), now=False)  # a finished step found on disk is always indexed
        reporting.info(f"{kind}/{name} is finished: kept")
        return True
    return False

