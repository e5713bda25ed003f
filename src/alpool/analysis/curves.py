"""Learning curves: test accuracy (or macro AUC) against labels, mean +- std over trials."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alpool.analysis.figures import (
    LINESTYLES,
    MARKERS,
    color_cycle,
    metric_label,
    new_figure,
    note_empty,
)


def curve_labels(summary: pd.DataFrame) -> pd.Series:
    """Return a legend label per row: ``<init strategy> → <query>``, disambiguated when needed."""
    base = summary["init_strategy"].astype(str) + " → " + summary["query"].astype(str)
    arms = summary[["arm", "init_strategy", "query"]].drop_duplicates()
    clash = arms.groupby(["init_strategy", "query"])["arm"].transform("size") > 1
    clashing = set(arms.loc[clash, "arm"])
    label = base.where(~summary["arm"].isin(clashing), base + " [" + summary["arm"] + "]")
    if summary["framework"].nunique() > 1:
        label = label + " (" + summary["framework"] + ")"
    return label


def curve_data(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Select one metric of :func:`~alpool.analysis.tables.curve_summary` and add ``label``."""
    data = summary[summary["metric"] == metric].copy()
    data["label"] = curve_labels(data) if len(data) else pd.Series(dtype=str)
    return data.sort_values(["label", "n_labeled"])


def plot_learning_curves(ax: Axes, data: pd.DataFrame, metric: str, log_x: bool = False) -> Axes:
    """Draw one line per init strategy x query with a +- std band (colour = pool, style = query).

    Args:
        ax: the axes to draw on.
        data: :func:`curve_data` output (``label, arm, query, n_labeled, mean, std, count``).
        metric: the metric's column name, for the axis label.
        log_x: use a logarithmic label axis.

    Returns:
        ``ax``.
    """
    if data.empty:
        return note_empty(ax, f"no {metric_label(metric)} values")
    arms = sorted(data["arm"].unique())
    queries = sorted(data["query"].unique())
    colors = dict(zip(arms, color_cycle(len(arms)), strict=True))
    sizes = np.unique(data["n_labeled"].to_numpy(dtype=float))
    labels = sorted(data["label"].unique())
    for label, line in data.groupby("label", sort=True):
        arm, query = line["arm"].iloc[0], line["query"].iloc[0]
        q = queries.index(query)
        x = line["n_labeled"].to_numpy(dtype=float)
        if len(sizes) == 1:  # one label count (the cold bench): spread the arms so their bars do not overlap
            x = x + (labels.index(label) - (len(labels) - 1) / 2) * 0.08 * max(sizes[0], 1) / max(len(labels), 1)
        mean = line["mean"].to_numpy(dtype=float)
        std = np.nan_to_num(line["std"].to_numpy(dtype=float))
        ax.plot(x, mean, color=colors[arm], linestyle=LINESTYLES[q % len(LINESTYLES)],
                marker=MARKERS[q % len(MARKERS)], markersize=4, linewidth=1.6,
                label=f"{label} (n={int(line['count'].max())})")
        if len(x) > 1:
            ax.fill_between(x, mean - std, mean + std, color=colors[arm], alpha=0.15, linewidth=0)
        else:  # a single point (episode 0 only): the band becomes an error bar
            ax.errorbar(x, mean, yerr=std, color=colors[arm], capsize=3, linewidth=1.2)
    if log_x:
        ax.set_xscale("log")
    if len(sizes) == 1:
        ax.set_xticks(sizes, [f"{int(sizes[0])}"])
        ax.set_xlim(sizes[0] * 0.85, sizes[0] * 1.15)
    ax.set_xlabel("labeled images (count)")
    ax.set_ylabel(f"{metric_label(metric)} (mean ± std)")
    ax.grid(alpha=0.3)
    return ax


def curves_figure(summary: pd.DataFrame, title: str,
                  metrics: Sequence[str] = ("test_accuracy", "test_macro_auc")) -> Figure:
    """Return a figure with one learning-curve panel per metric and one shared legend below."""
    present = [m for m in metrics if (summary["metric"] == m).any()] or [metrics[0]]
    fig, axes = new_figure(len(present), ncols=len(present), panel=(6.0, 4.4))
    for ax, metric in zip(axes, present, strict=True):
        plot_learning_curves(ax, curve_data(summary, metric), metric)
        ax.set_title(metric_label(metric))
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        ncol = min(3, len(handles))
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8,
                   title="initial pool → query (n = trials × pools per point)", title_fontsize=8,
                   frameon=False)
    fig.suptitle(title, fontsize=12)
    return fig

