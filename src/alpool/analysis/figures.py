"""Figure plumbing shared by the plots: Agg figures without pyplot, PNG bytes, colours, names.

Figures are made with :class:`matplotlib.figure.Figure` on an explicit Agg canvas: no pyplot, no
global backend switch (a notebook importing alpool keeps its backend), nothing is ever shown.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

DPI = 200
PANEL = (5.0, 3.8)  # inches per panel (width, height)
RANDOM_GREY = "0.55"
STRATEGY_RED = "#d62728"
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
METRIC_LABELS = {
    "test_accuracy": "test accuracy",
    "test_macro_auc": "test macro ROC-AUC",
    "val_accuracy": "validation accuracy",
    "alc": "ALC (accuracy)",
    "final_accuracy": "final test accuracy",
}


def metric_label(metric: str) -> str:
    """Return a readable axis label of a metric column."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def new_figure(n_panels: int, ncols: int = 3, panel: tuple[float, float] = PANEL,
               sharey: bool = False) -> tuple[Figure, list[Axes]]:
    """Return a constrained-layout figure with ``n_panels`` axes in a grid (extra cells hidden)."""
    n_panels = max(1, n_panels)
    ncols = max(1, min(ncols, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)
    axes = list(grid.ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """Render ``fig`` as PNG (print quality at the default :data:`DPI`) and return the bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def color_cycle(n: int) -> list[tuple[float, float, float, float]]:
    """Return ``n`` distinct colours (tab10, then tab20, then a continuous map)."""
    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"
    cmap: Colormap = matplotlib.colormaps[name]
    if n <= 20:
        return [cmap(i) for i in range(n)]
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]


def class_colors(n_classes: int) -> np.ndarray:
    """Return one RGBA colour per class, ``[K, 4]``."""
    return np.asarray(color_cycle(n_classes))


def slug(text: str) -> str:
    """Return ``text`` as a safe file-name part."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned or "x"


def short(text: str, width: int = 28) -> str:
    """Shorten a label to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def class_ticks(ax: Axes, class_names: Sequence[str], axis: str = "x") -> Axes:
    """Label class positions readably: names up to 20 classes (rotated if long), else numbers."""
    k = len(class_names)
    positions = np.arange(k)
    if k <= 20:
        names = [short(str(c), 12) for c in class_names]
        rotate = k * max((len(n) for n in names), default=0) > 36
        if axis == "x":
            ax.set_xticks(positions, names, rotation=45 if rotate else 0,
                          ha="right" if rotate else "center", fontsize=8)
        else:
            ax.set_yticks(positions, names, fontsize=8)
    else:
        step = int(np.ceil(k / 10))
        ticks = positions[::step]
        (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks, [str(t) for t in ticks])
    return ax


def note_empty(ax: Axes, message: str) -> Axes:
    """Write ``message`` in an empty panel instead of leaving it blank."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.3", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
