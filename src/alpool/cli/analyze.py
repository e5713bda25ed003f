"""``alpool analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alpool.cli.common import (
    DataDirOpt,
    DebugOpt,
    QuietOpt,
    RunDirOpt,
    ThreadsOpt,
    done,
    flag,
    resolve_run_dir,
    run_command,
)
from alpool.core.config import AnalyzeConfig, default


def analyze(
    curves: Annotated[bool, flag("--curves/--no-curves", help="Learning curves, final accuracy and ALC tables.")] = default(AnalyzeConfig, "curves"),
    corr: Annotated[bool, flag("--corr", help="Cold-bench correlation of pool scores with accuracy.")] = default(AnalyzeConfig, "corr"),
    hist: Annotated[bool, flag("--hist", help="Class histograms of pools and queries.")] = default(AnalyzeConfig, "hist"),
    scatter: Annotated[bool, flag("--scatter", help="2-D embedding map with the pools on top.")] = default(AnalyzeConfig, "scatter"),
    experiment: Annotated[list[str] | None, typer.Option("--experiment", help="Only these experiments.")] = None,
    scorer: Annotated[list[str] | None, typer.Option("--scorer", help="Only these scorers (--corr).")] = None,
    bench: Annotated[list[str] | None, typer.Option("--bench", help="--corr: the random bench pools, by name or "
                                                    "quoted glob, e.g. 'bench20-*' (default: every random pool drawn with --count).")] = None,
    embeddings: Annotated[str | None, typer.Option("--embeddings", help="Pretrain task of the map (--scatter).")] = None,
    projection: Annotated[str, typer.Option("--projection", help="tsne, or umap when installed.")] = default(AnalyzeConfig, "projection"),
    also: Annotated[list[Path] | None, typer.Option("--also", help="More run directories analysed together.")] = None,
    name: Annotated[str, typer.Option("--name", help="Analysis folder name (replaced on every run).")] = default(AnalyzeConfig, "name"),
    run_dir: RunDirOpt = None, data_dir: DataDirOpt = None, quiet: QuietOpt = False, debug: DebugOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Write tables, figures and report.md / report.html from the finished steps.

    Example: alpool analyze --curves --hist --corr
    """
    from alpool.rundir.run_dir import step_folder
    from alpool.rundir.step_files import REPORT_HTML
    from alpool.stages import analyze as stage

    def body() -> None:
        target = resolve_run_dir(run_dir)
        config = AnalyzeConfig(curves=curves, corr=corr, hist=hist, scatter=scatter, name=name,
                               experiments=experiment or [], scorers=scorer or [], embeddings=embeddings,
                               projection=projection, runs=also or [], bench=bench or [])  # type: ignore[arg-type]
        manifest = stage.run(config, target, data_dir)
        done(f"analysis with {len(manifest.outputs)} files", target, step_folder(target, manifest) / REPORT_HTML)

    run_command(body, quiet, debug, threads)
