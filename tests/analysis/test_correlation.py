"""Cold-bench correlation: values equal scipy's, pools missing a class flagged, pool scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alpool.analysis.correlation import (
    bench_table,
    correlate,
    correlation_table,
    mean_pool_scores,
)
from alpool.analysis.loading import class_entropy


def _bench_csv(path: Path) -> Path:
    """Write a bench table by hand: 2 ratios x 8 random pools, one strategy pool, scores known."""
    rng = np.random.default_rng(3)
    rows = []
    for ratio, n in ((0.1, 20), (0.2, 40)):
        for i in range(8):
            score = rng.uniform()
            rows.append({"run": "r", "pool": f"rand-{ratio}-{i}", "pool_id": f"rand-{ratio}-{i}",
                         "role": "random", "init_strategy": "random", "framework": "supervised",
                         "n_labeled": n, "ratio": ratio, "score:vae": score,
                         "class_coverage": 10 - (i % 3 == 0), "class_entropy": rng.uniform(),
                         "missing_class": i % 3 == 0,
                         "test_accuracy": 0.3 + 0.4 * score + rng.normal(0, 0.05),
                         "test_macro_auc": 0.7 + rng.normal(0, 0.05)})
    rows.append({**rows[0], "pool": "ranked", "pool_id": "ranked", "role": "strategy",
                 "init_strategy": "ranked(vae)", "test_accuracy": 0.99, "score:vae": 5.0})
    path.write_text(pd.DataFrame(rows).to_csv(index=False))
    return path


def test_correlation_equals_scipy_on_a_written_table(tmp_path: Path) -> None:
    bench = pd.read_csv(_bench_csv(tmp_path / "bench.csv"))
    table = correlation_table(bench)
    assert set(table["feature"]) == {"score:vae", "class_coverage", "class_entropy"}
    for ratio in (0.1, 0.2):
        random = bench[(bench["ratio"] == ratio) & (bench["role"] == "random")]
        for feature in ("score:vae", "class_entropy", "class_coverage"):
            row = table[(table["ratio"] == ratio) & (table["feature"] == feature)
                        & (table["metric"] == "test_accuracy")].iloc[0]
            pearson = stats.pearsonr(random[feature], random["test_accuracy"])
            spearman = stats.spearmanr(random[feature], random["test_accuracy"])
            assert row["pearson_r"] == pytest.approx(pearson.statistic)
            assert row["pearson_p"] == pytest.approx(pearson.pvalue)
            assert row["spearman_rho"] == pytest.approx(spearman.statistic)
            assert row["spearman_p"] == pytest.approx(spearman.pvalue)
            assert row["n_pools"] == 8  # the strategy pool is not part of the correlation
            assert row["n_missing_class"] == 3  # flagged and counted, not dropped


def test_correlate_is_nan_for_constant_or_tiny_inputs() -> None:
    assert np.isnan(correlate(np.ones(5), np.arange(5.0))["pearson_r"])
    assert np.isnan(correlate(np.arange(2.0), np.arange(2.0))["spearman_p"])
    out = correlate(np.array([1.0, 2.0, np.nan, 4.0, 5.0]), np.array([2.0, 4.0, 1.0, 8.0, 9.0]))
    assert out["n"] == 4  # the NaN pair is left out
    assert out["pearson_r"] == pytest.approx(stats.pearsonr([1, 2, 4, 5], [2, 4, 8, 9]).statistic)


def test_mean_pool_scores_ignores_nan_scores() -> None:
    scores = {"s": np.array([1.0, 2.0, np.nan, 4.0])}
    table = mean_pool_scores({"a": np.array([0, 1, 2]), "b": np.array([3])}, scores)
    assert table.set_index("pool")["score:s"].to_dict() == {"a": 1.5, "b": 4.0}


def test_class_entropy_known_values() -> None:
    assert class_entropy(np.array([5, 5, 5, 5])) == pytest.approx(1.0)
    assert class_entropy(np.array([9, 0, 0])) == pytest.approx(0.0)
    assert class_entropy(np.array([1, 1, 0, 0])) == pytest.approx(0.5)


def test_bench_table_flags_missing_classes_and_matches_strategy_ratios() -> None:
    pools = pd.DataFrame([
        {"run": "r", "pool": "rand-0", "ratio": 0.5, "n_classes_covered": 2, "class_entropy": 1.0,
         "missing_class": False, "is_bench": True, "oracle": False},
        {"run": "r", "pool": "rand-1", "ratio": 0.5, "n_classes_covered": 1, "class_entropy": 0.0,
         "missing_class": True, "is_bench": True, "oracle": False},
        {"run": "r", "pool": "ranked", "ratio": None, "n_classes_covered": 2,
         "class_entropy": 0.9, "missing_class": False, "is_bench": False, "oracle": False},
    ])
    results = pd.DataFrame([
        {"run": "r", "pool": p, "init_strategy": s, "framework": "supervised", "trial": t,
         "episode": e, "n_labeled": 4 + 2 * e, "test_accuracy": acc + e, "test_macro_auc": 0.5}
        for p, s, acc in (("rand-0", "random", 0.6), ("rand-1", "random", 0.4),
                          ("ranked", "ranked", 0.7)) for t in range(2) for e in range(2)])
    scores = pd.DataFrame({"run": "r", "pool": ["rand-0", "rand-1", "ranked"],
                           "score:s": [0.1, 0.2, 0.3]})
    bench = bench_table(pools, results, scores).set_index("pool")
    assert len(bench) == 3  # the pool missing a class is kept
    assert bool(bench.loc["rand-1", "missing_class"])
    assert not bool(bench.loc["rand-0", "missing_class"])
    assert bench.loc["ranked", "role"] == "strategy" and bench.loc["ranked", "ratio"] == 0.5
    assert bench.loc["ranked", "test_accuracy"] == pytest.approx(0.7)  # episode 0 only
    assert bench.loc["ranked", "n_trials"] == 2
    assert bench.loc["rand-1", "score:s"] == pytest.approx(0.2)
