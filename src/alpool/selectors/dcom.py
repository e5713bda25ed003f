"""DCoM (Mishal & Weinshall, arXiv 2407.01804): ProbCover with a radius per labeled point, mixing
density and margin uncertainty by how much of the data the labeled balls already cover."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from alpool.core.params import Params
from alpool.ops.balls import covered_by_balls, purity_radii
from alpool.ops.distances import CHUNK_ELEMENTS, l2_normalize
from alpool.ops.graph import Graph, mark_covered
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import PointSet, embeddings_of, point_set
from alpool.selectors.probcover import build_graph, warn_low_coverage

MIN_EDGES = 1 << 25  # graphs up to this many edges (128 MiB of targets) are always allowed


class DCoMParams(Params):
    """Options of dcom."""

    embeddings: str = Field("simclr", description="pretrain task whose (self-supervised) "
                            "embeddings to use")
    initial_delta: float = Field(0.75, gt=0, description="radius of new points (and of the initial "
                                 "pool's graph)")
    max_delta: float = Field(1.1, gt=0, description="upper end of the per-point radius search")
    resolution: float = Field(0.05, gt=0, description="binary-search resolution of the radii")
    k_logistic: float = Field(50.0, gt=0, description="steepness of the competence curve")
    a_logistic: float = Field(0.8, ge=0, le=1, description="coverage at the competence midpoint")
    min_coverage: float = Field(0.0, ge=0, le=1, description="warn when the coverage after the "
                                "picks is below this")
    max_mean_degree: float = Field(1000.0, gt=0, description="refuse graphs with more edges per "
                                   "point than this and more than 2^25 edges (memory guard)")
    chunk_elements: int = Field(CHUNK_ELEMENTS, gt=0, description="distance entries per block")


def competence(coverage: float, k: float, a: float) -> float:
    """Return ``p / (1 + exp(-k (coverage - a)))`` with ``p`` making it 1 at full coverage."""
    p = 1.0 + np.exp(-k * (1.0 - a))
    return float(p / (1.0 + np.exp(-k * (coverage - a))))


def minmax(values: np.ndarray) -> np.ndarray:
    """Return ``values`` scaled to [0, 1] (all zeros when they are constant)."""
    span = float(values.max() - values.min()) if len(values) else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values, dtype=np.float64)


@SELECTORS.register("dcom")
class DCoMSelector(Selector):
    """Cover with adaptive balls, trading density for margin uncertainty as coverage grows.

    As an AL query (a classifier is given): each labeled point gets the largest radius on
    ``[0, max_delta]`` (binary search, ``resolution``) whose ball is at least
    ``0.2 * coverage + 0.4`` pure against the model's predicted labels, where ``coverage`` is the
    share covered by balls of ``initial_delta`` around the labeled points. alpool keeps no state
    between rounds: every labeled radius is recomputed from the current model each round (the
    reference recomputes all of them after each training too; its threshold uses the radii of the
    previous round, alpool's the ``initial_delta`` balls). The points inside the labeled balls are
    covered. Then ``B`` times, on the graph of the mean labeled radius: score each open candidate
    by ``c * margin + (1 - c) * density`` (both min-max normalised over the open candidates;
    density = uncovered points in its ball, margin = ``1 - (p1 - p2)``), take the best (ties:
    lowest position), cover its ball, and update ``c = competence(coverage)``
    (``p / (1 + exp(-k (coverage - a)))``, k = 50, a = 0.8, ``p`` normalising to 1 at full
    coverage): density first while coverage is low, uncertainty as it grows.

    As an initial pool (no classifier) it is ProbCover with radius ``initial_delta``: density
    only, labeled points (if any) covering balls of ``initial_delta``, and uniform picks
    (``ctx.rng``) once nothing is left to cover. Candidate scores are the first pick's scores.
    """

    Params = DCoMParams
    params: DCoMParams
    needs = frozenset({NEED_EMBEDDINGS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Compute the labeled radii and coverage, then pick greedily."""
        p = self.params
        points = point_set(ctx)
        x = l2_normalize(embeddings_of(ctx, p.embeddings, points.indices), inplace=True)  # [n, D]
        labeled = np.arange(points.n_candidates, len(x))
        margin, radii, info = self._model_terms(ctx, x, points, labeled)
        covered = covered_by_balls(x, labeled, radii, p.chunk_elements, ctx.device)
        delta = float(radii.mean()) if len(radii) else p.initial_delta
        degree_limit = max(p.max_mean_degree, MIN_EDGES / len(x))  # small sets: any graph fits
        graph = build_graph(x, delta, degree_limit, p.chunk_elements, ctx.device)
        picks, initial, stats = self._greedy(graph, points, covered, margin, budget, ctx,
                                             info["mode"] == "query")
        info.update(delta=delta, n_edges=graph.n_edges, **stats)
        warn_low_coverage("dcom", info, budget, p.min_coverage)
        return Selection(points.indices[picks].astype(np.int64), initial, info)

    def _model_terms(self, ctx: SelectionContext, x: np.ndarray, points: PointSet,
                     labeled: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Return the candidates' margin uncertainty, the labeled radii and what was used."""
        p = self.params
        if ctx.classifier is None or len(labeled) == 0:
            radii = np.full(len(labeled), p.initial_delta)
            return np.zeros(points.n_candidates), radii, {"mode": "initial", "competence_k": 0}
        proba = np.asarray(ctx.classifier.predict_proba(points.indices), dtype=np.float64)  # [n, K]
        top = np.sort(proba, axis=1)[:, ::-1]
        margin = 1.0 - (top[:, 0] - top[:, 1]) if proba.shape[1] > 1 else np.zeros(len(proba))
        predicted = proba.argmax(1)
        start = covered_by_balls(x, labeled, np.full(len(labeled), p.initial_delta),
                                 p.chunk_elements, ctx.device).mean()
        threshold = 0.2 * float(start) + 0.4
        radii = purity_radii(x, labeled, predicted, threshold, p.max_delta, p.resolution,
                             p.chunk_elements, ctx.device)
        info = {"mode": "query", "purity_threshold": threshold, "radius_mean": float(radii.mean()),
                "radius_min": float(radii.min()), "radius_max": float(radii.max()),
                "competence_k": p.k_logistic}
        return margin[:points.n_candidates], radii, info

    def _greedy(self, graph: Graph, points: PointSet, covered: np.ndarray, margin: np.ndarray,
                budget: int, ctx: SelectionContext,
                query: bool) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Pick ``budget`` candidates by the competence-weighted score."""
        p = self.params
        nc = points.n_candidates
        covered = covered.copy()
        degree = graph.degrees().astype(np.int64)
        already = np.flatnonzero(covered)
        covered[:] = False
        mark_covered(graph, already, covered, degree)
        start_coverage = float(covered.mean())
        weight = competence(start_coverage, p.k_logistic, p.a_logistic) if query else 0.0
        open_ = np.ones(nc, dtype=bool)
        picks: list[int] = []
        initial = np.full(nc, np.nan)
        random_picks = 0
        for step in range(budget):
            cand = np.flatnonzero(open_)
            score = weight * minmax(margin[cand]) + (1 - weight) * minmax(degree[cand].astype(np.float64))
            if step == 0:
                initial[cand] = score
            if not query and degree[cand].max() <= 0:  # ProbCover: nothing left to cover
                best = int(ctx.rng.choice(cand))
                random_picks += 1
            else:
                best = int(cand[np.argmax(score)])
            picks.append(best)
            open_[best] = False
            reached = graph.neighbours(best)
            mark_covered(graph, reached[~covered[reached]], covered, degree)
            if query:
                weight = competence(float(covered.mean()), p.k_logistic, p.a_logistic)
        stats = {"coverage_before": start_coverage, "coverage": float(covered.mean()),
                 "competence_last": weight, "random_picks": random_picks}
        return np.asarray(picks, dtype=np.int64), initial, stats
