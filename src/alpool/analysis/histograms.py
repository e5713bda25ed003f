"""Class-count histograms of initial pools and of each episode's queries against references.

A pool is compared with the random pools of the same run and size (mean +- std; when there are
none, with the counts a uniformly random draw is expected to have) and with the uniform reference
(budget / classes). The queries of an arm (pool x query) are summed over its episodes and compared with the ``random``
query of the same pool when the experiment has one, else with the expected counts of a random draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from alpool.analysis.figures import RANDOM_GREY, class_ticks, new_figure, short
from alpool.analysis.loading import EpisodeDir
from alpool.rundir.trial_dirs import EpisodeFolder

POOL_COLOR = "#1f77b4"
MAX_PANELS = 12
REF_POOLS = "random pools of the same size (mean ± std)"
REF_EXPECTED = "random draw (expected counts)"
REF_QUERY = "random query, same pool (mean ± std over trials)"


@dataclass(frozen=True)
class HistogramPanel:
    """One histogram: counts ``[K]`` against a reference ``[K]`` (+- std) and a uniform level."""

    title: str
    counts: np.ndarray  # [K] float (a mean when several trials)
    counts_std: np.ndarray | None  # [K] float
    reference: np.ndarray | None  # [K] float
    reference_std: np.ndarray | None  # [K] float
    reference_label: str
    uniform: float


def expected_counts(labels: np.ndarray, n_classes: int, size: int) -> np.ndarray:
    """Return the class counts ``[K]`` a uniformly random draw of ``size`` images has on average."""
    freq = np.bincount(labels, minlength=n_classes) / max(len(labels), 1)
    return freq * size


def pool_panels(pools: pd.DataFrame, labels: np.ndarray | None = None) -> list[HistogramPanel]:
    """Return a histogram panel per pool of one run (one representative per random-pool group).

    Args:
        pools: :func:`~alpool.analysis.loading.load_pools` rows of one run.
        labels: train labels ``[N]``, for the expected counts when no random pool has the size.

    Returns:
        Panels for every pool that has a class histogram.
    """
    with_hist = pools[pools["histogram"].notna()]
    shown = pd.concat([with_hist[~with_hist["is_bench"]],
                       with_hist[with_hist["is_bench"]].drop_duplicates("group")])
    random = with_hist[with_hist["strategy"] == "random"]
    return [_pool_panel(row, random, labels) for _, row in shown.iterrows()]


def _pool_panel(row: pd.Series, random: pd.DataFrame, labels: np.ndarray | None) -> HistogramPanel:
    counts = np.asarray(row["histogram"], dtype=float)  # [K]
    k, budget = len(counts), float(counts.sum())
    others = random[(random["budget"] == row["budget"]) & (random["pool"] != row["pool"])]
    reference = reference_std = None
    reference_label, versus = REF_EXPECTED, ""
    if len(others):
        stack = np.stack([np.asarray(h, dtype=float) for h in others["histogram"]])  # [M, K]
        reference = stack.mean(0)
        reference_std = stack.std(0) if len(others) > 1 else None
        plural = "s" if len(others) > 1 else ""
        reference_label, versus = REF_POOLS, f" vs {len(others)} random pool{plural}"
    elif labels is not None:
        reference = expected_counts(labels, k, int(budget))
    title = f"{short(str(row['pool']), 36)}: {short(str(row['init_strategy']), 24)}\n" \
            f"{int(budget)} images{versus}"
    return HistogramPanel(title, counts, None, reference, reference_std, reference_label,
                          budget / k)


def _yerr(mean: np.ndarray, std: np.ndarray | None) -> np.ndarray | None:
    """Return ``[2, K]`` error bars that stop at zero (counts are never negative)."""
    return None if std is None else np.stack([np.minimum(mean, std), std])


def plot_class_histogram(ax: Axes, panel: HistogramPanel, class_names: Sequence[str]) -> Axes:
    """Draw grouped bars: the pool (or query) counts beside the reference, and the uniform level.

    Args:
        ax: the axes to draw on.
        panel: what to draw.
        class_names: the dataset's class names ``[K]``.

    Returns:
        ``ax``.
    """
    x = np.arange(len(panel.counts))
    width = 0.4 if panel.reference is not None else 0.7
    shift = width / 2 if panel.reference is not None else 0.0
    ax.bar(x - shift, panel.counts, width, yerr=_yerr(panel.counts, panel.counts_std),
           color=POOL_COLOR, capsize=2,
           label="selected" if panel.counts_std is None else "selected (mean ± std over trials)")
    top = panel.counts + (panel.counts_std if panel.counts_std is not None else 0)
    if panel.reference is not None:
        expected = panel.reference_label == REF_EXPECTED  # a computed level, not a draw
        ax.bar(x + shift, panel.reference, width,
               yerr=_yerr(panel.reference, panel.reference_std),
               color="0.82" if expected else RANDOM_GREY, hatch="///" if expected else None,
               edgecolor="0.5" if expected else None, capsize=2, label=panel.reference_label)
        ref_std = panel.reference_std if panel.reference_std is not None else 0
        top = np.maximum(top, panel.reference + ref_std)
    ax.axhline(panel.uniform, color="black", linestyle="--", linewidth=1,
               label="uniform (size / classes)")
    ax.set_ylim(0, max(float(np.max(top)), panel.uniform) * 1.12 + 1e-9)
    class_ticks(ax, class_names)
    ax.set_xlabel("true class")
    ax.set_ylabel("images per class (count)")
    ax.set_title(panel.title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return ax


def histogram_figures(panels: list[HistogramPanel], class_names: Sequence[str],
                      title: str) -> list[Figure]:
    """Return figures of at most :data:`MAX_PANELS` histogram panels each."""
    figures = []
    wide = len(class_names) > 12
    for start in range(0, len(panels), MAX_PANELS):
        chunk = panels[start: start + MAX_PANELS]
        fig, axes = new_figure(len(chunk), ncols=2 if wide else 3,
                               panel=(7.0, 3.8) if wide else (5.0, 3.8))
        legend: dict[str, Artist] = {}
        for ax, panel in zip(axes, chunk, strict=True):
            plot_class_histogram(ax, panel, class_names)
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(label, handle)
        fig.legend(list(legend.values()), list(legend), loc="outside lower center",
                   ncol=min(4, len(legend)), fontsize=8, frameon=False)
        part = f" ({start // MAX_PANELS + 1})" if len(panels) > MAX_PANELS else ""
        fig.suptitle(title + part, fontsize=12)
        figures.append(fig)
    return figures


def query_counts(episodes: list[EpisodeDir], labels: np.ndarray, n_classes: int) -> pd.DataFrame:
    """Return the class counts of each episode's queried images, one row per episode.

    Returns:
        Columns ``run, experiment, pool, query, trial, episode, n_queried, counts`` (``[K]`` int64).
    """
    rows = []
    for ep in episodes:
        queried = EpisodeFolder(ep.path).queried()  # [step] int64
        if len(queried) == 0:
            continue
        rows.append({"run": ep.run, "experiment": ep.experiment, "pool": ep.pool,
                     "query": ep.query, "trial": ep.trial, "episode": ep.episode,
                     "n_queried": len(queried),
                     "counts": np.bincount(labels[queried], minlength=n_classes)})
    return pd.DataFrame(rows, columns=["run", "experiment", "pool", "query", "trial", "episode",
                                       "n_queried", "counts"])


def query_panels(counts: pd.DataFrame, labels: np.ndarray, n_classes: int) -> list[HistogramPanel]:
    """Return one panel per (pool, query) arm of one experiment: every queried image of a trial.

    The class counts of a trial's queries are summed over its episodes, then averaged over trials
    (± std). The reference is the ``random`` query from the same pool (summed alike) when the
    experiment has one, else the expected counts of a random draw of the same size. One figure then
    holds every arm (per-episode histograms of one arm were near-identical; the per-episode counts
    stay in ``query_counts.csv``).
    """
    if counts.empty:
        return []
    per_trial = (counts.groupby(["pool", "query", "trial"], sort=True)
                 .agg(counts=("counts", lambda c: np.sum(np.stack(list(c)), axis=0)),
                      n_queried=("n_queried", "sum"), episodes=("episode", "nunique")).reset_index())
    panels = []
    for (pool, query), group in per_trial.groupby(["pool", "query"], sort=True):
        stack = np.stack(list(group["counts"])).astype(float)  # [T, K]
        size = int(group["n_queried"].median())
        ref = per_trial[(per_trial["pool"] == pool) & (per_trial["query"] == "random")]
        reference, reference_std, reference_label = expected_counts(labels, n_classes, size), None, REF_EXPECTED
        if query != "random" and len(ref):
            ref_stack = np.stack(list(ref["counts"])).astype(float)  # [T, K]
            reference, reference_label = ref_stack.mean(0), REF_QUERY
            reference_std = ref_stack.std(0) if len(ref_stack) > 1 else None
        title = (f"{short(str(pool), 30)} / {short(str(query), 16)}\n{size} queried in "
                 f"{int(group['episodes'].max())} episodes (n={len(group)} trials)")
        panels.append(HistogramPanel(title, stack.mean(0), stack.std(0) if len(stack) > 1 else None,
                                     reference, reference_std, reference_label, size / n_classes))
    return panels
