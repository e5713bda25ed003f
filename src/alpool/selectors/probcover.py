"""ProbCover [PC]: greedy maximum coverage of delta-balls on normalised embeddings."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from alpool.errors import ConfigError
from alpool.params import Params
from alpool.selectors.base import NEED_EMBEDDINGS, SELECTORS, Selection, SelectionContext, Selector
from alpool.selectors.clustering import kmeans
from alpool.selectors.common import PointSet, embeddings_of, point_set
from alpool.selectors.geometry import (
    CHUNK_ELEMENTS,
    Graph,
    GraphTooLarge,
    l2_normalize,
    nearest_other_label_distance,
    radius_graph,
)


class ProbCoverParams(Params):
    """Options of probcover."""

    embeddings: str = Field("simclr", description="pretrain task whose (self-supervised) "
                            "embeddings to use")
    delta: float | None = Field(None, gt=0, description="ball radius; default: the purity rule")
    purity: float = Field(0.95, gt=0, le=1, description="share of pure balls delta must keep")
    pseudo_classes: int | None = Field(None, gt=1, description="k-means pseudo-labels of the "
                                       "purity rule (default: number of classes)")
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
    pure with respect to k-means pseudo-labels with K = number of classes. A ball around ``x`` is
    pure iff no point with another pseudo-label lies closer than delta, i.e. iff
    ``delta <= d(x)``, the distance to the nearest point with another label. So purity(delta) is the
    share of ``d(x) >= delta`` and the largest delta keeping ``purity`` is exactly the order
    statistic ``sorted(d)[floor((1 - purity) * n)]``: no grid search needed.

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
        info: dict[str, Any] = {}
        delta = p.delta
        if delta is None:
            k = min(p.pseudo_classes or ctx.num_classes, len(x))
            if k < 1:
                raise ConfigError("the dataset has no classes yet (unlabeled): give --param pseudo_classes=K "
                                  "(your guess of the number of kinds) or --param delta=D")
            pseudo = kmeans(x, k, ctx.rng).labels  # [n]
            delta, achieved = purity_delta(x, pseudo, p.purity, p.chunk_elements)
            info.update(delta_rule="purity", pseudo_classes=k, purity_achieved=achieved)
        else:
            info.update(delta_rule="given")
        graph = build_graph(x, delta, p.max_mean_degree, p.chunk_elements)
        picks, initial, stats = greedy_cover(graph, points, budget, ctx.rng)
        info.update(delta=float(delta), n_edges=graph.n_edges,
                    mean_degree=graph.n_edges / len(x), **stats)
        return Selection(points.indices[picks].astype(np.int64), initial, info)


def purity_delta(x: np.ndarray, pseudo: np.ndarray, purity: float,
                 chunk_elements: int = CHUNK_ELEMENTS) -> tuple[float, float]:
    """Return the largest delta whose balls are at least ``purity`` pure, and the purity it reaches.

    Args:
        x: ``[n, d]`` points.
        pseudo: ``[n]`` pseudo-labels.
        purity: required share of pure balls.
        chunk_elements: entries per distance block.
    """
    d = np.sort(nearest_other_label_distance(x, pseudo, chunk_elements))  # [n]
    m = min(int(np.floor((1.0 - purity) * len(d) + 1e-9)), len(d) - 1)
    delta = float(d[m])
    if not np.isfinite(delta):
        raise ConfigError("probcover: the purity rule needs at least two pseudo-classes, but "
                          "k-means found one; pass --param delta=VALUE")
    if delta <= 0.0:
        raise ConfigError(f"probcover: the purity rule gives delta=0 ({(d == 0).mean():.0%} of "
                          "points coincide with a point of another pseudo-label); pass "
                          "--param delta=VALUE")
    return delta, float((d >= delta).mean())


def build_graph(x: np.ndarray, delta: float, max_mean_degree: float, chunk_elements: int) -> Graph:
    """Return the delta-ball graph or a :class:`ConfigError` when it is too large."""
    try:
        return radius_graph(x, delta, int(max_mean_degree * len(x)), chunk_elements)
    except GraphTooLarge as exc:
        raise ConfigError(f"probcover graph with delta={delta:.4g} has a mean degree above "
                          f"{exc.edges_per_point:.0f} (limit max_mean_degree={max_mean_degree:g}); "
                          "lower --param delta=... or raise --param max_mean_degree=...") from None


def greedy_cover(graph: Graph, points: PointSet, budget: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Pick ``budget`` candidates greedily by uncovered out-degree.

    The graph is symmetric (distances are), so the points covering ``y`` are ``y``'s neighbours and
    one pick costs the degrees of what it newly covers.

    Returns:
        The picked positions in order, the candidates' uncovered degree before the first pick
        (``[n_candidates]`` float), and coverage statistics.
    """
    n = len(points.indices)
    covered = np.zeros(n, dtype=bool)
    degree = graph.degrees().astype(np.int64)  # [n] uncovered points each one covers
    _cover(graph, np.arange(points.n_candidates, n), covered, degree)
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
        _cover(graph, np.array([best]), covered, degree)
    stats = {"covered_by_labeled": covered_by_labeled, "coverage": float(covered.mean()),
             "random_picks": random_picks}
    return np.asarray(picks, dtype=np.int64), initial, stats


def _cover(graph: Graph, sources: np.ndarray, covered: np.ndarray, degree: np.ndarray) -> None:
    """Mark everything ``sources`` reach as covered and lower the degrees of what covered it."""
    reached = np.unique(graph.neighbours_of_many(sources))
    new = reached[~covered[reached]]
    if len(new) == 0:
        return
    covered[new] = True
    np.subtract.at(degree, graph.neighbours_of_many(new), 1)
