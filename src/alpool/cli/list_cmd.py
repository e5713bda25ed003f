"""``alpool list KIND``: every registered name with its description."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alpool.registry import Registry


def registries() -> dict[str, Registry]:
    """Return the listable registries by kind (plural, as typed after ``alpool list``)."""
    from alpool.data import DATASETS
    from alpool.frameworks import FRAMEWORKS
    from alpool.models import MODELS
    from alpool.pretext import TASKS
    from alpool.scorers import SCORERS
    from alpool.selectors import SELECTORS

    return {"datasets": DATASETS, "tasks": TASKS, "scorers": SCORERS, "selectors": SELECTORS,
            "models": MODELS, "frameworks": FRAMEWORKS}


def list_entries(
    kind: Annotated[str, typer.Argument(help="datasets, tasks, scorers, selectors, models or frameworks.")],
) -> None:
    """List the registered names of a kind.

    Example: alpool list selectors
    """
    from alpool.cli.common import run_command

    def body() -> None:
        found = registries()
        kinds: Registry[Registry] = Registry("kind")
        for plural, registry in found.items():
            kinds.add(plural, registry, f"every registered {registry.kind}")
        registry = kinds.get(kind)
        table = Table(title=kind, show_edge=False)
        table.add_column("name", style="bold")
        table.add_column("description")
        for entry in registry.entries():
            notes = [flag for flag in ("oracle", "query")
                     if entry.meta.get(flag) is True and flag not in entry.description]
            table.add_row(entry.name, escape(entry.description + (f" [{', '.join(notes)}]" if notes else "")))
        Console(width=140).print(table)

    run_command(body, quiet=True, debug=False)
