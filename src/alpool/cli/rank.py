"""``alpool rank``."""

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
    resolve_run_dir,
    run_command,
)
from alpool.core.config import RankConfig, default
from alpool.scorers import SCORERS


def rank(
    scorer: Annotated[str, typer.Option("--scorer", "-s", help=f"Scorer: {SCORERS.choices_help()}.")],
    ascending: Annotated[bool, flag("--ascending", help="Easy first: reverse the order (folder <scorer>-easy).")] = default(RankConfig, "ascending"),
    task: Annotated[str | None, typer.Option("--task", "-t", help="Pretrain step the scorer reads (its default otherwise).")] = None,
    param: ParamOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Step folder name.")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, device: DeviceOpt = default(RankConfig, "device"), seed: SeedOpt = default(RankConfig, "seed"),
    force: ForceOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Score every train image (higher = label first) and write sorted index files.

    Example: alpool rank --scorer vae-loss
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.rundir.summaries import ScoresSummary
    from alpool.stages import rank as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        config = RankConfig(scorer=scorer, params=params(param, task=task), ascending=ascending, name=name,
                            seed=seed, device=device, force=force)  # type: ignore[arg-type]
        manifest = stage.run(config, target, data_dir)
        s = ScoresSummary.of(manifest)
        done(f"ranked {manifest.name}: mean {s.mean:.4g}, std {s.std:.4g}", target, step_folder(target, manifest))

    run_command(body, quiet, debug, threads)
