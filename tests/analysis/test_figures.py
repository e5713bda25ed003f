"""Every figure function draws a real (non-empty, non-blank) PNG and plots return their axes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from fake_run_analysis import assert_png
from matplotlib.figure import Figure

from alpool.analysis.corr_plots import (
    multi_strategy_figure,
    plot_multi_strategy,
    plot_r_vs_ratio,
    plot_score_scatter,
    r_ratio_figure,
    scatter_figure,
    strategy_points,
)
from alpool.analysis.correlation import correlation_table
from alpool.analysis.curves import curve_data, curves_figure, plot_learning_curves
from alpool.analysis.embedding import embedding_figure, project, subsample
from alpool.analysis.figures import new_figure, png_bytes
from alpool.analysis.histograms import HistogramPanel, histogram_figures, plot_class_histogram
from alpool.analysis.tables import curve_summary

RNG = np.random.default_rng(0)


def _results() -> pd.DataFrame:
    rows = []
    for pool, strategy, base in (("rank", "ranked(vae)", 0.1), ("rnd", "random", 0.0)):
        for query in ("random", "entropy"):
            for trial in range(3):
                for episode, n in enumerate((10, 20, 40)):
                    rows.append({"run": "r", "experiment": "e", "arm": pool, "pool": pool,
                                 "init_strategy": strategy, "query": query,
                                 "framework": "supervised", "trial": trial, "episode": episode,
                                 "n_labeled": n, "test_accuracy": 0.4 + base + 0.05 * episode
                                 + RNG.normal(0, 0.02), "test_macro_auc": 0.7 + 0.03 * episode})
    return pd.DataFrame(rows)


def _bench() -> pd.DataFrame:
    rows = []
    for ratio, n in ((0.05, 10), (0.1, 20), (0.2, 40)):
        for i in range(10):
            score = RNG.uniform()
            rows.append({"run": "r", "pool": f"b{n}-{i}", "pool_id": f"b{n}-{i}",
                         "role": "random", "init_strategy": "random", "framework": "supervised",
                         "n_labeled": n, "ratio": ratio, "score:vae": score,
                         "class_coverage": 10 - (i % 4 == 0), "class_entropy": RNG.uniform(),
                         "missing_class": i % 4 == 0, "test_accuracy": 0.3 + 0.3 * score,
                         "test_macro_auc": 0.6 + 0.2 * score + RNG.normal(0, 0.03)})
    rows.append({**rows[12], "pool": "rank", "pool_id": "rank", "role": "strategy",
                 "init_strategy": "ranked(vae)", "missing_class": False, "test_accuracy": 0.7})
    return pd.DataFrame(rows)


def _scatter() -> Figure:
    bench = _bench()
    return scatter_figure(bench, correlation_table(bench), "score:vae", "test_accuracy")


def _coverage_scatter() -> Figure:
    bench = _bench()
    return scatter_figure(bench, correlation_table(bench), "class_coverage", "test_accuracy")


def _r_ratio() -> Figure:
    return r_ratio_figure(correlation_table(_bench()), ["test_accuracy", "test_macro_auc"])


def _multi() -> Figure:
    bench = _bench()
    results = _results().assign(pool="rank")
    return multi_strategy_figure(results, bench, ["test_accuracy", "test_macro_auc"])


def _curves() -> Figure:
    return curves_figure(curve_summary(_results()), "curves")


def _histogram() -> Figure:
    panel = HistogramPanel("pool", np.array([3.0, 0, 5, 2]), None, np.array([2.5, 2.5, 2.5, 2.5]),
                           np.array([1.0, 1, 1, 1]), "random pools", 2.5)
    return histogram_figures([panel, panel], ["cat", "dog", "ship", "truck"], "title")[0]


def _embedding() -> Figure:
    labels = np.repeat(np.arange(3), 40)
    emb = np.eye(3)[labels] * 5 + RNG.normal(0, 0.5, size=(120, 3))
    subset = subsample(120, np.array([0, 50, 100]), 90, np.random.default_rng(1))
    xy = project(emb[subset], "tsne", np.random.default_rng(2))
    return embedding_figure(xy, subset, {"kmeans": np.array([0, 50, 100])}, labels,
                            ["a", "b", "c"], "tsne", "simclr")


FIGURES: dict[str, Callable[[], Figure]] = {
    "curves": _curves, "scatter": _scatter, "coverage-scatter": _coverage_scatter,
    "r-vs-ratio": _r_ratio, "multi-strategy": _multi, "histogram": _histogram,
    "embedding": _embedding,
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_a_non_blank_png(name: str) -> None:
    assert_png(png_bytes(FIGURES[name]()))


def test_plot_functions_take_and_return_axes() -> None:
    fig, axes = new_figure(5, ncols=5)
    bench, results = _bench(), _results()
    corr = correlation_table(bench)
    panel = HistogramPanel("p", np.ones(3), None, None, None, "", 1.0)
    drawn = [
        plot_learning_curves(axes[0], curve_data(curve_summary(results), "test_accuracy"),
                             "test_accuracy"),
        plot_score_scatter(axes[1], bench[bench["ratio"] == 0.1], "score:vae", "test_accuracy"),
        plot_r_vs_ratio(axes[2], corr, "test_accuracy"),
        plot_multi_strategy(axes[3], bench, strategy_points(results, bench, "test_accuracy"),
                            "test_accuracy"),
        plot_class_histogram(axes[4], panel, ["a", "b", "c"]),
    ]
    assert drawn == axes
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)  # every axis is labelled


def test_empty_data_gives_a_labelled_panel_not_a_crash() -> None:
    fig, axes = new_figure(2)
    empty = curve_data(curve_summary(_results().iloc[:0]), "test_accuracy")
    plot_learning_curves(axes[0], empty, "test_accuracy")
    plot_r_vs_ratio(axes[1], correlation_table(_bench().iloc[:0]), "test_accuracy")
    assert "no" in axes[0].texts[0].get_text()
    assert_png(png_bytes(fig), min_kb=2)


def test_subsample_keeps_the_pool_and_respects_the_cap() -> None:
    keep = np.array([5, 7, 9])
    subset = subsample(1000, keep, 50, np.random.default_rng(0))
    assert len(subset) == 50 and set(keep) <= set(subset) and len(np.unique(subset)) == 50
    again = subsample(1000, keep, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(subset, again)  # explicit generator: reproducible
    assert len(subsample(1000, np.arange(100), 50, np.random.default_rng(0))) == 50
