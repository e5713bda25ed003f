"""Random pools: uniform without replacement, and the class-covering oracle variant."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_LABELS, Selection, SelectionContext, Selector
from alpool.selectors.common import labels_of, nan_scores


@SELECTORS.register("random")
class RandomSelector(Selector):
    """Pick ``budget`` candidates uniformly without replacement with ``ctx.rng``.

    Fixes the original toolkit's "same random pool in every trial": the generator is derived from
    the run seed, trial and episode by the caller, so each trial draws its own pool.
    """

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Draw ``budget`` candidates uniformly at random."""
        picks = ctx.rng.choice(len(ctx.candidates), size=budget, replace=False)
        return Selection(ctx.candidates[picks].astype(np.int64), nan_scores(len(ctx.candidates)),
                         {"method": "uniform"})


class RandomCoveringParams(Params):
    """Options of random-covering."""

    max_tries: int = Field(1000, gt=0, description="uniform draws before falling back to one "
                           "random candidate per missing class plus a uniform fill")


@SELECTORS.register("random-covering")
class RandomCoveringSelector(Selector):
    """Redraw uniform random pools with ``ctx.rng`` until the pool covers every class (oracle).

    "Every class" means every class that has a candidate and no labeled point yet; classes with no
    candidate cannot be covered and are left out (listed in ``info['uncoverable']``). Rejection
    sampling gives a uniform draw among the covering pools. When the budget barely exceeds the
    number of classes a covering draw can be astronomically rare, so after ``max_tries`` draws the
    pool is built as one random candidate of each missing class plus a uniform fill; the manifest
    records this (``info['method'] == 'one-per-class-fill'``), it is never silent.
    """

    Params = RandomCoveringParams
    params: RandomCoveringParams
    needs = frozenset({NEED_LABELS})
    oracle = True

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Redraw until covering, then fall back to one-per-class plus fill."""
        cand_labels = labels_of(ctx, ctx.candidates)  # [n_cand]
        have = np.unique(labels_of(ctx, np.asarray(ctx.labeled, dtype=np.int64)))
        missing = np.setdiff1d(np.unique(cand_labels), have)
        if budget < len(missing):
            raise ConfigError(f"random-covering: budget {budget} cannot cover the {len(missing)} "
                              f"missing classes; use --budget {len(missing)} or more")
        present = np.union1d(have, cand_labels)
        info = {"uncoverable": np.setdiff1d(np.arange(ctx.num_classes), present).tolist()}
        for tries in range(1, self.params.max_tries + 1):
            picks = ctx.rng.choice(len(ctx.candidates), size=budget, replace=False)
            if np.isin(missing, cand_labels[picks]).all():
                return self._done(ctx, picks, {**info, "method": "rejection", "tries": tries})
        picks = one_per_class_fill(cand_labels, missing, budget, ctx.rng)
        info.update(method="one-per-class-fill", tries=self.params.max_tries)
        return self._done(ctx, picks, info)

    @staticmethod
    def _done(ctx: SelectionContext, picks: np.ndarray, info: dict[str, object]) -> Selection:
        scores = nan_scores(len(ctx.candidates))
        return Selection(ctx.candidates[picks].astype(np.int64), scores, info)


def one_per_class_fill(labels: np.ndarray, classes: np.ndarray, budget: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Return ``budget`` positions: one random position of each of ``classes``, then uniform."""
    first = np.array([rng.choice(np.flatnonzero(labels == c)) for c in classes], dtype=np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), first)
    fill = rng.choice(rest, size=budget - len(first), replace=False)
    return rng.permutation(np.concatenate([first, fill]).astype(np.int64))
