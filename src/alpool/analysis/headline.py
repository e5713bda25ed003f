"""The report's first answer: does each initial pool beat the random pool, per framework and query?

One row per (framework, query, initial pool): its final accuracy and ALC beside those of the random
pool of the same size under the same query, the difference, and a paired t-test over trials whose
``n`` (paired trials) is printed. Fewer than :data:`MIN_PAIRS` pairs get a note: a p-value from 2-4
pairs says little, and from 1 pair none.
"""

from __future__ import annotations

import pandas as pd

from alpool.analysis.context import Context
from alpool.analysis.report import Section, TableItem
from alpool.analysis.tables import beats_random, trial_table
from alpool.selectors.pool_checks import NARROW_ADVICE, narrow_pool

MIN_PAIRS = 5
METRICS = {"final_accuracy": "final acc", "alc": "ALC"}


def headline_table(trials: pd.DataFrame, several_runs: bool = False) -> pd.DataFrame:
    """Return the headline rows from :func:`~alpool.analysis.tables.trial_table` output.

    Returns:
        Columns ``[run,] experiment, framework, query, initial pool, n`` and per metric
        ``<metric>, random, diff, p`` (paired t-test), then ``note``. Empty without a non-random
        pool.
    """
    versus = beats_random(trials, metrics=list(METRICS))
    if versus.empty:
        return pd.DataFrame()
    keys = ["run", "experiment", "framework", "query", "arm", "n_start"]
    rows = []
    for key, group in versus.groupby(keys, sort=True):
        row = dict(zip(keys, key, strict=True))
        by_metric = group.set_index("metric")
        n = int(by_metric["n_pairs"].min())
        row["initial pool"] = f"{row.pop('arm')} ({row.pop('n_start')})"
        row["n"] = n
        for metric, label in METRICS.items():
            line = by_metric.loc[metric]
            row[label] = line["mean_strategy"]
            row[f"{label}: random"] = line["mean_random"]
            row[f"{label}: diff"] = line["mean_diff"]
            row[f"{label}: p"] = line["p_ttest"]
        row["note"] = _note(n, str(group["reference"].iloc[0]))
        rows.append(row)
    table = pd.DataFrame(rows)
    if not several_runs:
        table = table.drop(columns=["run"])
    return table


def _note(n: int, reference: str) -> str:
    if reference == "none":
        return "no random pool of this size under this query"
    if n == 0:
        return "no trial pairs with the random pool"
    if n < 2:
        return "n = 1: no test possible; run more --trials"
    if n < MIN_PAIRS:
        return f"n < {MIN_PAIRS}: weak test; run more --trials"
    return ""


def headline_section(ctx: Context) -> Section:
    """Return the report's first section: every initial pool against random."""
    section = Section("Do the initial pools beat random?")
    if ctx.results.empty:
        section.paragraphs.append("**Note:** no finished AL experiment yet; run `alpool al-run`.")
        return section
    table = headline_table(trial_table(ctx.results), ctx.several_runs)
    if table.empty:
        section.paragraphs.append("**Note:** every analysed pool is random: there is nothing to "
                                  "compare with random (make one with `alpool init-pool`).")
        return section
    section.paragraphs.append(
        "Each initial pool against the random pool of the same size, under the same query and "
        "framework: mean over trials of the final test accuracy and of the ALC (area under the "
        "learning curve), their difference (pool − random) and the two-sided paired t-test p over "
        "the n trials both arms ran (trial t of both arms trains with the same seeds).")
    weak = table[table["n"] < MIN_PAIRS]
    if len(weak):
        section.paragraphs.append(
            f"**Note:** {len(weak)} of {len(table)} comparisons rest on fewer than {MIN_PAIRS} "
            "paired trials, too few for a trustworthy p-value; run `alpool al-run` with more "
            "`--trials`.")
    narrow = narrow_note(ctx.pools, set(ctx.results["pool"]))
    if narrow:
        section.paragraphs.append(narrow)
    wins = table[(table["final acc: diff"] > 0) & (table["final acc: p"] < 0.05)]
    section.paragraphs.append(
        f"{len(wins)} of {len(table)} initial pools beat random in final accuracy at p < 0.05.")
    section.tables.append(TableItem("headline", "Initial pools against random (paired over trials)",
                                    table))
    return section


def narrow_note(pools: pd.DataFrame, used: set[str]) -> str:
    """Return a note naming the analysed pools that cover few classes (empty when none does)."""
    if pools.empty or "n_classes_covered" not in pools:
        return ""
    lines = []
    for row in pools[pools["pool"].isin(used)].itertuples():
        covered = None if pd.isna(row.n_classes_covered) else int(row.n_classes_covered)
        budget = int(row.budget) if not pd.isna(row.budget) else int(row.n_classes)
        why = narrow_pool(covered, int(row.n_classes), budget)
        if why:
            lines.append(f"{row.pool} {why}")
    if not lines:
        return ""
    return (f"**Note:** {len(lines)} initial pool(s) are narrow: {'; '.join(sorted(set(lines)))}. "
            f"{NARROW_ADVICE[0].upper()}{NARROW_ADVICE[1:]}; their accuracy says more about the pool than "
            "about the training settings.")
