"""Top-k ranking with seeded tie-breaking (every selector that takes "the best B")."""

from __future__ import annotations

import numpy as np


def rank_top(priority: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Return the positions of the ``budget`` highest priorities, ties broken by a permutation.

    Args:
        priority: ``[n]`` float, higher = pick first; NaN ranks last.
        budget: how many positions to return.
        rng: generator of the tie-breaking permutation.

    Returns:
        int64 ``[budget]`` positions, best first.
    """
    priority = np.asarray(priority, dtype=np.float64)
    perm = rng.permutation(len(priority))  # [n]
    keyed = np.where(np.isnan(priority[perm]), -np.inf, priority[perm])
    order = perm[np.argsort(-keyed, kind="stable")]
    return order[:budget].astype(np.int64)
