"""``alpool al-run``."""

from __future__ import annotations

from typing import Annotated

import typer

from alpool.cli.common import (
    DataDirOpt,
    DebugOpt,
    DeviceOpt,
    ForceOpt,
    ParamOpt,
    QuietOpt,
    RunDirOpt,
    SeedOpt,
    ThreadsOpt,
    done,
    flag,
    params,
    plural,
    resolve_run_dir,
    run_command,
)
from alpool.cli.execution import CpusPerTrialOpt, ExecutorOpt, GpusPerTrialOpt, RayAddressOpt, execution
from alpool.core.config import ALRunConfig, TrainConfig, default
from alpool.core.params import build_params
from alpool.frameworks import FRAMEWORKS
from alpool.models import MODELS
from alpool.selectors import SELECTORS


def al_run(
    query: Annotated[list[str] | None, typer.Option("--query", help=f"AL query (repeatable): {SELECTORS.choices_help()}.")] = None,
    pool: Annotated[list[str] | None, typer.Option("--pool", help="Initial pool or quoted glob, e.g. 'bench20-*' (repeatable; default: every finished pool).")] = None,
    episodes: Annotated[int, typer.Option("--episodes", "-e", help="Query rounds after the initial training (0: train once).")] = default(ALRunConfig, "episodes"),
    step_budget: Annotated[int, typer.Option("--step-budget", "-b", help="Images labeled per round.")] = default(ALRunConfig, "step_budget"),
    trials: Annotated[int, typer.Option("--trials", help="Independent seeds per pool and query.")] = default(ALRunConfig, "trials"),
    candidates: Annotated[int | None, typer.Option(
        "--candidates", help="Queries score a seeded random subset of this many unlabeled images per "
        "episode (default: all; e.g. 2000 makes bald affordable on 60,000 images).")] = None,
    framework: Annotated[str, typer.Option("--framework", help=f"How labels are used: {FRAMEWORKS.choices_help()}.")] = default(ALRunConfig, "framework"),
    framework_param: Annotated[list[str] | None, typer.Option("--framework-param", help="Framework option KEY=VALUE.")] = None,
    embeddings: Annotated[str | None, typer.Option("--embeddings", help="linear-probe: the pretrain task whose embeddings are probed (e.g. simclr).")] = None,
    init: Annotated[str | None, typer.Option("--init", help="supervised / semi-supervised: start from this pretrain task's backbone (e.g. simclr).")] = None,
    arch: Annotated[str, typer.Option("--arch", help=f"Classifier: {MODELS.choices_help()}.")] = default(TrainConfig, "arch"),
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs per episode.")] = default(TrainConfig, "epochs"),
    train_setting: Annotated[list[str] | None, typer.Option("--train", help="Training setting KEY=VALUE (repeatable), e.g. --train lr=0.05 --train flip=false.")] = None,
    param: ParamOpt = None,
    validation: Annotated[str, typer.Option("--validation", help="How each episode's weights are chosen: split (best epoch on the run's "
                                            "held-out images), none (fixed schedule, last epoch), labeled-kfold (k-fold on the labeled pool only).")] = default(ALRunConfig, "validation"),
    folds: Annotated[int, typer.Option("--folds", help="labeled-kfold: number of folds.")] = default(ALRunConfig, "folds"),
    warm_start: Annotated[bool, flag("--warm-start", help="Keep the previous episode's weights.")] = default(ALRunConfig, "warm_start"),
    workers: Annotated[int, typer.Option("--workers", help="Run trials in this many processes.")] = default(ALRunConfig, "workers"),
    executor: ExecutorOpt = "auto", ray_address: RayAddressOpt = None, gpus_per_trial: GpusPerTrialOpt = None,
    cpus_per_trial: CpusPerTrialOpt = 1,
    name: Annotated[str | None, typer.Option("--name", help="Experiment folder (default: the queries).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, device: DeviceOpt = default(ALRunConfig, "device"), seed: SeedOpt = default(ALRunConfig, "seed"),
    force: ForceOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Run active-learning episodes from the initial pools, for every query and trial.

    Killed runs resume: run the same command again.

    Example: alpool al-run --query coreset --episodes 5 --step-budget 20 --trials 3
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.rundir.summaries import ALSummary
    from alpool.stages import al_run as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        queries = query or default(ALRunConfig, "queries")
        extra = params(param)
        train = build_params(TrainConfig, {"arch": arch, "epochs": epochs, **params(train_setting, "--train")}, "--train")
        config = ALRunConfig(pools=pool or [], queries=queries, query_params={q: extra for q in queries} if extra else {},
                             episodes=episodes, step_budget=step_budget, trials=trials, candidates=candidates,
                             framework=framework,
                             framework_params=params(framework_param, embeddings=embeddings, init=init), train=train, warm_start=warm_start,
                             validation=validation, folds=folds,  # type: ignore[arg-type]
                             name=name, seed=seed, workers=workers, device=device, force=force,  # type: ignore[arg-type]
                             execution=execution(executor, ray_address, gpus_per_trial, cpus_per_trial))
        manifest = stage.run(config, target, data_dir)
        summary = ALSummary.of(manifest)
        best = summary.best()
        done(f"{plural(summary.jobs, 'trial')}; best final accuracy {best[1]:.3f} ({best[0]})", target,
             step_folder(target, manifest))

    run_command(body, quiet, debug, threads, workers)

