"""``alpool export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alpool.cli.common import DataDirOpt, DebugOpt, ForceOpt, QuietOpt, RunDirOpt, done, resolve_run_dir, run_command
from alpool.labelling.config import LABEL_STUDIO_PREFIX, ExportConfig

CopyToOpt = Annotated[Path | None, typer.Option("--copy-to", help="Also copy the picked image files here (relative paths kept).")]
UrlPrefixOpt = Annotated[str, typer.Option("--url-prefix", help="Label Studio: prefix of each task's image URL.")]


def export(
    source: Annotated[str, typer.Argument(help="A pool name (or pools/NAME), or an AL query step al/EXP/POOL--QUERY/trial-T/episode-E.")],
    copy_to: CopyToOpt = None,
    url_prefix: UrlPrefixOpt = LABEL_STUDIO_PREFIX,
    name: Annotated[str | None, typer.Option("--name", help="Export folder name (default: the pool's name).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, force: ForceOpt = False, quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the images of a pool to label, in pick order: to_label.csv and a Label Studio file.

    Example: alpool export typiclust-50 --copy-to to_label/
    """
    from alpool.stages import export as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        config = ExportConfig(source=source, name=name, copy_to=copy_to, url_prefix=url_prefix, force=force)
        manifest = stage.run(config, target, data_dir)
        folder = target / "exports" / manifest.name
        copied = f", copied to {config.copy_to}" if config.copy_to else ""
        done(f"{manifest.summary['n_images']} images to label in {folder / 'to_label.csv'}{copied}", target, folder)

    run_command(body, quiet, debug)
