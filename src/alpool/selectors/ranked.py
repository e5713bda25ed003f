"""The top of a scorer's order (``alpool init-pool --strategy ranked --score vae-loss``)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from alpool.core.params import Params
from alpool.ops.ranking import rank_top
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_SCORES, Selection, SelectionContext, Selector
from alpool.selectors.common import scores_of


class RankedParams(Params):
    """Options of ranked."""

    score: str = Field(description="scorer whose scores order the candidates (`alpool rank`)")
    ascending: bool = Field(False, description="take the lowest scores instead (\"easy\" pools)")


@SELECTORS.register("ranked")
class RankedSelector(Selector):
    """Take the ``budget`` candidates with the highest (or, ascending, lowest) scores.

    Ties are broken by a permutation drawn from ``ctx.rng``; NaN scores rank last. The returned
    candidate scores are the priorities used: the scores, negated when ``ascending``.
    """

    Params = RankedParams
    params: RankedParams
    needs = frozenset({NEED_SCORES})
    seeded = False  # the seed only breaks exact ties

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Rank the candidates by score and return the top ``budget``."""
        scores = scores_of(ctx, self.params.score, ctx.candidates)  # [n_cand]
        priority = -scores if self.params.ascending else scores
        picks = rank_top(priority, budget, ctx.rng)
        info = {"score": self.params.score, "ascending": self.params.ascending,
                "picked_score_min": float(np.nanmin(scores[picks])),
                "picked_score_max": float(np.nanmax(scores[picks]))}
        return Selection(ctx.candidates[picks].astype(np.int64), priority, info)
