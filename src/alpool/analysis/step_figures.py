"""Small figures a step writes into its own folder: score histograms and loss curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STEP_DPI = 150


def histogram_png(values: np.ndarray, name: str) -> bytes:
    """Return a PNG histogram of one score per image."""
    from alpool.analysis.figures import new_figure, png_bytes  # matplotlib only when drawing

    fig, (ax,) = new_figure(1)
    ax.hist(values, bins=min(60, max(10, len(values) // 20)), color="#4c72b0")
    ax.set(xlabel=f"{name} score", ylabel="images", title=f"{name}: {len(values)} train images")
    return png_bytes(fig, STEP_DPI)


def loss_curve_png(history: Sequence[dict[str, float]], title: str) -> bytes | None:
    """Return a PNG of every ``*loss*`` column of a per-epoch history, or None without one."""
    columns = sorted({k for row in history for k in row if "loss" in k and not k.startswith("loss_head")})
    if not history or not columns:
        return None
    from alpool.analysis.figures import new_figure, png_bytes

    fig, (ax,) = new_figure(1)
    epochs = [row.get("epoch", i) for i, row in enumerate(history)]
    for column in columns:
        ax.plot(epochs, [row.get(column, np.nan) for row in history], label=column.replace("_", " "))
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.legend(frameon=False)
    return png_bytes(fig, STEP_DPI)
