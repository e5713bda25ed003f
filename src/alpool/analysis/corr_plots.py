"""Cold-bench figures: score-vs-accuracy scatters, r against ratio, performance against labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator

from alpool.analysis.correlation import feature_label, regression_line
from alpool.analysis.figures import (
    MARKERS,
    RANDOM_GREY,
    STRATEGY_RED,
    color_cycle,
    metric_label,
    new_figure,
    note_empty,
    short,
)

ALPHA = 0.05
STRATEGY_MARKERS = ("D", "s", "^", "v", "P", "X", "*", "p")


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "nan"
    if p == 0:
        return "< 1e-15"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.2g}"


def _jittered(values: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    return values + rng.uniform(-jitter, jitter, size=len(values)) if jitter else values


def plot_score_scatter(ax: Axes, data: pd.DataFrame, feature: str, metric: str,
                       stats_row: dict[str, float] | None = None, jitter: float = 0.0,
                       rng: np.random.Generator | None = None) -> Axes:
    """Scatter pool feature against performance: random pools grey, strategy pools red.

    Pools that miss a class are hollow. The least-squares line is fitted on the random pools; its
    legend entry gives Pearson r and Spearman rho with p-values (``stats_row``).

    Args:
        ax: the axes to draw on.
        data: bench rows of one ratio (``role, missing_class, init_strategy``, feature, metric).
        feature: x column.
        metric: y column.
        stats_row: :func:`~alpool.analysis.correlation.correlate` output for these random pools.
        jitter: horizontal jitter half-width for integer features (drawing only).
        rng: generator of the jitter.

    Returns:
        ``ax``.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    random = data[data["role"] == "random"]
    if data[feature].notna().sum() == 0:
        return note_empty(ax, f"no values of {feature_label(feature)}")
    for missing, part in random.groupby("missing_class"):
        x = _jittered(part[feature].to_numpy(dtype=float), jitter, rng)
        ax.scatter(x, part[metric], s=22, facecolors="none" if missing else RANDOM_GREY,
                   edgecolors=RANDOM_GREY, linewidths=0.9, alpha=0.85, zorder=2)
    line = regression_line(random[feature].to_numpy(), random[metric].to_numpy())
    if line is not None:
        xs = np.linspace(random[feature].min(), random[feature].max(), 50)
        ax.plot(xs, line[0] * xs + line[1], color="0.2", linewidth=1.4, zorder=3)
    handles = _scatter_handles(random, stats_row)
    handles += _draw_strategies(ax, data[data["role"] == "strategy"], feature, metric)
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17),
              frameon=False, ncol=2 if len(handles) > 3 else 1)  # below: never over the points
    ax.set_xlabel(feature_label(feature))
    ax.set_ylabel(metric_label(metric))
    if feature == "class_coverage":  # integer counts: whole-number ticks, room for the jitter
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(float(data[feature].min()) - 0.5, float(data[feature].max()) + 0.5)
    ax.grid(alpha=0.3)
    return ax


def _draw_strategies(ax: Axes, strategy: pd.DataFrame, feature: str, metric: str) -> list[Line2D]:
    """Draw each strategy's pools as red markers of one shape per strategy; one legend entry each."""
    handles = []
    for i, (name, part) in enumerate(strategy.groupby("init_strategy", sort=True)):
        marker = STRATEGY_MARKERS[i % len(STRATEGY_MARKERS)]
        for hollow, points in part.groupby(part["missing_class"].astype(bool)):
            ax.scatter(points[feature], points[metric], s=60, marker=marker, zorder=4, linewidths=1.2,
                       facecolors="none" if hollow else STRATEGY_RED, edgecolors=STRATEGY_RED)
        count = f" ({len(part)} pools)" if len(part) > 1 else ""
        handles.append(Line2D([], [], marker=marker, linestyle="", color=STRATEGY_RED,
                              label="strategy: " + short(str(name), 26) + count))
    return handles


def _scatter_handles(random: pd.DataFrame, stats_row: dict[str, float] | None) -> list[Line2D]:
    n_missing = int(random["missing_class"].sum())
    handles = [Line2D([], [], marker="o", linestyle="", color=RANDOM_GREY,
                      label=f"random pools (n={len(random)}; {n_missing} hollow miss a class)")]
    if stats_row is not None and not np.isfinite(stats_row["pearson_r"]):
        handles.append(Line2D([], [], color="none", label="r, ρ undefined (constant values "
                              f"or n < 3; n = {int(stats_row['n'])})"))
    elif stats_row is not None:
        text = (f"fit: Pearson r = {stats_row['pearson_r']:.2f} "
                f"(p {_p_text(stats_row['pearson_p'])})"
                f"\n      Spearman ρ = {stats_row['spearman_rho']:.2f} "
                f"(p {_p_text(stats_row['spearman_p'])})")
        handles.append(Line2D([], [], color="0.2", linewidth=1.4, label=text))
    return handles


def _p_text(p: float) -> str:
    text = _fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def scatter_figure(bench: pd.DataFrame, corr: pd.DataFrame, feature: str, metric: str) -> Figure:
    """Return one scatter panel per (framework, ratio) for ``feature`` against ``metric``."""
    groups = [(key, g) for key, g in bench.groupby(["framework", "ratio"], sort=True)]
    fig, axes = new_figure(len(groups), ncols=2 if len(groups) == 4 else 3, panel=(5.2, 5.0))
    jitter = 0.12 if feature == "class_coverage" else 0.0
    rng = np.random.default_rng(0)
    frameworks = bench["framework"].nunique()
    for ax, ((framework, ratio), group) in zip(axes, groups, strict=False):
        match = corr[(corr["framework"] == framework) & (corr["ratio"] == ratio)
                     & (corr["feature"] == feature) & (corr["metric"] == metric)]
        stats_row = match.iloc[0].to_dict() if len(match) else None
        plot_score_scatter(ax, group, feature, metric, stats_row, jitter, rng)
        extra = f", {framework}" if frameworks > 1 else ""
        ax.set_title(f"ratio {ratio:.3g} ({int(group['n_labeled'].median())} labels{extra})",
                     fontsize=10)
    if not groups:
        note_empty(axes[0], "no pools trained at episode 0")
    fig.suptitle(f"{metric_label(metric)} against {feature_label(feature)}", fontsize=12)
    return fig


def plot_r_vs_ratio(ax: Axes, corr: pd.DataFrame, metric: str, stat: str = "pearson") -> Axes:
    """Draw the correlation of each feature with ``metric`` against the label ratio.

    Filled markers are significant at p < 0.05, hollow ones are not.

    Args:
        ax: the axes to draw on.
        corr: :func:`~alpool.analysis.correlation.correlation_table` output.
        metric: which metric's correlations.
        stat: ``pearson`` (r) or ``spearman`` (rho).

    Returns:
        ``ax``.
    """
    pearson = stat == "pearson"
    value, p_col = ("pearson_r", "pearson_p") if pearson else ("spearman_rho", "spearman_p")
    data = corr[corr["metric"] == metric].sort_values("ratio")
    if data.empty or data[value].notna().sum() == 0:
        return note_empty(ax, "no defined correlations")
    features = list(dict.fromkeys(data["feature"]))
    for i, (feature, color) in enumerate(zip(features, color_cycle(len(features)), strict=True)):
        line = data[data["feature"] == feature]
        marker = MARKERS[i % len(MARKERS)]
        ax.plot(line["ratio"], line[value], color=color, linewidth=1.4,
                label=feature_label(feature))
        significant = line[p_col] < ALPHA
        ax.scatter(line["ratio"], line[value], marker=marker, s=36, edgecolors=[color],
                   facecolors=[color if s else "none" for s in significant], zorder=3)
    ax.axhline(0, color="0.4", linewidth=0.8, linestyle="--")
    ratios = data["ratio"].to_numpy(dtype=float)
    if ratios.min() > 0 and ratios.max() / ratios.min() > 10:
        ax.set_xscale("log")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("label ratio (fraction of selectable images)")
    symbol = "Pearson r" if stat == "pearson" else "Spearman ρ"
    ax.set_ylabel(f"{symbol} with {metric_label(metric)}")
    ax.grid(alpha=0.3)
    return ax


def r_ratio_figure(corr: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Return r and rho against the ratio, one row of panels per metric, one legend below."""
    present = [m for m in metrics if (corr["metric"] == m).any()] or list(metrics[:1])
    fig, axes = new_figure(2 * len(present), ncols=2, panel=(5.4, 4.0))
    for row, metric in enumerate(present):
        for col, stat in enumerate(("pearson", "spearman")):
            plot_r_vs_ratio(axes[2 * row + col], corr, metric, stat)
    features = list(dict.fromkeys(corr["feature"]))
    handles = [Line2D([], [], color=c, marker=MARKERS[i % len(MARKERS)], markersize=6,
                      label=feature_label(f))
               for i, (f, c) in enumerate(zip(features, color_cycle(len(features)), strict=True))]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color="0.3",
                          label="hollow marker: p ≥ 0.05 (filled: p < 0.05)"))
    labels = [str(h.get_label()) for h in handles]
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(handles)), fontsize=8,
               frameon=False)
    fig.suptitle("Correlation of pool properties with performance over random pools", fontsize=12)
    return fig


def strategy_points(results: pd.DataFrame, bench: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return mean, std and count of ``metric`` at episode 0 per strategy and label count."""
    roles = bench[["run", "pool", "role"]].drop_duplicates(["run", "pool"])
    first = results[results["episode"] == 0].merge(roles, on=["run", "pool"], how="left")
    strategy = first[first["role"] != "random"]
    return (strategy.groupby(["init_strategy", "n_labeled"], sort=True)[metric]
            .agg(["mean", "std", "count"]).reset_index())


def plot_multi_strategy(ax: Axes, bench: pd.DataFrame, points: pd.DataFrame, metric: str) -> Axes:
    """Draw performance against labels (log x): random pools as dots, strategies as mean +- std.

    Args:
        ax: the axes to draw on.
        bench: bench rows (random pools are drawn one dot each; hollow = misses a class).
        points: :func:`strategy_points` output for ``metric``.
        metric: the metric column.

    Returns:
        ``ax``.
    """
    random = bench[bench["role"] == "random"]
    for missing, part in random.groupby("missing_class"):
        ax.scatter(part["n_labeled"], part[metric], s=14, facecolors="none" if missing
                   else RANDOM_GREY, edgecolors=RANDOM_GREY, linewidths=0.8, alpha=0.7, zorder=2,
                   label="bench random pool" + (" missing a class" if missing
                                                else " (one dot each)"))
    if len(random):
        mean = random.groupby("n_labeled")[metric].mean()
        ax.plot(mean.index, mean.to_numpy(), color="0.15", linestyle="--", linewidth=1.2,
                label="bench random pools (mean)", zorder=3)
    strategies = sorted(points["init_strategy"].unique())
    for i, (name, color) in enumerate(zip(strategies, color_cycle(len(strategies)), strict=True)):
        line = points[points["init_strategy"] == name]
        dodge = 1 + 0.025 * (i - (len(strategies) - 1) / 2)  # side by side on the log axis
        ax.errorbar(line["n_labeled"] * dodge, line["mean"], yerr=line["std"].fillna(0),
                    color=color, marker=MARKERS[i % len(MARKERS)], markersize=5, capsize=3,
                    linewidth=1.4, label=short(name, 30), zorder=4)
    if random.empty and points.empty:
        return note_empty(ax, "no pools trained at episode 0")
    ax.set_xscale("log")
    sizes = sorted(set(random["n_labeled"]) | set(points["n_labeled"]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(sizes, [str(int(v)) for v in sizes])
    ax.set_xlabel("labeled images (count, log scale)")
    ax.set_ylabel(f"{metric_label(metric)} (strategies: mean ± std)")
    ax.grid(alpha=0.3)
    return ax


def multi_strategy_figure(results: pd.DataFrame, bench: pd.DataFrame,
                          metrics: Sequence[str]) -> Figure:
    """Return one multi-strategy panel per metric, with one shared legend below."""
    present = [m for m in metrics if m in bench and bench[m].notna().any()] or list(metrics[:1])
    fig, axes = new_figure(len(present), ncols=len(present), panel=(6.0, 4.4))
    for ax, metric in zip(axes, present, strict=True):
        plot_multi_strategy(ax, bench, strategy_points(results, bench, metric), metric)
        ax.set_title(metric_label(metric))
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(handles)),
                   fontsize=8, frameon=False)
    fig.suptitle("Initial pools: performance against the number of labels", fontsize=12)
    return fig
