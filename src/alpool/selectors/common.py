"""Small pieces shared by the initial-pool selectors: point sets, inputs and quotas.

Positions vs indices: a selector works on a :class:`PointSet`, the candidates followed by the
labeled points, so that position ``i < n_candidates`` is ``ctx.candidates[i]`` and per-candidate
arrays line up with ``ctx.candidates`` without any lookup. Only dataset indices leave a selector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpool.core.errors import ConfigError
from alpool.selectors.base import SelectionContext

SEED_HIGH = 2**31 - 1  # scikit-learn random_state must fit in 32 bits


@dataclass(frozen=True)
class PointSet:
    """The points a geometric selector sees: candidates first, then the labeled points.

    Attributes:
        indices: int64 ``[n]`` dataset indices; ``indices[:n_candidates]`` is ``ctx.candidates``.
        n_candidates: number of candidates.
    """

    indices: np.ndarray
    n_candidates: int

    @property
    def n_labeled(self) -> int:
        """Return the number of labeled points."""
        return len(self.indices) - self.n_candidates

    @property
    def labeled_mask(self) -> np.ndarray:
        """Return ``[n]`` bool, True at labeled positions."""
        mask = np.zeros(len(self.indices), dtype=bool)
        mask[self.n_candidates:] = True
        return mask


def point_set(ctx: SelectionContext) -> PointSet:
    """Return the candidates followed by the labeled points that are not candidates."""
    candidates = np.asarray(ctx.candidates, dtype=np.int64)
    labeled = np.setdiff1d(np.asarray(ctx.labeled, dtype=np.int64), candidates)
    return PointSet(np.concatenate([candidates, labeled]), len(candidates))


def embeddings_of(ctx: SelectionContext, task: str, indices: np.ndarray) -> np.ndarray:
    """Return the rows ``indices`` of a pretrain task's embeddings as ``[n, D]`` float32."""
    table = ctx.require_inputs(f"the embeddings of pretrain task {task!r}").embeddings(task)
    if table.ndim != 2 or table.shape[0] != ctx.n_total:
        raise ConfigError(f"embeddings of {task!r} have shape {tuple(table.shape)}, expected "
                          f"[{ctx.n_total}, D]; re-run `alpool pretrain --task {task}`")
    return np.ascontiguousarray(table[indices], dtype=np.float32)  # [n, D]


def scores_of(ctx: SelectionContext, scorer: str, indices: np.ndarray) -> np.ndarray:
    """Return a scorer's scores at ``indices`` as ``[n]`` float64 (higher = pick first)."""
    table = np.asarray(ctx.require_inputs(f"the scores of scorer {scorer!r}").scores(scorer))
    if table.shape != (ctx.n_total,):
        raise ConfigError(f"scores of {scorer!r} have shape {table.shape}, expected "
                          f"[{ctx.n_total}]; re-run `alpool rank --scorer {scorer}`")
    return table[indices].astype(np.float64)


def labels_of(ctx: SelectionContext, indices: np.ndarray) -> np.ndarray:
    """Return the ground-truth labels at ``indices`` (oracle selectors only) as int64 ``[n]``."""
    labels = np.asarray(ctx.require_inputs("the ground-truth labels").labels(), dtype=np.int64)
    return labels[indices]


def seed_from(rng: np.random.Generator) -> int:
    """Draw a seed for a library that takes an integer ``random_state``."""
    return int(rng.integers(SEED_HIGH))


def spread_evenly(capacity: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``budget`` over groups as evenly as their capacities allow.

    Every group gets ``budget // G``; groups that cannot take their share keep what they have and
    the shortfall plus the remainder are spread again over the groups with room left, the last
    single units going to groups drawn with ``rng``.

    Args:
        capacity: ``[G]`` int, how many items each group can give.
        budget: total to allocate, at most ``capacity.sum()``.
        rng: generator of the groups that receive the last units.

    Returns:
        int64 ``[G]`` counts summing to ``budget``, each at most its capacity.
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    if budget > capacity.sum():
        raise ValueError(f"cannot place {budget} items in groups holding {capacity.sum()}")
    counts = np.zeros(len(capacity), dtype=np.int64)
    left = budget
    while left > 0:
        room = np.flatnonzero(counts < capacity)
        share = left // len(room)
        if share == 0:
            counts[rng.choice(room, size=left, replace=False)] += 1
            break
        add = np.minimum(share, capacity[room] - counts[room])
        counts[room] += add
        left -= int(add.sum())
    return counts


def nan_scores(n: int) -> np.ndarray:
    """Return ``[n]`` NaN scores for methods without a per-candidate score."""
    return np.full(n, np.nan)
