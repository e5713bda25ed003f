"""``alpool analyze``: tables, figures and a report from finished steps of one or more runs."""

from __future__ import annotations

from pathlib import Path

from alpool.analysis import AnalyzeOptions
from alpool.analysis.analyze import build_sections, open_context, write_report
from alpool.core.config import AnalyzeConfig
from alpool.rundir.context import open_run
from alpool.rundir.manifests import StepManifest
from alpool.rundir.run_dir import RunDir


def run(config: AnalyzeConfig, run_dir: Path, data_dir: Path | None = None) -> StepManifest:
    """Analyse ``run_dir`` (plus ``config.runs``) and write ``<run_dir>/analysis/<name>/``.

    The analysis folder is replaced each time: it is derived from finished steps only. Every input
    is read, checked and every table and figure made in memory before the folder is touched, so a
    failed analysis leaves the previous report (and run.json) as they were.
    """
    ctx = open_run(run_dir, data_dir)
    runs = [ctx.run] + [RunDir(p) for p in config.runs]
    options = AnalyzeOptions.from_config(config, seed=ctx.seed)
    labels = ctx.dataset.train_y.numpy() if ctx.dataset.has_labels else None  # unlabeled: no histograms
    context = open_context(runs, options, labels=labels)
    sections = build_sections(context)
    with ctx.run.writing("analysis", config.name, config.model_dump(mode="json"), force=True) as w:
        result = write_report(context, sections, w.path)
        for name in result.files:
            w.add_output(name)
        return w.finish(result.summary, oracle=bool(result.summary.get("oracle", False)))
