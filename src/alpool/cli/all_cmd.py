"""``alpool all``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alpool.cli.common import DataDirOpt, DebugOpt, DeviceOpt, ForceOpt, QuietOpt, ThreadsOpt, done, plural, run_command
from alpool.cli.execution import CpusPerTrialOpt, ExecutorOpt, GpusPerTrialOpt, RayAddressOpt, execution
from alpool.core.config import ALRunConfig, default
from alpool.presets import preset_names


def all_steps(
    preset: Annotated[str, typer.Option("--preset", help=f"Preset name ({', '.join(preset_names())}) or a .toml path.")] = "quickstart",
    run_dir: Annotated[Path | None, typer.Option("--run-dir", "-r", help="Run directory (default: runs/<preset>).")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Run AL trials in this many processes.")] = default(ALRunConfig, "workers"),
    executor: ExecutorOpt = "auto", ray_address: RayAddressOpt = None, gpus_per_trial: GpusPerTrialOpt = None,
    cpus_per_trial: CpusPerTrialOpt = 1,
    data_dir: DataDirOpt = None, device: DeviceOpt = default(ALRunConfig, "device"), force: ForceOpt = False,
    quiet: QuietOpt = False, debug: DebugOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Run the whole chain of a preset; finished steps are kept, killed ones resume.

    Example: alpool all --preset quickstart
    """
    from alpool.presets import load_preset
    from alpool.rundir.run_dir import RunDir
    from alpool.rundir.step_files import REPORT_HTML
    from alpool.stages import all as stage

    def body() -> None:
        name, config = load_preset(preset)
        target = run_dir or Path("runs") / name
        ran = stage.run(config, target, device=device, force=force, workers=workers, data_dir=data_dir,
                         execution=execution(executor, ray_address, gpus_per_trial, cpus_per_trial))
        report = RunDir(target).step("analysis", config.analyze.name).file(REPORT_HTML) if config.analyze else None
        if report is not None and report.exists():
            done(f"preset {name}: {plural(len(ran), 'step')} ran; open the report", target, report)
        else:
            done(f"preset {name}: {plural(len(ran), 'step')} ran", target, target)

    run_command(body, quiet, debug, threads, workers)
