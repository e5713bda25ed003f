"""Cold bench: correlate properties of many random pools with the accuracy they yield [CS].

A *bench pool* is a random pool drawn as one of many per label ratio (its manifest summary has
``strategy: random``, ``group`` and ``ratio``); every other pool is a *strategy pool*. Each pool is
trained once (episode 0). Its properties: the mean of its members' scores for each scorer, the
number of classes it covers and the normalised entropy of its class histogram. Pools that miss a
class are kept and flagged (``missing_class``), never dropped. Pools of several run directories are
pooled (they are independent draws); ``pool_id`` then names the run.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from alpool.core.errors import ConfigError

SCORE_PREFIX = "score:"
CLASS_FEATURES = ("class_coverage", "class_entropy")
BENCH_METRICS = ("test_accuracy", "test_macro_auc")


def feature_label(feature: str) -> str:
    """Return an axis label of a bench feature column."""
    if feature.startswith(SCORE_PREFIX):
        return f"pool mean of {feature.removeprefix(SCORE_PREFIX)} score"
    return {"class_coverage": "classes covered (count)",
            "class_entropy": "class entropy (normalised, 0–1)"}.get(feature, feature)


def mean_pool_scores(indices: Mapping[str, np.ndarray],
                     scores: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Return the mean score of each pool's members for each scorer (NaN scores ignored).

    Args:
        indices: pool name -> dataset indices ``[B]`` int64.
        scores: scorer name -> per-image scores ``[N]`` float.

    Returns:
        One row per pool: ``pool`` and one ``score:<scorer>`` column per scorer.
    """
    rows = []
    for pool, idx in indices.items():
        row: dict[str, object] = {"pool": pool}
        for scorer, values in scores.items():
            member = np.asarray(values, dtype=float)[idx]  # [B]
            finite = member[np.isfinite(member)]
            row[SCORE_PREFIX + scorer] = float(finite.mean()) if len(finite) else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["pool", *(SCORE_PREFIX + s for s in scores)])


def select_bench(pools: pd.DataFrame, patterns: Sequence[str]) -> pd.DataFrame:
    """Mark as bench pools exactly those whose name matches one of ``patterns`` (``analyze --bench``).

    Without patterns every random pool drawn with ``--count`` is a bench pool (the default rule),
    which also folds in another experiment's random baseline; with patterns (names or globs such as
    ``bench20-*``) only the matching pools are, and every other pool is a strategy pool.

    Raises:
        ConfigError: a pattern matches no finished pool.
    """
    if not patterns:
        return pools
    names = pools["pool"].astype(str)
    for pattern in patterns:
        if not names.map(lambda n, p=pattern: fnmatch.fnmatchcase(n, p)).any():
            raise ConfigError(f"--bench {pattern!r} matches no finished pool (have: {', '.join(sorted(set(names)))}); "
                              "give a pool name or a quoted glob such as 'bench20-*'")
    chosen = names.map(lambda n: any(fnmatch.fnmatchcase(n, p) for p in patterns))
    return pools.assign(is_bench=chosen)


def bench_table(pools: pd.DataFrame, results: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (pool, framework) trained at episode 0, with its properties and metrics.

    Args:
        pools: :func:`~alpool.analysis.loading.load_pools` rows of every run.
        results: tidy AL results of every run.
        scores: ``run, pool, score:<scorer>...`` rows (:func:`mean_pool_scores` plus ``run``).

    Returns:
        Columns ``run, pool, pool_id, role (random | strategy), init_strategy, framework,
        n_labeled, ratio, n_trials, test_accuracy, test_macro_auc, class_coverage, class_entropy,
        missing_class, oracle`` and the score columns.
    """
    first = results[results["episode"] == 0]
    if first.empty:
        return pd.DataFrame(columns=["run", "pool", "pool_id", "role", "n_labeled", "ratio"])
    perf = first.groupby(["run", "pool", "framework"], sort=True).agg(
        init_strategy=("init_strategy", "first"), n_labeled=("n_labeled", "first"),
        n_trials=("trial", "size"), test_accuracy=("test_accuracy", "mean"),
        test_macro_auc=("test_macro_auc", "mean")).reset_index()
    info = pools[["run", "pool", "ratio", "n_classes_covered", "class_entropy", "missing_class",
                  "is_bench", "oracle"]].rename(columns={"n_classes_covered": "class_coverage"})
    table = perf.merge(info, on=["run", "pool"], how="left")
    table["role"] = np.where(table["is_bench"].eq(True), "random", "strategy")
    table["ratio"] = _ratios(table)
    table["missing_class"] = table["missing_class"].eq(True)
    if not scores.empty:
        table = table.merge(scores, on=["run", "pool"], how="left")
    several = table["run"].nunique() > 1
    table.insert(2, "pool_id", table["run"] + ":" + table["pool"] if several else table["pool"])
    return table.drop(columns=["is_bench"])


def _ratios(table: pd.DataFrame) -> pd.Series:
    """Give strategy pools the ratio of the random pools with the same label count."""
    random = table[table["role"] == "random"].dropna(subset=["ratio"])
    by_size = random.groupby("n_labeled")["ratio"].first()
    matched = table["n_labeled"].map(by_size)
    return matched.where(matched.notna(), pd.to_numeric(table["ratio"], errors="coerce"))


def score_features(bench: pd.DataFrame) -> list[str]:
    """Return the feature columns of a bench table: scores, then class coverage and entropy."""
    return [c for c in bench.columns if c.startswith(SCORE_PREFIX)] + list(CLASS_FEATURES)


def correlate(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Return Pearson r and Spearman rho with p-values over the finite pairs of ``x`` and ``y``.

    Values are NaN with fewer than 3 pairs or a constant input (correlation undefined).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"n": int(keep.sum()), "pearson_r": np.nan, "pearson_p": np.nan,
           "spearman_rho": np.nan, "spearman_p": np.nan}
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pearson = stats.pearsonr(x, y)
        spearman = stats.spearmanr(x, y)
    out.update(pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue),
               spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue))
    return out


def correlation_table(bench: pd.DataFrame, features: Sequence[str] | None = None,
                      metrics: Sequence[str] = BENCH_METRICS) -> pd.DataFrame:
    """Correlate every feature with every metric over the random pools of each ratio.

    Args:
        bench: :func:`bench_table` output.
        features: feature columns (default: :func:`score_features`).
        metrics: performance columns.

    Returns:
        One row per (framework, ratio, feature, metric): ``n_labeled, n_pools, n_missing_class,
        pearson_r, pearson_p, spearman_rho, spearman_p``.
    """
    features = list(features) if features is not None else score_features(bench)
    random = bench[bench["role"] == "random"] if "role" in bench else bench.iloc[:0]
    rows = []
    for (framework, ratio), group in random.groupby(["framework", "ratio"], sort=True):
        for feature in features:
            for metric in metrics:
                if feature not in group or metric not in group:
                    continue
                result = correlate(group[feature].to_numpy(), group[metric].to_numpy())
                rows.append({"framework": framework, "ratio": ratio,
                             "n_labeled": int(group["n_labeled"].median()), "feature": feature,
                             "metric": metric, "n_pools": len(group),
                             "n_missing_class": int(group["missing_class"].sum()), **result})
    columns = ["framework", "ratio", "n_labeled", "feature", "metric", "n_pools",
               "n_missing_class", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"]
    return pd.DataFrame(rows, columns=columns)


def regression_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Return the least-squares ``(slope, intercept)`` over finite pairs, or None if undefined."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2 or np.ptp(x[keep]) == 0:
        return None
    slope, intercept = np.polyfit(x[keep], y[keep], 1)
    return float(slope), float(intercept)
