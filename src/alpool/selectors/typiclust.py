"""TypiClust [TC]: the most typical point of the least-labeled large clusters."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from alpool.core.params import Params
from alpool.ops.device import Device
from alpool.ops.distances import CHUNK_ELEMENTS, knn_mean_distance, l2_normalize
from alpool.ops.kmeans import kmeans
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import PointSet, embeddings_of, point_set


class TypiClustParams(Params):
    """Options of typiclust."""

    embeddings: str = Field("simclr", description="pretrain task whose (self-supervised) "
                            "embeddings to use")
    max_clusters: int = Field(500, gt=0, description="upper bound on the number of clusters")
    min_cluster_size: int = Field(5, ge=0, description="only clusters with more points are used")
    knn: int = Field(20, gt=0, description="neighbours of the typicality (at most size // 2)")
    chunk_elements: int = Field(CHUNK_ELEMENTS, gt=0, description="distance entries per block")
    rule: Literal["alpool", "reference"] = Field(
        "alpool", description="'alpool': cluster order recounted after each pick, typicality over "
        "all cluster points; 'reference': the paper's code (clusters sorted once, typicality "
        "recomputed over the unlabelled points after every pick)")


@SELECTORS.register("typiclust")
class TypiClustSelector(Selector):
    """Pick the most typical unlabeled point of the clusters with the fewest labeled points [TC].

    The labeled and candidate points are clustered together by k-means (on L2-normalised
    embeddings) into ``min(|L| + B, max_clusters)`` clusters. ``B`` times: among clusters of more
    than ``min_cluster_size`` points that still hold a candidate, take the one with the fewest
    labeled points (ties: the larger cluster, then the lower id), pick its most typical candidate
    and count it as labeled. Typicality is ``1 / mean distance`` to the ``k = min(knn, size // 2)``
    nearest neighbours inside the cluster, with the *Euclidean* distance: the reference code used
    squared distances, which changes the order (fixed here).

    Typicality is computed once per selection over every point of the cluster, labeled ones
    included, and a cluster's next pick is its next most typical candidate: a point picked in this
    selection stays in its cluster's density estimate, exactly as points labeled in earlier rounds
    do (a decision of alpool; it keeps one definition of a cluster for the whole selection).
    Memory: k-means is scikit-learn's (mini-batches for large ``n * k``) and the k-NN
    distances are computed per cluster in row blocks of ``chunk_elements``; nothing is ``N x N``.

    Fallback (tiny data, or budgets close to the number of candidates): when no cluster of more
    than ``min_cluster_size`` points has a candidate left, the size rule is dropped for the pick and
    the same order applies to every cluster; a cluster of one point has typicality 0. The number of
    such picks is recorded as ``info['fallback_picks']``.

    ``rule='reference'`` follows the reference code instead: the clusters of more than
    ``min_cluster_size`` points are sorted once (fewest labeled, then larger, then lower id) and
    visited round-robin; at each visit the typicality is recomputed over the cluster's points that
    are still unlabelled (labeled and already picked points left out) with
    ``k = min(knn, size // 2)``, and the most typical one is picked. A cluster without candidates
    left drops out of the rotation; when none is left the small clusters join it (counted as
    fallback picks). The distance stays Euclidean under both rules.

    Candidate scores are the typicalities (NaN in clusters of one point).
    """

    Params = TypiClustParams
    params: TypiClustParams
    needs = frozenset({NEED_EMBEDDINGS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Cluster labeled and candidate points, then pick typical points cluster by cluster."""
        p = self.params
        points = point_set(ctx)
        x = l2_normalize(embeddings_of(ctx, p.embeddings, points.indices), inplace=True)  # [n, D]
        k = min(points.n_labeled + budget, p.max_clusters, len(x))
        clustering = kmeans(x, k, ctx.rng, ctx.device)
        typical = typicality(x, clustering.labels, p.knn, p.chunk_elements, ctx.device)  # [n]
        if p.rule == "reference":
            picks, fallback = pick_reference(x, points, clustering.labels, budget, p.min_cluster_size,
                                             p.knn, ctx.device)
        else:
            picks, fallback = pick_typical(points, clustering.labels, typical, budget,
                                           p.min_cluster_size)
        sizes = np.bincount(clustering.labels, minlength=k)
        info: dict[str, Any] = {"n_clusters": k, "algorithm": clustering.algorithm,
                                "clusters_used": int(len(np.unique(clustering.labels[picks]))),
                                "large_clusters": int((sizes > p.min_cluster_size).sum()),
                                "fallback_picks": fallback, "rule": p.rule}
        scores = typical[:points.n_candidates]
        return Selection(points.indices[picks].astype(np.int64), scores, info)


def typicality(x: np.ndarray, labels: np.ndarray, knn: int,
               chunk_elements: int = CHUNK_ELEMENTS, device: Device = None) -> np.ndarray:
    """Return ``[n]`` typicality, 1 / mean Euclidean distance to ``min(knn, size // 2)`` neighbours.

    Neighbours are searched inside each point's cluster only. Points of clusters of one point
    get NaN; coincident neighbours (mean distance 0) get ``inf``.
    """
    out = np.full(len(x), np.nan)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        k = min(knn, len(members) // 2)
        if k < 1:
            continue
        with np.errstate(divide="ignore"):
            out[members] = 1.0 / knn_mean_distance(x[members], k, chunk_elements, device)
    return out


def pick_typical(points: PointSet, labels: np.ndarray, typical: np.ndarray, budget: int,
                 min_size: int) -> tuple[np.ndarray, int]:
    """Return ``budget`` picked positions (candidates only) in pick order and the fallback count.

    Args:
        points: candidates then labeled points.
        labels: ``[n]`` cluster of each position.
        typical: ``[n]`` typicality of each position (NaN = 0).
        budget: number of picks.
        min_size: clusters must have more points than this, unless none with candidates is left.
    """
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=k)
    n_labeled = np.bincount(labels[points.n_candidates:], minlength=k)  # [k]
    cand = np.arange(points.n_candidates)
    # Candidates of each cluster, most typical first (ties: lower position).
    key = np.nan_to_num(typical[cand], nan=0.0)
    ranked = cand[np.lexsort((cand, -key, labels[cand]))]
    starts = np.searchsorted(labels[ranked], np.arange(k + 1))  # c: ranked[starts[c]:starts[c+1]]
    taken = np.zeros(k, dtype=np.int64)  # candidates already picked per cluster
    picks, fallback = [], 0
    for _ in range(budget):
        open_ = taken < np.diff(starts)
        eligible = open_ & (sizes > min_size)
        if not eligible.any():
            eligible, fallback = open_, fallback + 1
        ids = np.flatnonzero(eligible)
        best = ids[np.lexsort((ids, -sizes[ids], n_labeled[ids]))[0]]
        picks.append(ranked[starts[best] + taken[best]])
        taken[best] += 1
        n_labeled[best] += 1
    return np.asarray(picks, dtype=np.int64), fallback


def pick_reference(x: np.ndarray, points: PointSet, labels: np.ndarray, budget: int, min_size: int,
                   knn: int, device: Device = None) -> tuple[np.ndarray, int]:
    """Return ``budget`` picks by the reference code's rule and the number of fallback picks.

    Clusters are sorted once and visited round-robin; each visit recomputes the typicality of the
    cluster's remaining candidates and takes the most typical (ties: lower position).
    """
    k = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=k)
    n_labeled = np.bincount(labels[points.n_candidates:], minlength=k)
    cand = np.arange(points.n_candidates)
    members = {int(c): list(cand[labels[cand] == c]) for c in np.unique(labels[cand])}
    ids = np.arange(k)
    sorted_ids = ids[np.lexsort((ids, -sizes, n_labeled))]
    rotation = [int(c) for c in sorted_ids if sizes[c] > min_size and c in members]
    small = [int(c) for c in sorted_ids if sizes[c] <= min_size and c in members]
    picks: list[int] = []
    fallback, turn = 0, 0
    while len(picks) < budget:
        if not rotation:
            rotation, small = small, []
        cluster = rotation[turn % len(rotation)]
        pool = np.asarray(members[cluster])
        picks.append(_most_typical(x, pool, knn, device))
        fallback += int(sizes[cluster] <= min_size)
        members[cluster].remove(picks[-1])
        if members[cluster]:
            turn += 1
        else:
            rotation.remove(cluster)  # the next cluster moves into this slot
            turn = turn % max(len(rotation), 1)
    return np.asarray(picks, dtype=np.int64), fallback


def _most_typical(x: np.ndarray, pool: np.ndarray, knn: int, device: Device) -> int:
    """Return the position in ``pool`` of highest typicality among ``pool`` (the first if k < 1)."""
    k = min(knn, len(pool) // 2)
    if k < 1:
        return int(pool[0])
    mean_distance = knn_mean_distance(x[pool], k, device=device)
    return int(pool[np.argmin(mean_distance)])
