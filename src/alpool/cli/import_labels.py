"""``alpool import-labels``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alpool.cli.common import DataDirOpt, DebugOpt, ForceOpt, QuietOpt, RunDirOpt, done, resolve_run_dir, run_command
from alpool.labelling.config import ImportLabelsConfig


def import_labels(
    file: Annotated[Path, typer.Argument(help="CSV with a header: path,label (paths as in to_label.csv) or index,label.")],
    classes: Annotated[str | None, typer.Option("--classes", help="Declare the class list, comma-separated (first import; later ones inherit it).")] = None,
    label_column: Annotated[str, typer.Option("--label-column", help="Column of the labels (e.g. choice in a Label Studio CSV export).")] = "label",
    by: Annotated[str | None, typer.Option("--by", help="Who labelled (recorded in the manifest).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Labels step name (default: round-001, round-002, ...).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, force: ForceOpt = False, quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Record labels a person made as a labels step (rounds accumulate; never oracle).

    Example: alpool import-labels labels.csv --classes cat,dog,bird
    """
    from alpool.stages import import_labels as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        declared = classes.split(",") if classes is not None else None
        config = ImportLabelsConfig(file=file, name=name, classes=declared, by=by, label_column=label_column,
                                    force=force)
        manifest = stage.run(config, target, data_dir)
        summary = manifest.summary
        counts = ", ".join(f"{c} {n}" for c, n in summary["counts"].items())
        done(f"{summary['n_labels']} labels imported ({counts}); {summary['total_labeled']} labelled in all",
             target, target / "labels" / manifest.name)

    run_command(body, quiet, debug)
