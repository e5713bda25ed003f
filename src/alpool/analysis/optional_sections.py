"""The optional report sections: cold-bench correlation, class histograms, embedding maps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alpool.analysis.context import Context, RunView
from alpool.analysis.corr_plots import multi_strategy_figure, r_ratio_figure, scatter_figure
from alpool.analysis.correlation import (
    bench_table,
    correlation_table,
    feature_label,
    mean_pool_scores,
    score_features,
    select_bench,
)
from alpool.analysis.embedding import embedding_figure, project, subsample
from alpool.analysis.figures import metric_label, slug
from alpool.analysis.histograms import (
    histogram_figures,
    pool_panels,
    query_counts,
    query_panels,
)
from alpool.analysis.loading import find_episode_dirs
from alpool.analysis.report import FigureItem, Section, TableItem
from alpool.analysis.sections import display
from alpool.core.errors import ConfigError
from alpool.core.seeding import numpy_rng
from alpool.rundir.step_files import EMBEDDINGS, SCORES


def scorer_names(view: RunView, wanted: list[str]) -> list[str]:
    """Return the scorers to use in a run: ``wanted`` (each must be finished) or every finished one.

    Raises:
        MissingStepError: a wanted scorer has no finished ``scores/<name>`` step.
    """
    if not wanted:
        return [s.name for s in view.run.finished("scores")]
    for name in wanted:
        view.run.step("scores", name).manifest()
    return list(wanted)


def pool_scores(ctx: Context) -> pd.DataFrame:
    """Return ``run, pool, score:<scorer>...`` for every pool trained at episode 0."""
    frames = []
    first = ctx.results[ctx.results["episode"] == 0]
    for view in ctx.runs:
        names = scorer_names(view, ctx.options.scorers)
        pools = sorted(first.loc[first["run"] == view.label, "pool"].unique())
        pools = [p for p in pools if view.run.step("pools", p).is_finished()]
        if not names or not pools:
            continue
        indices = {p: view.pool_indices(p) for p in pools}
        scores = {s: view.run.step("scores", s).read_array(SCORES) for s in names}
        ctx.oracle_inputs += [f"{view.label}:scores/{s}" for s in names
                              if view.run.step("scores", s).manifest().oracle]
        frame = mean_pool_scores(indices, scores)
        frame.insert(0, "run", view.label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "pool"])


def corr_section(ctx: Context) -> tuple[Section, pd.DataFrame, pd.DataFrame]:
    """Return the cold-bench tables (pools, correlations) and figures."""
    section = Section("Cold bench: pool properties against performance")
    bench = bench_table(select_bench(ctx.pools, ctx.options.bench), ctx.results, pool_scores(ctx))
    if bench.empty or not (bench["role"] == "random").any():
        section.paragraphs.append(
            "**Note:** no random bench pools were trained (pools made by `alpool init-pool "
            "--strategy random --budget-ratio R --count M`, then `alpool al-run --episodes 0`); "
            "no correlation was computed.")
        return section, bench, pd.DataFrame()
    corr = correlation_table(bench, metrics=ctx.options.metrics)
    random = bench[bench["role"] == "random"]
    section.paragraphs.append(
        f"{len(random)} random pools in {random['ratio'].nunique()} label ratio(s), "
        f"{int(random['missing_class'].sum())} of them missing at least one class (kept, drawn "
        "hollow), and "
        f"{int((bench['role'] == 'strategy').sum())} strategy pool(s). Pool score = mean of its "
        "members' scores; class entropy is normalised to 0-1. Correlations use the random pools "
        "of each ratio only.")
    section.tables += [
        TableItem("correlation", "Pearson and Spearman correlations over random pools per ratio",
                  corr),
        TableItem("cold_bench_pools", "Every pool trained at episode 0 with its properties",
                  display(bench, ctx), detail=True),
    ]
    for feature in score_features(bench):
        for metric in ctx.options.metrics:
            if metric not in bench or bench[metric].isna().all():
                continue
            fig = scatter_figure(bench, corr, feature, metric)
            name = f"scatter-{slug(feature.replace(':', '-'))}-{slug(metric)}.png"
            caption = (f"{metric_label(metric)} against {feature_label(feature)} per label "
                       "ratio (random pools grey, strategy pools red, hollow = misses a class)")
            section.figures.append(FigureItem(name, caption, ctx.png(fig)))
    section.figures.append(FigureItem("corr-vs-ratio.png", "Correlation against label ratio",
                                      ctx.png(r_ratio_figure(corr, ctx.options.metrics))))
    fig = multi_strategy_figure(ctx.results, bench, ctx.options.metrics)
    section.figures.append(FigureItem("multi-strategy.png", "Initial pools: performance against "
                                      "labels (random pools as dots, strategies mean ± std)",
                                      ctx.png(fig)))
    return section, bench, corr


def hist_section(ctx: Context) -> Section:
    """Return class histograms of every pool and of every episode's queries."""
    section = Section("Class histograms")
    for view in ctx.runs:
        pools = ctx.pools[ctx.pools["run"] == view.label]
        panels = pool_panels(pools, view.labels)
        title = "Class counts of the initial pools" + (f" (run {view.label})"
                                                       if ctx.several_runs else "")
        for i, fig in enumerate(histogram_figures(panels, view.class_names, title)):
            name = f"{ctx.prefix(view.label)}hist-pools{'-' + str(i + 1) if i else ''}.png"
            section.figures.append(FigureItem(name, title, ctx.png(fig)))
        if view.labels is None:
            section.paragraphs.append("**Note:** query histograms need the train labels, which "
                                      f"were not given for run `{view.label}`.")
            continue
        section.figures += _query_figures(ctx, view, section)
    if not section.figures:
        section.paragraphs.append("**Note:** no pool or query to draw.")
    return section


def _query_figures(ctx: Context, view: RunView, section: Section) -> list[FigureItem]:
    """Return one figure per experiment with a panel per (pool, query) arm; add the counts table."""
    items: list[FigureItem] = []
    if view.labels is None:
        return items
    bench = set(ctx.pools.loc[(ctx.pools["run"] == view.label) & ctx.pools["is_bench"], "pool"])
    steps = ctx.experiments[ctx.runs.index(view)]
    tables = []
    for step in steps:
        episodes = [e for e in find_episode_dirs(step, view.label, ctx.results)
                    if e.pool not in bench]
        counts = query_counts(episodes, view.labels, view.n_classes)
        tables.append(counts)
        panels = query_panels(counts, view.labels, view.n_classes)
        title = f"Class counts of every queried image: {step.name} (summed over episodes)"
        for i, fig in enumerate(histogram_figures(panels, view.class_names, title)):
            name = f"{ctx.prefix(view.label)}hist-queries-{slug(step.name)}{'-' + str(i + 1) if i else ''}.png"
            items.append(FigureItem(name, title, ctx.png(fig)))
    frames = [t for t in tables if not t.empty]
    if frames:
        name = f"{ctx.prefix(view.label)}query_counts"
        section.tables.append(TableItem(name, "Class counts of each episode's queries",
                                        display(pd.concat(frames, ignore_index=True), ctx), detail=True))
    return items


def embeddings_task(view: RunView, wanted: str | None) -> str:
    """Return the pretrain task whose embeddings are mapped.

    Raises:
        MissingStepError: ``wanted`` is not a finished pretrain step.
        ConfigError: no task was named and the run has none or several finished ones.
    """
    if wanted:
        view.run.step("pretrain", wanted).manifest()
        return wanted
    tasks = [s.name for s in view.run.finished("pretrain")]
    if len(tasks) != 1:
        have = ", ".join(tasks) or "none"
        raise ConfigError(f"the embedding map needs one pretrain task, run {view.label} has "
                          f"{len(tasks)} ({have}); pass --embeddings TASK or run `alpool "
                          "pretrain` first")
    return tasks[0]


def scatter_section(ctx: Context) -> Section:
    """Return one embedding map per run, each pool drawn on top in its own panel."""
    section = Section("Embedding maps")
    for view in ctx.runs:
        task = embeddings_task(view, ctx.options.embeddings)
        emb = view.run.step("pretrain", task).read_array(EMBEDDINGS)  # [N, D]
        pools = _map_pools(ctx, view)
        if not pools:
            section.paragraphs.append(f"**Note:** run `{view.label}` has no finished pool to map.")
            continue
        rng = numpy_rng(ctx.options.seed, "analysis", "embedding", view.label)
        keep = np.concatenate(list(pools.values()))
        subset = subsample(len(emb), keep, ctx.options.max_points, rng)
        xy = project(emb[subset], ctx.options.projection, rng)
        if view.labels is None:
            section.paragraphs.append(f"**Note:** the map of run `{view.label}` is grey: the "
                                      "train labels were not given.")
        fig = embedding_figure(xy, subset, pools, view.labels, view.class_names,
                               ctx.options.projection, task)
        name = f"{ctx.prefix(view.label)}embedding-{slug(task)}.png"
        section.figures.append(FigureItem(name, f"Embedding map of {task} ({len(subset)} images)",
                                          ctx.png(fig)))
    return section


def _map_pools(ctx: Context, view: RunView) -> dict[str, np.ndarray]:
    """Return panel title -> indices: every strategy pool, one pool per random-pool group."""
    pools = ctx.pools[ctx.pools["run"] == view.label]
    bench = pools["is_bench"].astype(bool)
    shown = pd.concat([pools[~bench], pools[bench].drop_duplicates("group")])
    return {f"{r.pool}: {r.init_strategy}": view.pool_indices(r.pool) for r in shown.itertuples()}
