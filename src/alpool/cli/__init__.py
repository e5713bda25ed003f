"""The ``alpool`` command line: thin Typer commands over :mod:`alpool.stages`."""

from __future__ import annotations

from typing import Annotated

import typer

from alpool.cli.al_run import al_run
from alpool.cli.all_cmd import all_steps
from alpool.cli.analyze import analyze
from alpool.cli.common import flag
from alpool.cli.export import export
from alpool.cli.import_labels import import_labels
from alpool.cli.init_pool import init_pool
from alpool.cli.list_cmd import list_entries
from alpool.cli.next_cmd import next_round
from alpool.cli.pretrain import pretrain
from alpool.cli.rank import rank
from alpool.core.version import __version__

app = typer.Typer(
    name="alpool",
    help="Initial pools for deep active learning: pretrain, rank, init-pool, al-run, analyze (or all).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"alpool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, flag("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """Initial pools for deep active learning on images.

    Example chain: alpool pretrain --task vae digits; alpool rank --scorer vae-loss;
    alpool init-pool --strategy ranked --score vae-loss --budget 20; alpool al-run --query entropy;
    alpool analyze --curves
    """


app.command("pretrain")(pretrain)
app.command("rank")(rank)
app.command("init-pool")(init_pool)
app.command("al-run")(al_run)
app.command("analyze")(analyze)
app.command("all")(all_steps)
app.command("list")(list_entries)
app.command("export")(export)
app.command("import-labels")(import_labels)
app.command("next")(next_round)


def main() -> None:
    """Run the CLI."""
    app()
