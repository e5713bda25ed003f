"""``alpool init-pool``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

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
    console,
    done,
    params,
    plural,
    resolve_run_dir,
    run_command,
)
from alpool.core.config import InitPoolConfig, default
from alpool.selectors import init_pool_names

if TYPE_CHECKING:
    from alpool.rundir.manifests import StepManifest


def init_pool(
    strategy: Annotated[str, typer.Option("--strategy", "-s", help=f"Selector: {', '.join(init_pool_names())}.")],
    budget: Annotated[int | None, typer.Option("--budget", "-b", help="Number of images to pick.")] = None,
    budget_ratio: Annotated[float | None, typer.Option("--budget-ratio", help="Budget as a share of the selectable pool.")] = None,
    count: Annotated[int, typer.Option("--count", help="Draw this many pools (seeds seed, seed+1, ...).")] = default(InitPoolConfig, "count"),
    score: Annotated[str | None, typer.Option("--score", help="Scorer whose order ranked/cluster strategies use.")] = None,
    embeddings: Annotated[str | None, typer.Option("--embeddings", help="Pretrain task whose embeddings are used.")] = None,
    param: ParamOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Pool folder name (default: <strategy>[-<score>]-<budget>).")] = None,
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, device: DeviceOpt = default(InitPoolConfig, "device"), seed: SeedOpt = default(InitPoolConfig, "seed"),
    force: ForceOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Pick the first images to label.

    Example: alpool init-pool --strategy ranked --score vae-loss --budget 100
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.rundir.summaries import PoolSummary
    from alpool.stages import init_pool as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        config = InitPoolConfig(strategy=strategy, budget=budget, budget_ratio=budget_ratio, count=count,
                                params=params(param, score=score, embeddings=embeddings), seed=seed, name=name,
                                device=device, force=force)  # type: ignore[arg-type]
        manifests = stage.run(config, target, data_dir)
        if not quiet and len(manifests) <= 3 and manifests[0].summary.get("class_histogram"):
            from alpool.rundir.run_dir import RunDir

            classes = RunDir(target).manifest().dataset.classes
            for manifest in manifests:
                console.print(histogram_table(manifest, classes))
        first = manifests[0]
        more = f" (+{len(manifests) - 1} more)" if len(manifests) > 1 else ""
        summary = PoolSummary.of(first)
        covered = summary.n_classes_covered
        coverage = f", {plural(covered, 'class')} covered" if covered is not None else " (unlabeled: export it to label)"
        done(f"pool {first.name}{more}: {plural(summary.budget or 0, 'image')}{coverage}", target,
             step_folder(target, first))

    run_command(body, quiet, debug, threads)


def histogram_table(manifest: StepManifest, classes: list[str]) -> Table:
    """Return the pool's class histogram as a small rich table."""
    from alpool.rundir.summaries import PoolSummary

    title = f"pool {manifest.name}" + (" (oracle)" if manifest.oracle else "")
    table = Table(title=title, show_edge=False, min_width=len(title) + 2)
    table.add_column("class")
    table.add_column("images", justify="right")
    for label, count in zip(classes, PoolSummary.of(manifest).class_histogram or [], strict=True):
        table.add_row(label, str(count))
    return table
