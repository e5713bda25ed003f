"""Known answers of the results tables: ALC, curve summary, final table, beats-random tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alpool.analysis.tables import beats_random, curve_summary, final_table, paired_test, trial_table
from alpool.ops.curves import alc


def test_alc_of_a_hand_made_curve() -> None:
    # (10, .5) -> (20, .7) -> (40, .9): areas 10 * .6 + 20 * .8 = 22 over a range of 30
    assert alc(np.array([10, 20, 40]), np.array([0.5, 0.7, 0.9])) == pytest.approx(22 / 30)


def test_alc_sorts_points_and_handles_one_point() -> None:
    assert alc(np.array([40, 10, 20]), np.array([0.9, 0.5, 0.7])) == pytest.approx(22 / 30)
    assert alc(np.array([10]), np.array([0.42])) == pytest.approx(0.42)
    assert alc(np.array([10, 20]), np.array([0.6, 0.6])) == pytest.approx(0.6)


def _results(values: dict[tuple[str, str], list[list[float]]], sizes: list[int]) -> pd.DataFrame:
    """Rows for arms {(pool, init_strategy): [[acc per episode] per trial]}."""
    rows = []
    for (pool, strategy), trials in values.items():
        for trial, curve in enumerate(trials):
            for episode, (n, acc) in enumerate(zip(sizes, curve, strict=True)):
                rows.append({"run": "r", "experiment": "e", "arm": pool, "pool": pool,
                             "init_strategy": strategy, "query": "entropy",
                             "framework": "supervised", "trial": trial, "episode": episode,
                             "n_labeled": n, "test_accuracy": acc, "test_macro_auc": acc + 0.1,
                             "oracle": False})
    return pd.DataFrame(rows)


def test_curve_summary_mean_std_count() -> None:
    results = _results({("p", "ranked"): [[0.5, 0.7], [0.7, 0.9]]}, [10, 20])
    summary = curve_summary(results)
    acc = summary[summary["metric"] == "test_accuracy"].set_index("n_labeled")
    assert acc.loc[10, "mean"] == pytest.approx(0.6)
    assert acc.loc[20, "std"] == pytest.approx(np.std([0.7, 0.9], ddof=1))
    assert list(acc["count"]) == [2, 2]
    assert set(summary["metric"]) == {"test_accuracy", "test_macro_auc"}


def test_final_table_reports_alc_and_final_accuracy_with_std() -> None:
    results = _results({("p", "ranked"): [[0.5, 0.7], [0.7, 0.9]]}, [10, 20])
    final = final_table(trial_table(results)).iloc[0]
    assert final["final_accuracy_mean"] == pytest.approx(0.8)
    assert final["alc_mean"] == pytest.approx(np.mean([0.6, 0.8]))
    assert final["alc_std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert (final["n_start"], final["n_final"], final["n_trials"]) == (10, 20, 2)


def test_beats_random_on_hand_made_numbers() -> None:
    strategy = [[0.6], [0.7], [0.8], [0.75]]
    random = [[0.5], [0.55], [0.7], [0.72]]
    results = _results({("s", "ranked"): strategy, ("r", "random"): random}, [10])
    table = beats_random(trial_table(results), metrics=["final_accuracy"])
    assert len(table) == 1
    row = table.iloc[0]
    a, b = np.ravel(strategy), np.ravel(random)
    assert row["n_pairs"] == 4
    assert row["reference"] == "r"
    assert row["mean_diff"] == pytest.approx(np.mean(a - b))
    assert row["p_ttest"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert row["p_ttest"] < 0.05 and bool(row["beats"])


def test_beats_random_pairs_by_trial_and_needs_the_same_start_size() -> None:
    results = _results({("s", "ranked"): [[0.9], [0.1]], ("r", "random"): [[0.8], [0.2]]}, [10])
    other = _results({("big", "random"): [[0.99], [0.99]]}, [50])
    table = beats_random(trial_table(pd.concat([results, other])), metrics=["alc"])
    row = table.iloc[0]
    assert row["reference"] == "r"  # the random pool of 50 labels is not a reference for 10
    assert row["mean_diff"] == pytest.approx(0.0)  # (0.9 - 0.8) + (0.1 - 0.2), paired by trial


def test_beats_random_reports_nan_p_values_below_two_pairs_and_without_random() -> None:
    one = _results({("s", "ranked"): [[0.6]], ("r", "random"): [[0.5]]}, [10])
    row = beats_random(trial_table(one), metrics=["alc"]).iloc[0]
    assert row["n_pairs"] == 1 and row["mean_diff"] == pytest.approx(0.1)
    assert np.isnan(row["p_ttest"]) and np.isnan(row["p_wilcoxon"])
    alone = _results({("s", "ranked"): [[0.6], [0.7]]}, [10])
    row = beats_random(trial_table(alone), metrics=["alc"]).iloc[0]
    assert row["n_pairs"] == 0 and row["reference"] == "none" and np.isnan(row["p_ttest"])


def test_paired_test_of_identical_samples_has_no_difference() -> None:
    out = paired_test(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3]))
    assert out["mean_diff"] == 0 and out["n_pairs"] == 3
    assert np.isnan(out["p_ttest"])  # undefined t statistic, not a crash
