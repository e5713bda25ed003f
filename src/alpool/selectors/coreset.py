"""Core-set (Sener & Savarese, ICLR 2018): greedy k-center on embeddings or model features."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.ops.distances import CHUNK_ELEMENTS, l2_normalize, min_distances
from alpool.ops.kcenter import k_center
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import PointSet, embeddings_of, point_set


class CoresetParams(Params):
    """Options of coreset."""

    features: Literal["auto", "embeddings", "classifier"] = Field(
        "auto", description="'classifier': the AL model's penultimate features; 'embeddings': a "
        "pretrain task's; 'auto': the classifier's when there is one")
    embeddings: str = Field("simclr", description="pretrain task whose embeddings to use without "
                            "a classifier")
    normalize: bool = Field(False, description="L2-normalise the features first")
    chunk_elements: int = Field(CHUNK_ELEMENTS, gt=0, description="distance entries per block")


@SELECTORS.register("coreset")
class CoresetSelector(Selector):
    """Greedy k-center: repeatedly pick the candidate farthest from everything labeled or picked.

    Each candidate's distance to its nearest labeled point is computed in blocks; every pick is the
    candidate with the largest such distance, after which the distances are lowered by the distance
    to the pick. With an empty labeled set the first pick is a candidate drawn with ``ctx.rng``
    (the original looped forever on an empty set).

    Features: as an AL query (``ctx.classifier`` set) ``features='auto'`` uses the classifier's
    penultimate features, as the original method did; at cold start it uses the
    embeddings of ``--embeddings``. Candidate scores are the distances to the nearest labeled point
    before selection (NaN with an empty labeled set).
    """

    Params = CoresetParams
    params: CoresetParams
    needs = frozenset({NEED_EMBEDDINGS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Run greedy k-center from the labeled set."""
        points = point_set(ctx)
        x, source = self._features(ctx, points)  # [n, D]
        x = l2_normalize(x) if self.params.normalize else x
        nc = points.n_candidates
        start = min_distances(x[:nc], x[nc:], self.params.chunk_elements, ctx.device)  # [nc], inf if L is empty
        picks, radius = k_center(x[:nc], start, budget, ctx.rng, ctx.device)
        scores = np.where(np.isfinite(start), start, np.nan)
        info: dict[str, Any] = {"features": source, "random_first_pick": points.n_labeled == 0,
                                "radius_before": float(start.max()) if points.n_labeled else None,
                                "radius_after": radius}
        return Selection(ctx.candidates[picks].astype(np.int64), scores, info)

    def _features(self, ctx: SelectionContext, points: PointSet) -> tuple[np.ndarray, str]:
        mode, task = self.params.features, self.params.embeddings
        if mode == "embeddings" or (mode == "auto" and ctx.classifier is None):
            return embeddings_of(ctx, task, points.indices), f"embeddings:{task}"
        if ctx.classifier is None:
            raise ConfigError("coreset features='classifier' needs a trained classifier: use it "
                              "with `alpool al-run --query coreset`, or set features=embeddings")
        feats = np.asarray(ctx.classifier.features(points.indices), dtype=np.float32)  # [n, D]
        return feats.reshape(len(points.indices), -1), "classifier"
