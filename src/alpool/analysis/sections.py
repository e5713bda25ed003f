"""Report sections built from the loaded run directories: overview, results, curves."""

from __future__ import annotations

import pandas as pd

from alpool.analysis.context import Context
from alpool.analysis.curves import curves_figure
from alpool.analysis.figures import slug
from alpool.analysis.loading import step_status
from alpool.analysis.report import FigureItem, Section, TableItem, format_value
from alpool.analysis.tables import beats_random, curve_summary, final_table, trial_table
from alpool.rundir.manifests import STEP_KINDS

VERSUS_HIDDEN = ("init_strategy", "t_stat", "w_stat", "std_diff")  # in beats_random.csv, not shown


def display(frame: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Drop the ``run`` column when one run is analysed (it is the same on every row)."""
    return frame.drop(columns=["run"]) if not ctx.several_runs and "run" in frame else frame


def overview_section(ctx: Context) -> tuple[Section, pd.DataFrame]:
    """Describe what was run: datasets, seeds, versions, oracle steps, unfinished steps."""
    section = Section("What was run")
    steps = pd.concat([step_status(v.run, v.label) for v in ctx.runs], ignore_index=True)
    for view in ctx.runs:
        m = view.manifest
        d = m.dataset
        section.paragraphs.append(
            f"Run `{view.label}` ({view.run.root}): dataset `{d.spec}` ({d.n_train} train / "
            f"{d.n_test} test images of shape {tuple(d.image_shape)}, {d.n_classes} classes), "
            f"run seed {m.seed}, validation fraction {m.val_fraction}, created {m.created_at} "
            f"with alpool {m.alpool_version}.")
    finished = steps[steps["status"] == "finished"]
    versions = sorted(set(finished["alpool_version"].dropna()))
    torches = sorted(set(finished["torch"].dropna()))
    section.paragraphs.append(f"Steps were made with alpool {', '.join(versions) or '-'} and "
                              f"torch {', '.join(torches) or '-'}.")
    oracle = finished[finished["oracle"].eq(True)]
    if len(oracle):
        names = ", ".join(f"`{r.kind}/{r.name}`" for r in oracle.itertuples())
        section.paragraphs.append(f"**Oracle** steps (they used ground-truth labels): {names}.")
    unfinished = steps[steps["status"] == "unfinished"]
    if len(unfinished):
        names = ", ".join(f"`{_where(r.run, ctx)}{r.kind}/{r.name}`"
                          for r in unfinished.itertuples())
        section.paragraphs.append(f"**Note:** {len(unfinished)} unfinished step(s), listed but "
                                  f"not read: {names}.")
    else:
        section.paragraphs.append("Every step folder is finished.")
    section.tables.append(TableItem("steps", "Steps of the run directory", display(steps, ctx),
                                    shown=display(condensed_steps(steps, ctx.pools), ctx)))
    return section, steps


def condensed_steps(steps: pd.DataFrame, pools: pd.DataFrame) -> pd.DataFrame:
    """Return the steps table with each group of random bench pools folded into one row."""
    bench = pools[pools["is_bench"].astype(bool)][["run", "pool", "group"]]
    merged = steps.merge(bench, left_on=["run", "name"], right_on=["run", "pool"], how="left")
    single = merged[merged["group"].isna()].drop(columns=["pool", "group"])
    rows = []
    for (run, group), part in merged[merged["group"].notna()].groupby(["run", "group"]):
        seeds = pd.to_numeric(part["seed"], errors="coerce")
        rows.append({"run": run, "kind": "pools", "name": f"{group}-* ({len(part)} pools)",
                     "status": "finished", "oracle": bool(part["oracle"].eq(True).any()),
                     "alpool_version": ", ".join(sorted(set(part["alpool_version"].dropna()))),
                     "seed": f"{seeds.min():g}-{seeds.max():g}", "seconds": part["seconds"].sum(),
                     "finished_at": part["finished_at"].max(), "torch": part["torch"].iloc[0]})
    table = pd.concat([single, pd.DataFrame(rows)], ignore_index=True)
    order = {k: i for i, k in enumerate(STEP_KINDS)}
    table = table.sort_values(["run", "kind", "name"], key=lambda c: c.map(order)
                              if c.name == "kind" else c).reset_index(drop=True)
    return table.astype(object).where(table.notna(), "")


def _where(run_label: str, ctx: Context) -> str:
    return f"{run_label}:" if ctx.several_runs else ""


def experiments_table(ctx: Context, steps: pd.DataFrame) -> pd.DataFrame:
    """Return one row per experiment folder of every run: status, whether analysed, its grid."""
    chosen = {(v.label, s.name) for v, steps_ in zip(ctx.runs, ctx.experiments, strict=True)
              for s in steps_}
    rows = []
    for row in steps[steps["kind"] == "al"].itertuples():
        results = ctx.results
        mine = results[(results["run"] == row.run) & (results["experiment"] == row.name)]
        analysed = (row.run, row.name) in chosen
        reason = "yes" if analysed else ("no: unfinished" if row.status != "finished"
                                         else "no: not selected")
        rows.append({"run": row.run, "experiment": row.name, "status": row.status,
                     "analysed": reason, "pools": mine["pool"].nunique(),
                     "queries": ", ".join(sorted(mine["query"].unique())),
                     "frameworks": ", ".join(sorted(mine["framework"].unique())),
                     "validation": ", ".join(sorted(mine["validation"].astype(str).unique())),
                     "trials": mine["trial"].nunique(),
                     "episodes": mine["episode"].nunique(), "rows": len(mine)})
    return pd.DataFrame(rows, columns=["run", "experiment", "status", "analysed", "pools",
                                       "queries", "frameworks", "validation", "trials", "episodes", "rows"])


def experiments_section(ctx: Context, steps: pd.DataFrame) -> tuple[Section, pd.DataFrame]:
    """Name every experiment of the run directories and say which were analysed."""
    table = experiments_table(ctx, steps)
    section = Section("Experiments")
    if table.empty:
        section.paragraphs.append("**Note:** no AL experiment in the run directory; run "
                                  "`alpool al-run` to make one.")
    else:
        names = ", ".join(f"`{_where(r.run, ctx)}{r.experiment}` ({r.status})"
                          for r in table.itertuples())
        section.paragraphs.append(f"Experiments: {names}.")
    section.tables.append(TableItem("experiments", "AL experiments", display(table, ctx)))
    return section, table


def results_section(ctx: Context) -> tuple[Section, pd.DataFrame, pd.DataFrame]:
    """Return the learning-curve, final/ALC and beats-random tables and the curve figures."""
    section = Section("Active learning results")
    if ctx.results.empty:
        section.paragraphs.append("**Note:** no finished experiment to analyse.")
        return section, pd.DataFrame(), pd.DataFrame()
    section.paragraphs.append(
        "An *arm* is one initial pool (or a group of pools drawn alike) under one query. ALC is "
        "the test accuracy integrated over the number of labels (trapezoid rule) divided by the "
        "label range. Paired tests pair trial t of an arm with trial t of the random initial pool "
        "of the same size under the same query; p-values are NaN when fewer than 2 pairs exist.")
    trials = trial_table(ctx.results)
    summary = curve_summary(ctx.results, ctx.options.metrics)
    final = final_table(trials)
    versus = beats_random(trials)
    section.tables += [
        TableItem("final", "Final accuracy, macro AUC and ALC per arm (mean ± std over trials)",
                  display(final, ctx), shown=display(condensed_final(final), ctx)),
        TableItem("beats_random", "Each initial pool against the random pool (paired over trials)",
                  display(versus, ctx), shown=display(versus[[c for c in versus if c not in VERSUS_HIDDEN]], ctx)),
        TableItem("curves", "Learning curves (mean, std, count over trials)",
                  display(summary, ctx), detail=True),
        TableItem("trials", "Per-trial final accuracy and ALC", display(trials, ctx),
                  detail=True),
    ]
    if ctx.options.curves:
        section.figures += curve_figures(ctx, summary)
    return section, final, versus


def condensed_final(final: pd.DataFrame) -> pd.DataFrame:
    """Return the final table with each ``*_mean`` / ``*_std`` pair as one ``mean ± std`` column."""
    table = final.copy()
    for mean in [c for c in final if c.endswith("_mean")]:
        base, std = mean.removesuffix("_mean"), mean.replace("_mean", "_std")
        table[base] = [f"{format_value(m)} ± {format_value(v)}" if pd.notna(v) else format_value(m)
                       for m, v in zip(final[mean], final[std], strict=True)]
        table = table.drop(columns=[mean, std])
    order = [c for c in table if c != "oracle"] + ["oracle"]
    return table[order] if "oracle" in table else table


def curve_figures(ctx: Context, summary: pd.DataFrame) -> list[FigureItem]:
    """Return one learning-curve figure per experiment."""
    items = []
    for (run, experiment), part in summary.groupby(["run", "experiment"], sort=True):
        title = f"Learning curves of experiment {experiment}"
        title += f" (run {run})" if ctx.several_runs else ""
        fig = curves_figure(part, title, ctx.options.metrics)
        name = f"{ctx.prefix(str(run))}curves-{slug(str(experiment))}.png"
        items.append(FigureItem(name, f"{title}: mean ± std over trials", ctx.png(fig)))
    return items
