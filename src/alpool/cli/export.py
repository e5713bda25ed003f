"""``alpool export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alpool.cli.common import (
    DataDirOpt,
    DebugOpt,
    ForceOpt,
    QuietOpt,
    RunDirOpt,
    ThreadsOpt,
    done,
    resolve_run_dir,
    run_command,
)
from alpool.labelling.config import ExportConfig

CopyToOpt = Annotated[Path | None, typer.Option("--copy-to", help="Also copy the picked image files here (relative paths kept).")]
UrlPrefixOpt = Annotated[str | None, typer.Option("--url-prefix", help="Prefix of each task's image URL (default: the last one given in this run, else Label Studio's local-files URL of the image folder).")]


def export(
    source: Annotated[str, typer.Argument(help="A pool name (or pools/NAME), or an AL query step al/EXP/POOL--QUERY/trial-T/episode-E.")],
    copy_to: CopyToOpt = None,
    url_prefix: UrlPrefixOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Export folder name (default: the pool's name).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, force: ForceOpt = False, quiet: QuietOpt = False,
    debug: DebugOpt = False, threads: ThreadsOpt = None,
) -> None:
    """Write the images of a pool to label, in pick order: to_label.csv and Label Studio's tasks and config.

    Example: alpool export typiclust-50 --copy-to to_label/
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.rundir.step_files import TO_LABEL
    from alpool.stages import export as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        config = ExportConfig(source=source, name=name, copy_to=copy_to, url_prefix=url_prefix, force=force)
        manifest = stage.run(config, target, data_dir)
        folder = step_folder(target, manifest)
        copied = f", copied to {config.copy_to}" if config.copy_to else ""
        print_setup(manifest.summary, quiet)
        done(f"{manifest.summary['n_images']} images to label in {folder / TO_LABEL}{copied}", target, folder)

    run_command(body, quiet, debug, threads)


def print_setup(summary: dict, quiet: bool) -> None:
    """Print the Label Studio steps that make the exported task URLs work."""
    if not quiet:
        for line in summary.get("label_studio", {}).get("steps", []):
            typer.echo(line)
