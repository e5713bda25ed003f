"""Learning-curve numbers shared by al-run and analyze."""

from __future__ import annotations

import numpy as np


def alc(n_labeled: np.ndarray, accuracy: np.ndarray) -> float:
    """Return the area under a learning curve normalised by its label range.

    The curve is sorted by ``n_labeled`` and integrated with the trapezoid rule; a curve with one
    point (or no label range) has the accuracy of its last point.

    Args:
        n_labeled: labels at each point ``[E]``.
        accuracy: accuracy at each point ``[E]``.

    Returns:
        The mean accuracy over the label range (same unit as ``accuracy``).
    """
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(accuracy, dtype=float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[-1])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))
