"""``alpool next``."""

from __future__ import annotations

from pathlib import Path
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
    params,
    resolve_run_dir,
    run_command,
)
from alpool.cli.export import CopyToOpt, UrlPrefixOpt, print_setup
from alpool.core.config import TrainConfig
from alpool.frameworks import FRAMEWORKS
from alpool.labelling.config import NextConfig
from alpool.selectors import SELECTORS


def next_round(
    budget: Annotated[int, typer.Option("--budget", "-b", help="Images to pick for the next round.")],
    query: Annotated[str, typer.Option("--query", help=f"Query: {SELECTORS.choices_help(oracle=False)}.")] = "entropy",
    framework: Annotated[str, typer.Option("--framework", help=f"How the labels are used: {FRAMEWORKS.choices_help()}.")] = "linear-probe",
    embeddings: Annotated[str | None, typer.Option("--embeddings", help="Pretrain step whose embeddings the probe and queries use (default: the only one).")] = None,
    init: Annotated[str | None, typer.Option("--init", help="supervised / semi-supervised: start from this pretrain task's backbone.")] = None,
    framework_param: Annotated[list[str] | None, typer.Option("--framework-param", help="Framework option KEY=VALUE.")] = None,
    param: ParamOpt = None,
    folds: Annotated[int, typer.Option("--folds", help="k of the k-fold estimate on the labelled images (0: none; at least 2 otherwise).")] = 5,
    holdout: Annotated[Path | None, typer.Option("--holdout", help="A labelled CSV kept out of training; the estimate is the accuracy on it.")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs (supervised / semi-supervised).")] = 30,
    train_setting: Annotated[list[str] | None, typer.Option("--train", help="Training setting KEY=VALUE (repeatable).")] = None,
    copy_to: CopyToOpt = None,
    url_prefix: UrlPrefixOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Pool and export name (default: next-<round>).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, device: DeviceOpt = "auto", seed: SeedOpt = 0,
    force: ForceOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False, threads: ThreadsOpt = None,
) -> None:
    """Train on the imported labels, estimate quality, pick and export the next batch to label.

    Example: alpool next --query entropy --budget 50
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.rundir.step_files import TO_LABEL
    from alpool.stages import next_round as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        train = TrainConfig(**{"epochs": epochs, **params(train_setting)})
        config = NextConfig(query=query, query_params=params(param), budget=budget, embeddings=embeddings,
                            framework=framework, framework_params=params(framework_param, init=init),
                            train=train, folds=folds, holdout=holdout, name=name, copy_to=copy_to,
                            url_prefix=url_prefix, seed=seed, device=device, force=force)  # type: ignore[arg-type]
        pool, export = stage.run(config, target, data_dir)
        quality = pool.summary["estimate"]
        if "accuracy" in quality:
            spread = f" +- {quality['accuracy_std']:.3f}" if "accuracy_std" in quality else ""
            caveat = "; optimistic on selector-picked labels" if "caveat" in quality else ""
            unseen = (f"; {quality['n_unseen_class_images']} holdout images of never-labelled classes "
                      f"({', '.join(quality['unseen_classes'])}) count as errors"
                      if quality.get("n_unseen_class_images") else "")
            estimate = f"estimated accuracy {quality['accuracy']:.3f}{spread} ({quality['method']}{caveat}{unseen})"
        else:
            estimate = "no quality estimate"
        print_setup(export.summary, quiet)
        done(f"trained on {pool.summary['n_labeled']} labels, {estimate}; {export.summary['n_images']} images to "
             f"label in {step_folder(target, export) / TO_LABEL}", target, step_folder(target, pool))

    run_command(body, quiet, debug, threads)
