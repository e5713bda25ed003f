"""Cluster-based pools: equal quotas per cluster [IP] and round-robin over k-means clusters [CS]."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.ops.distances import l2_normalize
from alpool.ops.kmeans import kmeans
from alpool.ops.ranking import rank_top
from alpool.selectors import SELECTORS
from alpool.selectors.base import (
    NEED_CLUSTERS,
    NEED_EMBEDDINGS,
    NEED_SCORES,
    Selection,
    SelectionContext,
    Selector,
)
from alpool.selectors.common import (
    embeddings_of,
    nan_scores,
    scores_of,
    seed_from,
    spread_evenly,
)

KMEANS = "kmeans"


class ClusterQuotaParams(Params):
    """Options of cluster-quota."""

    clusters: str = Field("scan", description="pretrain task whose cluster ids to use, or 'kmeans' "
                          "to run k-means on --embeddings")
    embeddings: str = Field("simclr", description="pretrain task whose embeddings k-means clusters")
    k: int | None = Field(None, gt=0, description="k-means clusters (default: number of classes)")
    normalize: bool = Field(True, description="L2-normalise the embeddings before k-means")
    remainder: Literal["redistribute", "drop"] = Field(
        "redistribute", description="'redistribute' spreads the remainder and the shortfall of "
        "small clusters; 'drop' is the original's floor(B/K) per cluster")


@SELECTORS.register("cluster-quota")
class ClusterQuotaSelector(Selector):
    """Give every cluster an equal quota of the budget, drawn at random inside the cluster [IP].

    ``K`` is the number of clusters that have candidates. Each gets ``B // K``; with
    ``remainder='redistribute'`` (default) the remainder ``B - K * (B // K)`` and the shortfall of
    clusters with fewer candidates than their quota are spread again over the clusters that still
    have candidates, the last single units going to clusters drawn with ``ctx.rng``.
    Fixes the original, which dropped the remainder (and skipped cluster 1 on CIFAR-100).

    ``remainder='drop'`` reproduces the original's quota exactly: ``min(B // K, size)`` per cluster
    and nothing redistributed. A selection must hold exactly ``B`` images, so when that quota
    adds up to fewer than ``B`` the selector refuses with a :class:`ConfigError` that names the
    budget the original would really have labeled (pass that as ``--budget`` to reproduce it).
    """

    Params = ClusterQuotaParams
    params: ClusterQuotaParams
    needs = frozenset({NEED_CLUSTERS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Allocate quotas per cluster and draw inside each."""
        labels, source = cluster_ids(ctx, self.params)  # [n_cand]
        ids, sizes = np.unique(labels, return_counts=True)
        counts = self._quota(sizes, budget, ctx.rng)
        picks = [ctx.rng.choice(np.flatnonzero(labels == c), size=n, replace=False)
                 for c, n in zip(ids, counts, strict=True) if n > 0]
        info: dict[str, Any] = {"clusters": source, "n_clusters": len(ids),
                                "quota": budget // len(ids), "remainder": self.params.remainder,
                                "cluster_sizes": sizes.tolist(),
                                "picked_per_cluster": counts.tolist()}
        return Selection(ctx.candidates[np.concatenate(picks)].astype(np.int64),
                         nan_scores(len(ctx.candidates)), info)

    def _quota(self, sizes: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
        if self.params.remainder == "redistribute":
            return spread_evenly(sizes, budget, rng)
        quota = budget // len(sizes)
        counts = np.minimum(quota, sizes)
        if counts.sum() != budget:
            raise ConfigError(
                f"cluster-quota with remainder=drop picks only {counts.sum()} of budget {budget} "
                f"({len(sizes)} clusters, quota {quota}); pass --budget {counts.sum()} to "
                "reproduce the original, or use remainder=redistribute")
        return counts


def cluster_ids(ctx: SelectionContext, params: ClusterQuotaParams) -> tuple[np.ndarray, str]:
    """Return the cluster id of every candidate ``[n_cand]`` and a label of where they came from."""
    source = params.clusters
    if source != KMEANS:
        table = np.asarray(ctx.require_inputs(f"the cluster ids of {source!r}").clusters(source))
        if table.shape != (ctx.n_total,):
            raise ConfigError(f"cluster ids of {source!r} have shape {table.shape}, expected "
                              f"[{ctx.n_total}]; re-run `alpool pretrain --task {source}`")
        return table[ctx.candidates].astype(np.int64), source
    x = embeddings_of(ctx, params.embeddings, ctx.candidates)  # [n_cand, D]
    k = min(params.k or ctx.num_classes, len(x))
    if k < 1:
        raise ConfigError("the dataset has no classes yet (unlabeled): give --param k=K clusters")
    result = kmeans(l2_normalize(x, inplace=True) if params.normalize else x, k, ctx.rng, ctx.device)
    return result.labels, f"{result.algorithm}({params.embeddings}, k={k})"


class RoundRobinParams(Params):
    """Options of cluster-round-robin."""

    embeddings: str = Field("simclr", description="pretrain task whose embeddings k-means clusters")
    k: int = Field(30, gt=0, description="number of k-means clusters")
    score: str | None = Field("contrast-confidence", description="scorer ordering each cluster "
                              "(higher first; default hard-to-contrast); 'none' for random order")
    normalize: bool = Field(True, description="L2-normalise the embeddings before clustering")
    projection: Literal["none", "umap"] = Field("none", description="cluster a 2-D UMAP projection "
                                                "(the original's choice; needs umap-learn)")

    @field_validator("score", mode="before")
    @classmethod
    def _none_word(cls, value: object) -> object:
        return None if isinstance(value, str) and value.lower() in {"", "none", "null"} else value


@SELECTORS.register("cluster-round-robin")
class ClusterRoundRobinSelector(Selector):
    """Cluster the candidates by k-means, order each cluster by a score, take clusters in turn [CS].

    The cluster order is a permutation drawn from ``ctx.rng``; in each round every cluster that
    still has candidates gives its best remaining one. The default score ``contrast-confidence`` is
    ``1 - confidence``, so the hardest-to-contrast image of a cluster comes first. The original
    clustered a 2-D UMAP projection; here that is ``projection='umap'`` and raw features are the
    default. Candidate scores are the ordering scores (NaN with ``score='none'``).
    """

    Params = RoundRobinParams
    params: RoundRobinParams
    needs = frozenset({NEED_EMBEDDINGS, NEED_SCORES})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Cluster, order inside clusters, then interleave."""
        p = self.params
        x = embeddings_of(ctx, p.embeddings, ctx.candidates)  # [n_cand, D]
        x = l2_normalize(x, inplace=True) if p.normalize else x
        if p.projection == "umap":
            x = umap_projection(x, ctx.rng)
        k = min(p.k, len(x))
        result = kmeans(x, k, ctx.rng, ctx.device)
        scores = scores_of(ctx, p.score, ctx.candidates) if p.score else nan_scores(len(x))
        order = round_robin(result.labels, scores, ctx.rng)[:budget]
        counts = np.bincount(result.labels[order], minlength=k)
        info = {"k": k, "algorithm": result.algorithm, "score": p.score, "projection": p.projection,
                "picked_per_cluster": counts.tolist()}
        return Selection(ctx.candidates[order].astype(np.int64), scores, info)


def round_robin(groups: np.ndarray, priority: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return every position ordered round-robin over groups in a seeded group order.

    Inside each group positions are ordered by ``priority`` (higher first, ties and NaN broken by
    ``rng``); round ``r`` takes the ``r``-th best of every group that still has one, in the group
    order.
    """
    best_first = rank_top(priority, len(priority), rng)  # [n]
    by_group = best_first[np.argsort(groups[best_first], kind="stable")]
    starts = np.searchsorted(groups[by_group], groups[by_group], side="left")
    rank = np.empty(len(groups), dtype=np.int64)
    rank[by_group] = np.arange(len(groups)) - starts  # position inside its group
    ids = np.unique(groups)
    turn = np.empty(int(ids.max()) + 1, dtype=np.int64)
    turn[ids] = rng.permutation(len(ids))
    return np.lexsort((turn[groups], rank)).astype(np.int64)


def umap_projection(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a seeded 2-D UMAP projection ``[n, 2]`` float32 of ``x``."""
    try:
        import umap  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        raise ConfigError("projection='umap' needs umap-learn: pip install umap-learn "
                          "(or pip install 'alpool[umap]'), or use projection=none") from None
    reducer = umap.UMAP(n_components=2, random_state=seed_from(rng))
    return np.asarray(reducer.fit_transform(x), dtype=np.float32)
