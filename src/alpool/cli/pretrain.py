"""``alpool pretrain``."""

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
    default_run_dir,
    done,
    flag,
    params,
    run_command,
)
from alpool.core.config import VAL_FRACTION, PretrainConfig, default
from alpool.core.errors import ConfigError
from alpool.data import DATASETS
from alpool.pretext import TASKS


def pretrain(
    dataset: Annotated[str | None, typer.Argument(help=f"Dataset: {DATASETS.choices_help()} (imagefolder:PATH, cifar10-lt:RATIO). Default: the dataset of --run-dir or of the previous command's run, else digits.")] = None,
    task: Annotated[str, typer.Option("--task", "-t", help=f"Pretext task: {TASKS.choices_help()}.")] = "vae",
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs (task default otherwise).")] = None,
    param: ParamOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Step folder name (default: the task).")] = None,
    download: Annotated[bool, flag("--download", help="Download missing dataset files.")] = default(PretrainConfig, "download"),
    image_size: Annotated[int | None, typer.Option("--image-size", help="Image folders: resize the shorter side to S and centre-crop S x S (recorded in the dataset spec as PATH@S).")] = None,
    val_fraction: Annotated[float | None, typer.Option("--val-fraction", help=f"Share of train held out as validation (a new run: default {VAL_FRACTION}; an existing run keeps its own and refuses another).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, device: DeviceOpt = default(PretrainConfig, "device"), seed: SeedOpt = default(PretrainConfig, "seed"),
    force: ForceOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Train a self-supervised pretext model and save per-image arrays.

    Example: alpool pretrain --task vae digits
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.stages import pretrain as stage

    def body() -> None:
        target, spec, recorded_dir = _target(dataset, run_dir)
        if image_size is not None:
            spec = with_image_size(dataset, image_size)
        config = PretrainConfig(task=task, dataset=spec, data_dir=data_dir or recorded_dir, download=download,
                                params=params(param, epochs=epochs), name=name, seed=seed, device=device,  # type: ignore[arg-type]
                                force=force, **({} if val_fraction is None else {"val_fraction": val_fraction}))
        manifest = stage.run(config, target)
        done(f"pretrained {task} in {manifest.seconds:.0f}s", target, step_folder(target, manifest))

    run_command(body, quiet, debug, threads)


def with_image_size(dataset: str | None, size: int) -> str:
    """Return ``images:PATH@S`` / ``imagefolder:PATH@S``; refuse other datasets."""
    if dataset is None or not dataset.startswith(("images:", "imagefolder:")):
        raise ConfigError("--image-size resizes image folders: give the dataset as images:PATH (or imagefolder:PATH)")
    return f"{dataset}@{size}"


def _target(dataset: str | None, run_dir: Path | None) -> tuple[Path, str, Path | None]:
    """Return the run directory, dataset spec and data folder: a second task joins its run.

    With a dataset: ``--run-dir`` or ``runs/<dataset>``. Without one: ``--run-dir`` (or the
    previous command's run) and the dataset recorded there; with neither, digits in runs/digits.
    """
    if dataset is not None:
        return run_dir or default_run_dir(dataset), dataset, None
    from alpool.rundir.last_run import last_run
    from alpool.rundir.run_dir import RunDir

    target = run_dir or last_run()
    if target is not None and RunDir(target).exists():
        recorded = RunDir(target).manifest().dataset
        return target, recorded.spec, Path(recorded.data_dir) if recorded.data_dir else None
    return target or default_run_dir("digits"), "digits", None
