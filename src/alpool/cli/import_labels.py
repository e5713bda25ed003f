"""``alpool import-labels``."""

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
from alpool.labelling.config import ImportLabelsConfig


def import_labels(
    file: Annotated[Path, typer.Argument(help="CSV with a header: path,label (paths as in to_label.csv) or index,label; or Label Studio's CSV, JSON or JSON_MIN export.")],
    classes: Annotated[str | None, typer.Option("--classes", help="Declare the class list, comma-separated (first import; later ones may only add to it).")] = None,
    new_class: Annotated[list[str] | None, typer.Option("--new-class", help="A class name this import adds on purpose (repeatable); other new names are refused.")] = None,
    label_column: Annotated[str, typer.Option("--label-column", help="Column (Label Studio: field) of the labels; alpool's label_config.xml names it label.")] = "label",
    by: Annotated[str | None, typer.Option("--by", help="Who labelled (recorded in the manifest).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Labels step name (default: round-001, round-002, ...).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, force: ForceOpt = False, quiet: QuietOpt = False,
    debug: DebugOpt = False, threads: ThreadsOpt = None,
) -> None:
    """Record labels a person made as a labels step (rounds accumulate; never oracle).

    Example: alpool import-labels project-1-at-2026-01-01.json --new-class bird
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.stages import import_labels as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        declared = classes.split(",") if classes is not None else None
        config = ImportLabelsConfig(file=file, name=name, classes=declared, new_classes=new_class or [], by=by,
                                    label_column=label_column, force=force)
        manifest = stage.run(config, target, data_dir)
        summary = manifest.summary
        counts = ", ".join(f"{c} {n}" for c, n in summary["counts"].items())
        if summary.get("declared"):
            typer.echo(f"declared the classes {', '.join(summary['declared'])} (later imports add one only with "
                       "--new-class NAME)")
        if summary.get("added_classes"):
            typer.echo(f"added the classes {', '.join(summary['added_classes'])}")
        done(f"{summary['n_labels']} labels imported ({counts}); {summary['total_labeled']} labelled in all",
             target, step_folder(target, manifest))

    run_command(body, quiet, debug, threads)
