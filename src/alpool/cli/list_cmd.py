"""``alpool list KIND``: every registered name with its description."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alpool.core.errors import ConfigError
from alpool.core.params import option_rows
from alpool.core.registry import ClassRegistry, Registry


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
    show_params: Annotated[bool, typer.Option("--params", metavar="", help="Each entry's options (--param KEY=VALUE) with defaults (tasks, scorers, selectors, frameworks).")] = False,
) -> None:
    """List the registered names of a kind, or with --params their options and defaults.

    Example: alpool list selectors --params
    """
    from alpool.cli.common import run_command

    def body() -> None:
        found = registries()
        kinds: Registry[Registry] = Registry("kind")
        for plural, registry in found.items():
            kinds.add(plural, registry, f"every registered {registry.kind}")
        registry = kinds.get(kind)
        if show_params:
            if not isinstance(registry, ClassRegistry):
                with_params = ", ".join(k for k, r in found.items() if isinstance(r, ClassRegistry))
                raise ConfigError(f"{kind} have no options; --params lists those of {with_params}")
            Console(width=160).print(params_table(kind, registry))
            return
        table = Table(title=kind, show_edge=False)
        table.add_column("name", style="bold")
        table.add_column("description")
        for entry in registry.entries():
            notes = [flag for flag in ("oracle", "query")
                     if entry.meta.get(flag) is True and flag not in entry.description]
            table.add_row(entry.name, escape(entry.description + (f" [{', '.join(notes)}]" if notes else "")))
        Console(width=140).print(table)

    run_command(body, quiet=True, debug=False, uses_torch=False)


def params_table(kind: str, registry: ClassRegistry) -> Table:
    """Return one row per option of every entry: name, option, default, description (imports the entries)."""
    table = Table(title=f"{kind}: options (--param KEY=VALUE)", show_edge=False)
    for column in ("name", "option", "default", "description"):
        table.add_column(column, style="bold" if column == "name" else None)
    for entry in registry.entries():
        rows = option_rows(registry.params_model(entry.name))
        for i, (option, value, description) in enumerate(rows or [("(none)", "", "")]):
            table.add_row(entry.name if i == 0 else "", option, escape(value), escape(description),
                          end_section=i == max(len(rows), 1) - 1)
    return table
