"""ProbCover [PC]: greedy maximum coverage of delta-balls on normalised embeddings."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from alpool.core import reporting
from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.ops.balls import radius_for_mean_degree
from alpool.ops.distances import CHUNK_ELEMENTS, l2_normalize
from alpool.ops.graph import Graph, GraphTooLarge, cover, radius_graph
from alpool.ops.kmeans import kmeans
from alpool.ops.purity import purity_graph
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import PointSet, embeddings_of, point_set
from alpool.selectors.graph_cache import GraphCache

DEFAULT_PSEUDO_CLASSES = 10  # pseudo-labels of the purity rule when the dataset has no classes


class ProbCoverParams(Params):
    """Options of probcover."""

    embeddings: str = Field("simclr", description="pretrain task whose (self-supervised) "
                            "embeddings to use")
    delta: float | None = Field(None, gt=0, description="ball radius; default: the purity rule")
    purity: float = Field(0.95, gt=0, le=1, description="share of pure balls delta must keep")
    pseudo_classes: int | None = Field(None, gt=1, description="k-means pseudo-labels of the "
                                       "purity rule (default: number of classes, 10 without labels)")
    kmeans_inits: int = Field(10, gt=0, description="k-means restarts of the pseudo-labels (lowest "
                              "inertia kept)")
    pseudo_seed: int = Field(0, description="seed of the pseudo-label k-means: the radius belongs "
                             "to the embedding, not to one pool draw")
    min_coverage: float = Field(0.25, ge=0, le=1, description="warn when the balls of the budget "
                                "cover less than this share of the points")
    cache: bool = Field(True, description="keep the radius and graph in <run>/cache/probcover/ "
                        "keyed by the embeddings' hash, so further pools reuse them")
    max_mean_degree: float = Field(1000.0, gt=0, description="refuse graphs with more edges per "
                                   "point than this (memory guard)")
    chunk_elements: int = Field(CHUNK_ELEMENTS, gt=0, description="distance entries per block")


@SELECTORS.register("probcover")
class ProbCoverSelector(Selector):
    """Pick the candidates whose delta-balls cover the most still-uncovered points [PC].

    On L2-normalised embeddings of the labeled and candidate points, ``x -> y`` is an edge when
    ``||x - y|| < delta``. Points covered by the labeled set are removed first; then ``B`` times
    the candidate covering the most uncovered points is picked (ties: lowest position) and what it
    covers is removed. Once everything is covered the remaining picks are uniform among the
    candidates (``ctx.rng``); the reference code kept picking index 0.

    ``delta`` defaults to the paper's purity rule, which the reference code never implemented (it
    hand-set 0.75 for CIFAR-10): the largest delta such that at least ``purity`` of the balls are
    pure with respect to k-means pseudo-labels (:mod:`alpool.ops.purity`: one shared distance pass
    for the radius and the graph, float64 near the radius, so the purity reached is exact). The
    pseudo-labels come from ``kmeans_inits`` k-means restarts seeded by ``pseudo_seed``, with
    K = ``pseudo_classes`` (default: the number of classes; 10 for a dataset without labels).

    The coverage the radius reaches at the budget is recorded (``info['coverage']``) and a one-line
    warning is printed when it is below ``min_coverage``: a radius so small that the balls cover
    little gives pools no better than random; pass ``--param delta=...`` or lower ``purity``.
    The radius and graph are cached per (embeddings, radius) under ``<run>/cache/probcover/``.

    The graph is built in row blocks, the last partial block included (the reference dropped it),
    and kept sparse (CSR, int32 targets); a graph with more than ``max_mean_degree * n`` edges is
    refused with a :class:`ConfigError` instead of exhausting memory.

    Candidate scores are how many uncovered points each candidate covered before the first pick.
    """

    Params = ProbCoverParams
    params: ProbCoverParams
    needs = frozenset({NEED_EMBEDDINGS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Build the delta-ball graph and cover it greedily."""
        p = self.params
        points = point_set(ctx)
        x = l2_normalize(embeddings_of(ctx, p.embeddings, points.indices), inplace=True)  # [n, D]
        cache = GraphCache.open(ctx, "probcover", x) if p.cache else GraphCache(None, "")
        delta, graph, info = radius_and_graph(x, p, ctx, cache)
        picks, initial, stats = greedy_cover(graph, points, budget, ctx.rng)
        info.update(delta=float(delta), n_edges=graph.n_edges, mean_degree=graph.n_edges / len(x),
                    **stats)
        warn_low_coverage("probcover", info, budget, p.min_coverage)
        return Selection(points.indices[picks].astype(np.int64), initial, info)


def pseudo_class_count(p: ProbCoverParams, num_classes: int, n: int) -> tuple[int, str]:
    """Return K of the pseudo-labels and where it came from."""
    if p.pseudo_classes is not None:
        return min(p.pseudo_classes, n), "param"
    if num_classes >= 2:
        return min(num_classes, n), "classes"
    return min(DEFAULT_PSEUDO_CLASSES, n), "default"


def radius_and_graph(x: np.ndarray, p: ProbCoverParams, ctx: SelectionContext,
                     cache: GraphCache) -> tuple[float, Graph, dict[str, Any]]:
    """Return delta (given, cached or by the purity rule), its graph, and what was done."""
    max_edges = int(p.max_mean_degree * len(x))
    info: dict[str, Any]
    if p.delta is not None:
        delta, info, graph = p.delta, {"delta_rule": "given"}, None
    else:
        k, source = pseudo_class_count(p, ctx.num_classes, len(x))
        key = f"purity={p.purity!r},k={k},inits={p.kmeans_inits},seed={p.pseudo_seed}"
        found = cache.load_json(key)
        info = {"delta_rule": "purity", "pseudo_classes": k, "pseudo_classes_from": source}
        if found is not None:
            delta, graph = float(found["delta"]), None
            info.update(purity_achieved=found["purity_achieved"], radius_cache="hit")
        else:
            delta, graph, achieved = _purity_search(x, p, k, ctx.device, max_edges)
            cache.save_json(key, {"delta": delta, "purity_achieved": achieved})
            info.update(purity_achieved=achieved, radius_cache="miss" if cache.folder else "off")
    loaded = cache.load_graph(delta) if graph is None else None
    info["graph_cache"] = "hit" if loaded is not None else ("miss" if cache.folder else "off")
    graph = graph or loaded or build_graph(x, delta, p.max_mean_degree, p.chunk_elements, ctx.device)
    if loaded is None:
        cache.save_graph(delta, graph)
    return float(delta), graph, info


def _purity_search(x: np.ndarray, p: ProbCoverParams, k: int, device: str,
                   max_edges: int) -> tuple[float, Graph, float]:
    """Return the purity radius, its graph and the purity reached (one distance pass)."""
    pseudo = kmeans(x, k, np.random.default_rng(p.pseudo_seed), device, n_init=p.kmeans_inits).labels
    if len(np.unique(pseudo)) < 2:
        raise ConfigError("probcover: the purity rule needs at least two pseudo-classes, but "
                          "k-means found one; pass --param delta=VALUE")
    try:
        result = purity_graph(x, pseudo, p.purity, max_edges, p.chunk_elements, device)
    except GraphTooLarge as exc:
        raise _too_large(x, float("nan"), exc.edges_per_point, p.max_mean_degree, p.chunk_elements,
                         device) from None
    if result.graph is None:
        raise ConfigError(f"probcover: the purity rule gives delta={result.delta:g} (points coincide "
                          "with a point of another pseudo-label); pass --param delta=VALUE")
    return result.delta, result.graph, result.achieved


def build_graph(x: np.ndarray, delta: float, max_mean_degree: float, chunk_elements: int,
                device: str = "cpu") -> Graph:
    """Return the delta-ball graph or a :class:`ConfigError` when it is too large."""
    try:
        return radius_graph(x, delta, int(max_mean_degree * len(x)), chunk_elements, device)
    except GraphTooLarge as exc:
        raise _too_large(x, delta, exc.edges_per_point, max_mean_degree, chunk_elements, device) from None


def _too_large(x: np.ndarray, delta: float, degree: float, limit: float, chunk_elements: int,
               device: str) -> ConfigError:
    """Return the refusal of a graph past the memory guard, with a radius that fits."""
    fits = radius_for_mean_degree(x, limit / 2, chunk_elements=chunk_elements, device=device)
    return ConfigError(f"probcover graph with delta={delta:.4g} has a mean degree above {degree:.0f} "
                       f"(limit max_mean_degree={limit:g}); --param delta={fits:.3g} keeps it near "
                       f"{limit / 2:.0f} (or raise --param max_mean_degree=...)")


def warn_low_coverage(name: str, info: dict[str, Any], budget: int, min_coverage: float) -> None:
    """Report the coverage the balls of the budget reach; warn when it is below ``min_coverage``."""
    coverage = float(info["coverage"])
    info["low_coverage"] = coverage < min_coverage
    reporting.info(f"{name}: delta={info['delta']:.3g} covers {coverage:.1%} of the points with "
                   f"{budget} picks")
    if info["low_coverage"]:
        reporting.warning(f"{name} delta={info['delta']:.3g} covers only {coverage:.0%} of "
                          f"the points with {budget} picks (min_coverage={min_coverage:g}); a larger "
                          "--param delta=... or a lower --param purity=... covers more")


def greedy_cover(graph: Graph, points: PointSet, budget: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Pick ``budget`` candidates greedily by uncovered out-degree.

    Returns:
        The picked positions in order, the candidates' uncovered degree before the first pick
        (``[n_candidates]`` float), and coverage statistics.
    """
    n = len(points.indices)
    covered = np.zeros(n, dtype=bool)
    degree = graph.degrees().astype(np.int64)  # [n] uncovered points each one covers
    cover(graph, np.arange(points.n_candidates, n), covered, degree)
    initial = degree[:points.n_candidates].astype(np.float64)
    covered_by_labeled = float(covered.mean())
    open_ = np.ones(points.n_candidates, dtype=bool)  # candidates not picked yet
    picks, random_picks = [], 0
    for _ in range(budget):
        gains = np.where(open_, degree[:points.n_candidates], -1)
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            best = int(rng.choice(np.flatnonzero(open_)))
            random_picks += 1
        picks.append(best)
        open_[best] = False
        cover(graph, np.array([best]), covered, degree)
    stats = {"covered_by_labeled": covered_by_labeled, "coverage": float(covered.mean()),
             "random_picks": random_picks}
    return np.asarray(picks, dtype=np.int64), initial, stats
