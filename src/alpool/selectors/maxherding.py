"""MaxHerding (Bae, Noh & Sutherland, ECCV 2024, arXiv 2407.12212): greedy generalised coverage."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field

from alpool.core import reporting
from alpool.core.params import Params
from alpool.ops.distances import CHUNK_ELEMENTS, knn, l2_normalize
from alpool.ops.herding import coverage_of, greedy_herding, kernel_from_knn
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import PointSet, embeddings_of, point_set
from alpool.selectors.graph_cache import GraphCache


class MaxHerdingParams(Params):
    """Options of maxherding."""

    embeddings: str = Field("simclr", description="pretrain task whose (self-supervised) "
                            "embeddings to use")
    sigma: float | None = Field(None, gt=0, description="Gaussian kernel bandwidth on the unit "
                                "sphere; default: half the median distance to the last kept neighbour")
    neighbours: int | None = Field(None, gt=0, description="kernel entries kept per point (sparse "
                                   "kernel); default: n / (budget + labeled), within [min_neighbours, "
                                   "max_neighbours]")
    min_neighbours: int = Field(20, gt=0, description="lower end of the default neighbours")
    max_neighbours: int = Field(300, gt=0, description="upper end of the default neighbours "
                                "(memory: about 32 bytes x n x neighbours)")
    subsample: bool = Field(True, description="where the share of the points one pick has to cover, "
                            "n / (budget + labeled), exceeds the neighbours, build the kernel on a seeded "
                            "random sample of neighbours x (budget + labeled) points (every labeled point "
                            "kept) so each kept neighbourhood still spans that share; the picks then "
                            "depend on the seed. false: all points, a kernel narrower than the share")
    cache: bool = Field(True, description="keep the kNN lists in <run>/cache/maxherding/ keyed by the "
                        "embeddings' hash, so further pools reuse them")
    chunk_elements: int = Field(CHUNK_ELEMENTS, gt=0, description="distance entries per block")


def share_per_pick(n: int, budget: int, n_labeled: int) -> int:
    """Return the points one pick has to cover: ``n / (budget + labeled)`` rounded up."""
    return math.ceil(n / max(1, budget + n_labeled))


def default_neighbours(p: MaxHerdingParams, n: int, budget: int, n_labeled: int) -> int:
    """Return the kept neighbours: about the share of the points one pick has to cover."""
    if p.neighbours is not None:
        return min(p.neighbours, n - 1)
    share = share_per_pick(n, budget, n_labeled)
    return max(1, min(n - 1, max(p.min_neighbours, min(p.max_neighbours, share))))


def sampled_candidates(p: MaxHerdingParams, n_candidates: int, budget: int, n_labeled: int,
                       rng: np.random.Generator) -> np.ndarray | None:
    """Return the sorted candidate positions the kernel is built on, or None for all of them.

    With ``n`` points and ``k`` kept neighbours, a pick covers about ``n / (B + L)`` points; where
    that share exceeds ``k``, the truncated kernel only sees a small part of it and the greedy
    piles its picks into the densest region (Fashion-MNIST, 60,000 VAE embeddings, B = 10: 6 of 10
    classes). Sampling ``k x (B + L) - L`` of the candidates (all labeled points stay) makes the
    share equal ``k`` again; the coverage objective is then estimated on the sample, as the
    reference estimates it on a random subset of the candidates.
    """
    n = n_candidates + n_labeled
    k = default_neighbours(p, n, budget, n_labeled)
    if not p.subsample or share_per_pick(n, budget, n_labeled) <= k:
        return None
    keep = max(budget, k * (budget + n_labeled) - n_labeled)
    if keep >= n_candidates:
        return None
    return np.sort(rng.choice(n_candidates, keep, replace=False))


@SELECTORS.register("maxherding")
class MaxHerdingSelector(Selector):
    """Maximise generalised coverage ``mean_x max_l k(x, l)`` greedily with a Gaussian kernel [MH].

    On L2-normalised embeddings, ``k(x, y) = exp(-||x - y||^2 / (2 sigma^2))``; ProbCover is the same
    greedy with a top-hat kernel, whose radius decides everything, while the smooth kernel makes the
    picks robust to ``sigma`` (the paper's point). ``B`` times, the candidate that raises the
    coverage most is picked (ties: lowest position); labeled points count as already picked, so as
    an AL query it covers what the labeled set leaves uncovered (the reference uses no model either).

    Memory is linear in N: each point keeps the kernel to itself and its ``neighbours`` nearest
    points (exact kNN on the run's device, :mod:`alpool.ops.herding`); the greedy runs on the CPU
    and is exact on this sparse kernel. The default neighbours are about ``n / (B + L)``, the share
    of the points each pick has to cover, between ``min_neighbours`` and ``max_neighbours``; the
    default ``sigma`` is half the median distance to the last kept neighbour (the kernel is
    ``exp(-2)`` there). The reference instead keeps the dense kernel on a random subset of 35,000
    candidates (a GPU's memory); the share of the dense objective the sparse kernel keeps is
    measured in ``benchmarks/bench_selectors.py``. The kNN lists are cached under
    ``<run>/cache/maxherding/`` keyed by the embeddings' hash (8 bytes per entry).

    Where ``n / (B + L)`` exceeds the kept neighbours (few picks on many points: 60,000 images at
    10 labels), the kernel is built on a seeded random sample of ``neighbours x (B + L)`` points
    (every labeled point kept; ``subsample=false`` turns this off), so each neighbourhood still
    spans the share one pick covers (:func:`sampled_candidates`); the picks then depend on the
    seed and ``init-pool --count M`` gives M different pools. Otherwise they do not, and
    ``init-pool --count M`` makes M equal pools and says so (as for ProbCover, unlike ``ranked``
    it is not refused: a study grid keeps its shape).
    Candidate scores are the gains before the first pick (NaN for candidates left out of the
    sample). ``info`` records sigma, the neighbours, the points the kernel was built on and the
    sparse coverage before / after.
    """

    Params = MaxHerdingParams
    params: MaxHerdingParams
    needs = frozenset({NEED_EMBEDDINGS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Build the sparse kernel and pick greedily."""
        p = self.params
        points = point_set(ctx)
        sample = sampled_candidates(p, points.n_candidates, budget, points.n_labeled, ctx.rng)
        if sample is not None:  # the sample's candidates, then every labeled point
            points = PointSet(np.concatenate([points.indices[sample], points.indices[points.n_candidates:]]),
                              len(sample))
        x = l2_normalize(embeddings_of(ctx, p.embeddings, points.indices), inplace=True)  # [n, D]
        k = default_neighbours(p, len(x), budget, points.n_labeled)
        # a sample differs per seed and its kNN takes seconds: only the full point set is cached
        cache = GraphCache.open(ctx, "maxherding", x) if p.cache and sample is None else GraphCache(None, "")
        found = cache.load_arrays(f"knn:k={k}")
        if found is None:
            dist, pos = knn(x, k, p.chunk_elements, ctx.device)  # [n, k]
            cache.save_arrays(f"knn:k={k}", {"dist": dist.astype(np.float32), "pos": pos.astype(np.int32)})
        else:
            dist, pos = found["dist"].astype(np.float64), found["pos"].astype(np.int64)
        kernel = kernel_from_knn(dist, pos, p.sigma)
        labeled = np.arange(points.n_candidates, len(x))
        picks, gains, initial = greedy_herding(kernel, points.n_candidates, labeled, budget)
        info: dict[str, Any] = {
            "sigma": kernel.sigma, "sigma_rule": "given" if p.sigma is not None else "median-knn",
            "neighbours": k, "points": len(x), "sampled": sample is not None,
            "coverage_before": coverage_of(kernel, labeled),
            "coverage": coverage_of(kernel, np.concatenate([labeled, picks])),
            "last_gain": float(gains[-1]) if len(gains) else 0.0,
        }
        sampled = f" on a seeded sample of {len(x)} points" if sample is not None else ""
        reporting.info(f"maxherding: sigma={kernel.sigma:.3g}, {k} neighbours{sampled}, kernel coverage "
                       f"{info['coverage_before']:.1%} -> {info['coverage']:.1%} with {budget} picks")
        scores = np.full(len(ctx.candidates), np.nan)  # unsampled candidates have no gain
        scores[sample if sample is not None else slice(None)] = initial
        return Selection(points.indices[picks].astype(np.int64), scores, info)
