"""Embedding maps: a 2-D projection of a pretrain task's embeddings with each pool drawn on top.

One projection is computed on a subsample (at most ``max_points`` images, chosen with an explicit
generator) that always contains the pools' images (themselves subsampled if they alone exceed the
cap), so every panel shares one map. t-SNE (scikit-learn; PCA to 50 dimensions first) is the
default; UMAP needs ``umap-learn`` (``pip install alpool[umap]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from alpool.analysis.figures import class_colors, new_figure, short
from alpool.core.errors import ConfigError

Projection = Literal["tsne", "umap"]
MAX_PANELS = 12


def subsample(n_total: int, keep: np.ndarray, max_points: int,
              rng: np.random.Generator) -> np.ndarray:
    """Return sorted dataset indices ``[<= max_points]``: ``keep`` first, then random others."""
    keep = np.unique(keep.astype(np.int64))
    if len(keep) >= max_points:
        return np.sort(rng.choice(keep, size=max_points, replace=False))
    others = np.setdiff1d(np.arange(n_total), keep)
    extra = rng.choice(others, size=min(len(others), max_points - len(keep)), replace=False)
    return np.sort(np.concatenate([keep, extra]))


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    """Barnes-Hut t-SNE with one OpenMP thread per 2,000 points.

    scikit-learn's gradient uses every core through OpenMP; on a busy or small machine the threads
    wait on each other (measured: 60 points took 86 s with 2 busy cores, 0.1 s on one thread).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    if x.shape[1] > 50 and x.shape[0] > 50:
        x = PCA(n_components=50, random_state=seed).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    threads = max(1, min(os.cpu_count() or 1, x.shape[0] // 2000))
    with threadpool_limits(limits=threads, user_api="openmp"):
        return np.asarray(tsne.fit_transform(x), dtype=np.float32)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError:
        raise ConfigError("projection 'umap' needs umap-learn, which is not installed; "
                          "run `pip install alpool[umap]` or use the projection 'tsne'") from None
    reducer = umap.UMAP(n_components=2, random_state=seed)
    return np.asarray(reducer.fit_transform(x), dtype=np.float32)


PROJECTIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"tsne": _tsne, "umap": _umap}


def project(embeddings: np.ndarray, method: Projection, rng: np.random.Generator) -> np.ndarray:
    """Project ``embeddings`` ``[n, d]`` to ``[n, 2]`` float32 with t-SNE or UMAP.

    Raises:
        ConfigError: an unknown method, or ``umap`` without umap-learn.
    """
    if method not in PROJECTIONS:
        raise ConfigError(f"unknown projection {method!r} (choices: {', '.join(PROJECTIONS)})")
    x = np.asarray(embeddings, dtype=np.float32)  # [n, d]
    x = x.reshape(len(x), -1)
    seed = int(rng.integers(0, 2**31 - 1))
    return PROJECTIONS[method](x, seed)


def plot_embedding(ax: Axes, xy: np.ndarray, classes: np.ndarray | None, selected: np.ndarray,
                   n_classes: int, title: str) -> Axes:
    """Draw the map coloured by true class with the selected images on top (black rims).

    Args:
        ax: the axes to draw on.
        xy: projected points ``[n, 2]``.
        classes: true class of each point ``[n]`` int64, or None (grey).
        selected: boolean mask ``[n]`` of the pool's images.
        n_classes: number of classes (fixes the colours).
        title: panel title.

    Returns:
        ``ax``.
    """
    colors = class_colors(n_classes)
    base = colors[classes] if classes is not None else np.full((len(xy), 4), [0.6, 0.6, 0.6, 1])
    ax.scatter(xy[~selected, 0], xy[~selected, 1], c=base[~selected], s=4, alpha=0.35,
               linewidths=0, rasterized=True)
    ax.scatter(xy[selected, 0], xy[selected, 1], c=base[selected], s=22, edgecolors="black",
               linewidths=0.6, zorder=3)
    ax.set_title(f"{title} ({int(selected.sum())} shown)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("map dimension 1 (arbitrary units)", fontsize=8)
    ax.set_ylabel("map dimension 2 (arbitrary units)", fontsize=8)
    return ax


def embedding_figure(xy: np.ndarray, subset: np.ndarray, pools: Mapping[str, np.ndarray],
                     labels: np.ndarray | None, class_names: Sequence[str], method: str,
                     task: str) -> Figure:
    """Return one map panel per pool (at most :data:`MAX_PANELS`) with a class legend below.

    Args:
        xy: projection of ``subset`` ``[n, 2]``.
        subset: dataset indices of the projected points ``[n]``.
        pools: panel title -> dataset indices of the pool.
        labels: train labels ``[N]`` or None.
        class_names: class names ``[K]``.
        method: projection name, for the title.
        task: pretrain task of the embeddings, for the title.
    """
    items = list(pools.items())[:MAX_PANELS]
    fig, axes = new_figure(len(items), ncols=3, panel=(4.6, 4.2))
    classes = labels[subset] if labels is not None else None
    for ax, (name, indices) in zip(axes, items, strict=True):
        plot_embedding(ax, xy, classes, np.isin(subset, indices), len(class_names), short(name, 40))
    if labels is not None and len(class_names) <= 20:
        colors = class_colors(len(class_names))
        handles = [Line2D([], [], marker="o", linestyle="", color=colors[k], label=str(c))
                   for k, c in enumerate(class_names)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(10, len(handles)),
                   fontsize=8, frameon=False, title="true class", title_fontsize=8)
    elif labels is not None:
        fig.supxlabel(f"colour = true class ({len(class_names)} classes, too many for a legend)",
                      fontsize=9)
    name = "UMAP" if method == "umap" else "t-SNE"
    fig.suptitle(f"{name} map of {task} embeddings "
                 f"({len(subset)} images; selected pool on top, black rims)", fontsize=11)
    return fig
