"""The analysis entry point: read run directories, write tables, figures and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpool.analysis.context import AnalyzeOptions, Context, RunView
from alpool.analysis.headline import headline_section
from alpool.analysis.loading import (
    add_arms,
    load_pools,
    load_results,
    run_labels,
    select_experiments,
)
from alpool.analysis.optional_sections import (
    corr_section,
    embeddings_task,
    hist_section,
    scatter_section,
)
from alpool.analysis.report import Section, move_details, render_html, render_markdown
from alpool.analysis.sections import experiments_section, overview_section, results_section
from alpool.core import reporting
from alpool.core.atomic_files import atomic_write_bytes, atomic_write_text
from alpool.core.errors import ConfigError
from alpool.rundir.run_dir import RunDir


@dataclass
class AnalysisResult:
    """What :func:`analyze` wrote (file names relative to ``out``) and a JSON-able summary."""

    files: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def analyze(run_dirs: list[RunDir], options: AnalyzeOptions, out: Path,
            labels: np.ndarray | None = None) -> AnalysisResult:
    """Analyse finished steps of run directories and write tables, figures and the report.

    Args:
        run_dirs: one or more run directories (several are analysed together, each row names its
            run).
        options: what to compute.
        out: folder to write into (created); every file is written atomically.
        labels: train labels ``[N]`` int64 of the first run's dataset (runs with another dataset
            fingerprint get none); needed for query histograms and class-coloured maps.

    Returns:
        The written file names (relative to ``out``: ``*.csv``, ``*.png``, ``report.md``,
        ``report.html``) and a summary (experiments, unfinished steps, final accuracies, notes,
        ``oracle``: whether any step read used ground-truth labels, ``oracle_inputs``: which).

    Raises:
        ConfigError: no run directory, labels of the wrong length, an unknown experiment, or an
            embedding map without a unique pretrain task.
        MissingStepError: a run directory without ``run.json`` or a named scorer/task not finished.
    """
    ctx = open_context(run_dirs, options, labels)
    sections = build_sections(ctx)
    return write_report(ctx, sections, Path(out))


def open_context(run_dirs: list[RunDir], options: AnalyzeOptions,
                 labels: np.ndarray | None) -> Context:
    """Open the run directories, check the options against them and load the tidy tables."""
    if not run_dirs:
        raise ConfigError("no run directory to analyse; pass --run-dir DIR")
    names = run_labels(run_dirs)
    manifests = [r.manifest() for r in run_dirs]
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        n_train = manifests[0].dataset.n_train
        if labels.ndim != 1 or len(labels) != n_train:
            raise ConfigError(f"labels have shape {labels.shape}, but run {names[0]} has "
                              f"{n_train} train images; pass the train labels of its dataset")
    fingerprint = manifests[0].dataset.fingerprint
    views = [RunView(r, n, m, labels if m.dataset.fingerprint == fingerprint else None)
             for r, n, m in zip(run_dirs, names, manifests, strict=True)]
    if options.scatter:  # fail before any work
        for view in views:
            embeddings_task(view, options.embeddings)
    experiments = select_experiments(run_dirs, options.experiments)
    pools = pd.concat([load_pools(v.run, v.label, v.labels, v.pool_indices) for v in views], ignore_index=True)
    results = add_arms(load_results(experiments, names), pools)
    ctx = Context(options, views, experiments, results, pools)
    ctx.oracle_inputs += [f"{v.label}:{s.label}"
                          for v, steps in zip(views, experiments, strict=True)
                          for s in steps if s.manifest().oracle]
    return ctx


def build_sections(ctx: Context) -> list[Section]:
    """Build every report section the options ask for."""
    overview, steps = overview_section(ctx)
    experiments, _ = experiments_section(ctx, steps)
    results, _, _ = results_section(ctx)
    sections = [headline_section(ctx), overview, experiments, results]
    optional = [(ctx.options.corr, lambda: corr_section(ctx)[0]),
                (ctx.options.hist, lambda: hist_section(ctx)),
                (ctx.options.scatter, lambda: scatter_section(ctx))]
    for wanted, build in optional:
        if wanted:
            sections.append(build())
    ctx.notes += [p for s in sections for p in s.paragraphs if p.startswith("**Note")]
    return move_details(sections)


def write_report(ctx: Context, sections: list[Section], out: Path) -> AnalysisResult:
    """Write every table (CSV), figure (PNG) and the report (md, html) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    result = AnalysisResult()
    with reporting.task(f"analysis: writing to {out}", None) as progress:
        for section in sections:
            for table in section.tables:
                atomic_write_text(out / f"{table.name}.csv", csv_text(table.frame))
                result.files.append(f"{table.name}.csv")
            for figure in section.figures:
                atomic_write_bytes(out / figure.name, figure.png)
                result.files.append(figure.name)
                progress.advance(status=figure.name)
        atomic_write_text(out / "report.md", render_markdown(ctx.options.title, sections))
        atomic_write_text(out / "report.html", render_html(ctx.options.title, sections))
    result.files += ["report.md", "report.html"]
    result.summary = summarize(ctx, sections)
    return result


def csv_text(frame: pd.DataFrame) -> str:
    """Return ``frame`` as CSV text, array cells written as space-separated numbers."""
    flat = frame.copy()
    for column in flat.columns:
        if flat[column].map(lambda v: isinstance(v, np.ndarray | list)).any():
            flat[column] = flat[column].map(
                lambda v: " ".join(map(str, v)) if isinstance(v, np.ndarray | list) else v)
    return str(flat.to_csv(index=False))


def summarize(ctx: Context, sections: list[Section]) -> dict[str, Any]:
    """Return a JSON-able summary: runs, experiments, unfinished steps, final accuracies, files."""
    results = ctx.results
    final: dict[str, float] = {}
    if not results.empty:
        last = results[results["episode"] == results.groupby(
            ["run", "experiment", "arm", "query"])["episode"].transform("max")]
        means = last.groupby(["run", "experiment", "arm", "query"])["test_accuracy"].mean()
        for (run, experiment, arm, query), value in means.items():
            key = "|".join(([run] if ctx.several_runs else []) + [experiment, arm, query])
            final[key] = round(float(value), 6)
    tables = {t.name: t.frame for s in sections for t in s.tables}
    experiments = tables.get("experiments", pd.DataFrame())
    unfinished = tables["steps"][tables["steps"]["status"] == "unfinished"]
    return {
        "runs": [str(v.run.root) for v in ctx.runs],
        "experiments": experiments.get("experiment", pd.Series(dtype=str)).tolist(),
        "analysed": sorted({f"{r}:{e}" if ctx.several_runs else str(e) for r, e in
                            zip(results["run"], results["experiment"], strict=True)}),
        "unfinished": [f"{r.kind}/{r.name}" for r in unfinished.itertuples()],
        "final_accuracy": final,
        "tables": sorted(tables),
        "figures": [f.name for s in sections for f in s.figures],
        "notes": list(ctx.notes),
        "oracle": bool(ctx.oracle_inputs),
        "oracle_inputs": sorted(set(ctx.oracle_inputs)),
    }
