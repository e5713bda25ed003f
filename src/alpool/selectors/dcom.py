"""DCoM (Mishal & Weinshall, arXiv 2407.01804): ProbCover with a radius per labeled point, mixing
density and margin uncertainty by how much of the data the labeled balls already cover."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from alpool.core import reporting
from alpool.core.params import Params
from alpool.ops.balls import covered_by_balls, purity_radii, radius_for_mean_degree
from alpool.ops.distances import CHUNK_ELEMENTS, l2_normalize
from alpool.ops.graph import Graph, GraphTooLarge, mark_covered, radius_graph
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import PointSet, embeddings_of, point_set
from alpool.selectors.graph_cache import GraphCache
from alpool.selectors.probcover import build_graph, warn_low_coverage

MIN_EDGES = 1 << 25  # graphs up to this many edges (128 MiB of targets) are always allowed


class DCoMParams(Params):
    """Options of dcom."""

    embeddings: str = Field("simclr", description="pretrain task whose (self-supervised) "
                            "embeddings to use")
    initial_delta: float | None = Field(None, gt=0, description="radius of new points (and of the "
                                        "initial pool's graph); default: the radius whose ball holds "
                                        "n / (budget + labeled) points on average, at most "
                                        "max_mean_degree / 2")
    max_delta: float = Field(1.1, gt=0, description="upper end of the per-point radius search")
    resolution: float = Field(0.05, gt=0, description="binary-search resolution of the radii")
    k_logistic: float = Field(50.0, gt=0, description="steepness of the competence curve")
    a_logistic: float = Field(0.8, ge=0, le=1, description="coverage at the competence midpoint")
    radius_update: Literal["newest", "all"] = Field(
        "newest", description="'newest': only points without a radius from an earlier round get one "
        "(the reference); 'all': every labeled radius is recomputed from the current model")
    competence_per_pick: bool = Field(False, description="recompute the competence after every pick "
                                      "(the reference computes it once per query)")
    min_coverage: float = Field(0.0, ge=0, le=1, description="warn when the coverage after the "
                                "picks is below this")
    max_mean_degree: float = Field(1000.0, gt=0, description="graphs with more edges per point than "
                                   "this (and more than 2^25 edges) use the largest radius that fits "
                                   "(memory guard)")
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

    As an AL query (a classifier is given), as the reference code does it:

    - Radii: every labeled point keeps the radius it got in an earlier round of the same trial
      (``ctx.state``: kept in the episode folder by al-run, in the round's pool by ``next``); a
      point without one (the newest) starts at the mean of the kept radii (``initial_delta`` when
      none is kept), and the share covered by these balls gives the purity threshold
      ``0.2 * coverage + 0.4``. Each newest point then gets the largest radius on
      ``[0, max_delta]`` (binary search, ``resolution``) whose ball is at least that pure, purity
      being the share of the ball's points whose *predicted* label equals the centre's *annotated*
      label (``ctx.labeled_labels``; the centre's predicted label only where the caller has no
      annotations, recorded as ``centre_label='predicted'``).
      ``radius_update='all'`` recomputes every labeled radius instead (alpool's earlier rule).
    - Greedy: the points inside the labeled balls are covered; then ``B`` times, on the graph of
      the mean labeled radius, each open candidate scores ``c * margin + (1 - c) * density`` (both
      min-max normalised over the open candidates; density = uncovered points in its ball, margin =
      ``1 - (p1 - p2)``); the best (ties: lowest position) is picked and its ball covered. The
      competence ``c = p / (1 + exp(-k (coverage - a)))`` (k = 50, a = 0.8, ``p`` making it 1 at full
      coverage) is computed once per query from the coverage of the labeled balls, as the
      reference does; ``competence_per_pick`` recomputes it after every pick.

    As an initial pool (no classifier) it is ProbCover with radius ``initial_delta``: density
    only, labeled points (if any) covering balls of ``initial_delta``, and uniform picks
    (``ctx.rng``) once nothing is left to cover. Candidate scores are the first pick's scores.

    ``initial_delta`` defaults to a data rule (the reference hand-set 0.75 for CIFAR-10 SimCLR
    features, a constant that on other embeddings gives a graph of every point): the radius whose
    ball holds ``n / (B + L)`` points on average, one pick's share of the points, at most
    ``max_mean_degree / 2`` (:func:`alpool.ops.balls.radius_for_mean_degree`). When the mean
    labeled radius gives a graph above ``max_mean_degree`` edges per point, the largest radius
    that fits (mean degree ``max_mean_degree / 2``) is used and recorded (``delta_capped_from``).
    The default radius and the initial pool's graph are cached under ``<run>/cache/dcom/``, keyed by the
    embeddings' hash (:mod:`alpool.selectors.graph_cache`), so further pools reuse them.
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
        degree_limit = max(p.max_mean_degree, MIN_EDGES / len(x))  # small sets: any graph fits
        cache = GraphCache.open(ctx, "dcom", x)
        initial, info = self._initial_delta(x, budget + len(labeled), degree_limit, ctx.device, cache)
        margin, radii, terms = self._model_terms(ctx, x, points, labeled, initial)
        info.update(terms)
        covered = covered_by_balls(x, labeled, radii, p.chunk_elements, ctx.device)
        delta = float(radii.mean()) if len(radii) else initial
        kept = cache if info["mode"] == "initial" else GraphCache(None, "")  # a query's radius is new each round
        graph, delta = self._graph(x, delta, degree_limit, ctx.device, info, kept)
        picks, first_scores, stats = self._greedy(graph, points, covered, margin, budget, ctx,
                                                  info["mode"] == "query")
        info.update(delta=delta, n_edges=graph.n_edges, **stats)
        warn_low_coverage("dcom", info, budget, p.min_coverage)
        state = None
        if info["mode"] == "query":
            state = {"indices": points.indices[labeled].astype(np.int64), "radii": radii.astype(np.float64)}
        return Selection(points.indices[picks].astype(np.int64), first_scores, info, state)

    def _initial_delta(self, x: np.ndarray, share_of: int, degree_limit: float, device: str,
                       cache: GraphCache) -> tuple[float, dict[str, Any]]:
        """Return ``initial_delta`` (given, or the one-pick-share rule) and how it was chosen."""
        p = self.params
        if p.initial_delta is not None:
            return p.initial_delta, {"initial_delta": p.initial_delta, "initial_delta_rule": "given"}
        degree = min(len(x) / max(1, share_of), degree_limit / 2)
        key = f"initial-delta:degree={degree!r}"
        found = cache.load_json(key)
        if found is None:
            found = {"delta": radius_for_mean_degree(x, degree, chunk_elements=p.chunk_elements, device=device)}
            cache.save_json(key, found)
        return float(found["delta"]), {"initial_delta": float(found["delta"]),
                                       "initial_delta_rule": f"mean degree {degree:.0f}"}

    def _graph(self, x: np.ndarray, delta: float, degree_limit: float, device: str,
               info: dict[str, Any], cache: GraphCache) -> tuple[Graph, float]:
        """Return the ball graph of ``delta``, or of the largest radius that fits the memory guard."""
        p = self.params
        graph = cache.load_graph(delta)
        if graph is not None:
            return graph, delta
        try:
            graph = radius_graph(x, delta, int(degree_limit * len(x)), p.chunk_elements, device)
        except GraphTooLarge:
            capped = radius_for_mean_degree(x, degree_limit / 2, chunk_elements=p.chunk_elements,
                                            device=device)
            reporting.info(f"dcom: the graph of radius {delta:.3g} passes max_mean_degree="
                           f"{p.max_mean_degree:g}; using radius {capped:.3g} (mean degree about "
                           f"{degree_limit / 2:.0f})")
            info["delta_capped_from"] = delta
            return build_graph(x, capped, degree_limit, p.chunk_elements, device), capped
        cache.save_graph(delta, graph)
        return graph, delta

    def _model_terms(self, ctx: SelectionContext, x: np.ndarray, points: PointSet, labeled: np.ndarray,
                     initial: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Return the candidates' margin uncertainty, the labeled radii and what was used."""
        p = self.params
        if ctx.classifier is None or len(labeled) == 0:
            radii = np.full(len(labeled), initial)
            return np.zeros(points.n_candidates), radii, {"mode": "initial", "competence_k": 0}
        proba = np.asarray(ctx.classifier.predict_proba(points.indices), dtype=np.float64)  # [n, K]
        top = np.sort(proba, axis=1)[:, ::-1]
        margin = 1.0 - (top[:, 0] - top[:, 1]) if proba.shape[1] > 1 else np.zeros(len(proba))
        predicted = proba.argmax(1)
        radii, fresh = kept_radii(ctx.state, points.indices[labeled], initial)
        if p.radius_update == "all":
            fresh[:] = True
        start = covered_by_balls(x, labeled, radii, p.chunk_elements, ctx.device).mean()
        threshold = 0.2 * float(start) + 0.4
        own, centre_label = annotated_labels(ctx, points.indices[labeled], predicted[labeled])
        if fresh.any():
            radii[fresh] = purity_radii(x, labeled[fresh], predicted, threshold, p.max_delta, p.resolution,
                                        p.chunk_elements, ctx.device, centre_labels=own[fresh])
        info = {"mode": "query", "purity_threshold": threshold, "radius_mean": float(radii.mean()),
                "radius_min": float(radii.min()), "radius_max": float(radii.max()),
                "radii_updated": int(fresh.sum()), "radii_kept": int((~fresh).sum()),
                "centre_label": centre_label, "competence_k": p.k_logistic}
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
            if query and p.competence_per_pick:
                weight = competence(float(covered.mean()), p.k_logistic, p.a_logistic)
        stats = {"coverage_before": start_coverage, "coverage": float(covered.mean()),
                 "competence": weight, "random_picks": random_picks}
        return np.asarray(picks, dtype=np.int64), initial, stats


def kept_radii(state: dict[str, np.ndarray] | None, labeled: np.ndarray,
               initial: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the labeled points' radii from an earlier round and which points have none yet.

    Points without a kept radius start at the mean of the kept ones (``initial`` when none is kept),
    as the reference's new points do.

    Args:
        state: the previous round's ``{"indices": [M] int64, "radii": [M] float64}`` or None.
        labeled: int64 ``[L]`` dataset indices of the labeled points.
        initial: the radius of new points when nothing is kept.

    Returns:
        float64 ``[L]`` radii and bool ``[L]`` True where the point is new.
    """
    radii = np.full(len(labeled), np.nan)
    if state is not None and len(state.get("indices", [])):
        known = dict(zip(np.asarray(state["indices"]).tolist(), np.asarray(state["radii"]).tolist(), strict=True))
        radii = np.array([known.get(int(i), np.nan) for i in labeled], dtype=np.float64)
    fresh = np.isnan(radii)
    start = float(np.nanmean(radii)) if (~fresh).any() else initial
    radii[fresh] = start
    return radii, fresh


def annotated_labels(ctx: SelectionContext, labeled: np.ndarray,
                     predicted: np.ndarray) -> tuple[np.ndarray, str]:
    """Return the labeled points' annotated labels (in ``labeled`` order), or the predicted ones."""
    if ctx.labeled_labels is None or len(ctx.labeled_labels) != len(ctx.labeled):
        return predicted, "predicted"
    by_index = dict(zip(np.asarray(ctx.labeled).tolist(), np.asarray(ctx.labeled_labels).tolist(), strict=True))
    return np.array([by_index[int(i)] for i in labeled], dtype=np.int64), "annotated"
