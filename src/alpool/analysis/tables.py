"""Tidy tables of AL results: learning curves, final accuracy and ALC, and "beats random" tests.

An *arm* is what one learning curve averages over: the trials of one pool (or of a group of pools
drawn alike, e.g. many random pools) under one query and framework in one experiment.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ARM_KEYS = ["run", "experiment", "arm", "init_strategy", "query", "framework"]
CURVE_METRICS = ("test_accuracy", "test_macro_auc")
RANDOM_INIT = "random"
NOISE_DECIMALS = 12  # metrics lie in [0, 1]; below 1e-12 a difference or spread is float noise


def denoise(value: float) -> float:
    """Round float noise away (``-3.7e-17`` -> ``0.0``): a mean difference or std of equal numbers."""
    return float(np.round(value, NOISE_DECIMALS)) + 0.0  # + 0.0 turns -0.0 into 0.0


def alc(n_labeled: np.ndarray, accuracy: np.ndarray) -> float:
    """Return the area under a learning curve normalised by its label range.

    The curve is sorted by ``n_labeled`` and integrated with the trapezoid rule; a curve with one
    point (or no label range) has the accuracy of its last point.

    Args:
        n_labeled: labels at each point ``[E]``.
        accuracy: accuracy at each point ``[E]``.

    Returns:
        The mean accuracy over the label range (same unit as ``accuracy``).
    """
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(accuracy, dtype=float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[-1])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def trial_table(results: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (arm, pool, trial): start/final labels, final metrics and ALC."""
    rows = []
    for key, group in results.groupby([*ARM_KEYS, "pool", "trial"], sort=True):
        group = group.sort_values("n_labeled")
        last = group.iloc[-1]
        rows.append({
            **dict(zip([*ARM_KEYS, "pool", "trial"], key, strict=True)),
            "n_start": int(group["n_labeled"].iloc[0]), "n_final": int(last["n_labeled"]),
            "n_episodes": len(group),
            "final_accuracy": float(last["test_accuracy"]),
            "final_macro_auc": float(last.get("test_macro_auc", np.nan)),
            "alc": alc(group["n_labeled"].to_numpy(), group["test_accuracy"].to_numpy()),
            "oracle": bool(group.get("oracle", pd.Series([False])).astype(bool).any()),
        })
    columns = [*ARM_KEYS, "pool", "trial", "n_start", "n_final", "n_episodes", "final_accuracy",
               "final_macro_auc", "alc", "oracle"]
    return pd.DataFrame(rows, columns=columns)


def curve_summary(results: pd.DataFrame, metrics: Sequence[str] = CURVE_METRICS) -> pd.DataFrame:
    """Return mean, std and count over trials per arm x ``n_labeled`` x metric (long format)."""
    present = [m for m in metrics if m in results and results[m].notna().any()]
    if results.empty or not present:
        return pd.DataFrame(columns=[*ARM_KEYS, "n_labeled", "metric", "mean", "std", "count"])
    long = results.melt(id_vars=[*ARM_KEYS, "n_labeled"], value_vars=present,
                        var_name="metric", value_name="value")
    summary = (long.groupby([*ARM_KEYS, "n_labeled", "metric"], sort=True)["value"]
               .agg(["mean", "std", "count"]).reset_index())
    summary["std"] = summary["std"].map(denoise)
    return summary


def final_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Return per arm: labels at start and end, final accuracy / macro AUC and ALC with std."""
    if trials.empty:
        return pd.DataFrame(columns=[*ARM_KEYS, "n_start", "n_final", "n_trials"])
    grouped = trials.groupby(ARM_KEYS, sort=True)
    table = grouped.agg(
        n_start=("n_start", "min"), n_final=("n_final", "max"), n_trials=("trial", "size"),
        final_accuracy_mean=("final_accuracy", "mean"),
        final_accuracy_std=("final_accuracy", "std"),
        final_macro_auc_mean=("final_macro_auc", "mean"),
        final_macro_auc_std=("final_macro_auc", "std"),
        alc_mean=("alc", "mean"), alc_std=("alc", "std"), oracle=("oracle", "any"),
    ).reset_index()
    for column in ("final_accuracy_std", "final_macro_auc_std", "alc_std"):
        table[column] = table[column].map(denoise)
    return table


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Compare paired samples ``a`` and ``b`` (``[n]`` each): mean difference and two tests.

    The paired t-test (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank test
    (``scipy.stats.wilcoxon``) both need ``n >= 2``; below that their p-values are NaN.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(diff)
    out = {"n_pairs": n, "mean_diff": denoise(diff.mean()) if n else np.nan,
           "std_diff": denoise(diff.std(ddof=1)) if n > 1 else np.nan,
           "t_stat": np.nan, "p_ttest": np.nan, "w_stat": np.nan, "p_wilcoxon": np.nan}
    if n < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = stats.ttest_rel(a, b)
        out.update(t_stat=float(t.statistic), p_ttest=float(t.pvalue))
        try:
            w = stats.wilcoxon(a, b)
            out.update(w_stat=float(w.statistic), p_wilcoxon=float(w.pvalue))
        except ValueError:
            pass
    return out


def beats_random(trials: pd.DataFrame, metrics: Sequence[str] = ("alc", "final_accuracy"),
                 alpha: float = 0.05) -> pd.DataFrame:
    """Compare every non-random initial pool with the random one under the same query.

    The reference is the arm(s) whose ``init_strategy`` is ``random`` in the same run, experiment,
    query and framework with the same starting label count. Trials are paired by trial index (the
    AL runner derives a trial's training seeds from its index, so trial t of both arms trains
    alike); several pools of one arm are averaged per trial first.

    Args:
        trials: :func:`trial_table` output.
        metrics: columns of ``trials`` to compare.
        alpha: significance level of the ``beats`` column.

    Returns:
        One row per (arm, metric) with ``n_pairs, mean_strategy, mean_random, mean_diff, std_diff,
        t_stat, p_ttest, w_stat, p_wilcoxon, beats`` (``beats``: mean_diff > 0 and p_ttest < alpha).
    """
    rows = []
    context = ["run", "experiment", "query", "framework", "n_start"]
    if trials.empty:
        return pd.DataFrame(columns=[*ARM_KEYS, "metric", "n_pairs", "beats"])
    for key, group in trials.groupby(context, sort=True):
        reference = group[group["init_strategy"] == RANDOM_INIT]
        for arm, arm_rows in group[group["init_strategy"] != RANDOM_INIT].groupby("arm", sort=True):
            for metric in metrics:
                rows.append(_compare(dict(zip(context, key, strict=True)), str(arm), arm_rows,
                                     reference, metric, alpha))
    columns = [*ARM_KEYS, "n_start", "metric", "reference", "n_pairs", "mean_strategy",
               "mean_random", "mean_diff", "std_diff", "t_stat", "p_ttest", "w_stat", "p_wilcoxon",
               "beats"]
    return pd.DataFrame(rows, columns=columns)


def _compare(context: dict[str, Any], arm: str, arm_rows: pd.DataFrame, reference: pd.DataFrame,
             metric: str, alpha: float) -> dict[str, Any]:
    mine = arm_rows.groupby("trial")[metric].mean()
    theirs = reference.groupby("trial")[metric].mean()
    common = mine.index.intersection(theirs.index)
    test = paired_test(mine[common].to_numpy(), theirs[common].to_numpy())
    beats = bool(test["mean_diff"] > 0 and test["p_ttest"] < alpha)
    return {
        **context, "arm": arm, "init_strategy": arm_rows["init_strategy"].iloc[0], "metric": metric,
        "reference": ", ".join(sorted(reference["arm"].unique())) or "none",
        "mean_strategy": float(mine[common].mean()) if len(common) else np.nan,
        "mean_random": float(theirs[common].mean()) if len(common) else np.nan,
        **test, "beats": beats,
    }
