"""One registry of selectors for initial pools and AL queries (DESIGN.md section 4).

Each selector is declared here (module, description; ``query=True`` needs a trained classifier,
``oracle=True`` reads true labels); its module is imported when it is first built with
``SELECTORS.create(name, params)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpool.core.registry import ClassRegistry, lazy_exports

if TYPE_CHECKING:
    from alpool.selectors.base import Selection, SelectionContext, Selector

__all__ = ["SELECTORS", "Selection", "SelectionContext", "Selector", "init_pool_names"]

SELECTORS: ClassRegistry[Selector] = ClassRegistry("selector")
SELECTORS.declare("badge", "alpool.selectors.badge",
                  "query: k-means++ seeding on last-layer gradient embeddings (BADGE)", query=True)
SELECTORS.declare("bald", "alpool.selectors.uncertainty_queries",
                  "query: BALD mutual information over MC-dropout passes (default 25)", query=True)
SELECTORS.declare("class-balanced", "alpool.selectors.wrappers",
                  "oracle: equal true-class counts, any --param inner=SELECTOR run inside each class", oracle=True)
SELECTORS.declare("cluster-quota", "alpool.selectors.cluster_selectors",
                  "equal quota per cluster (SCAN ids or k-means), random inside a cluster")
SELECTORS.declare("cluster-round-robin", "alpool.selectors.cluster_selectors",
                  "k-means (K=30) clusters in seeded order, round-robin of each cluster's best score (default "
                  "hard-to-contrast)")
SELECTORS.declare("consistency", "alpool.selectors.uncertainty_queries",
                  "query: variance of the softmax over augmented passes (default 50)", query=True)
SELECTORS.declare("dcom", "alpool.selectors.dcom",
                  "DCoM: ProbCover with per-point radii, density first at low coverage, margin as coverage "
                  "grows (initial pool or AL query)")
SELECTORS.declare("coreset", "alpool.selectors.coreset",
                  "greedy k-center on embeddings or classifier features (initial pool or AL query)")
SELECTORS.declare("dbal", "alpool.selectors.uncertainty_queries",
                  "query: entropy of the mean prediction over MC-dropout passes (DBAL)", query=True)
SELECTORS.declare("ensemble-variation-ratio", "alpool.selectors.uncertainty_queries",
                  "query: 1 - modal vote share of an ensemble (default 3 models)", query=True)
SELECTORS.declare("entropy", "alpool.selectors.uncertainty_queries",
                  "query: highest Shannon entropy of the predicted distribution", query=True)
SELECTORS.declare("kmeans-centers", "alpool.selectors.kmeans_centers",
                  "the candidate nearest each of B k-means centroids")
SELECTORS.declare("least-confidence", "alpool.selectors.uncertainty_queries",
                  "query: lowest top-class probability (score 1 - max p)", query=True)
SELECTORS.declare("margin", "alpool.selectors.uncertainty_queries",
                  "query: smallest gap between the two most likely classes", query=True)
SELECTORS.declare("maxherding", "alpool.selectors.maxherding",
                  "MaxHerding: greedy generalised coverage with a Gaussian kernel (sparse kNN), robust to its "
                  "bandwidth (initial pool or AL query)")
SELECTORS.declare("probcover", "alpool.selectors.probcover",
                  "ProbCover: greedy max coverage of delta-balls, delta by the 95% purity rule (initial pool or AL "
                  "query)")
SELECTORS.declare("random", "alpool.selectors.random",
                  "uniform random candidates (seeded); an initial pool or an AL query")
SELECTORS.declare("random-covering", "alpool.selectors.random",
                  "oracle: uniform random pool redrawn until every class is present", oracle=True)
SELECTORS.declare("ranked", "alpool.selectors.ranked",
                  "the top-B candidates of a scorer's order (--score NAME, --param ascending=true for the bottom)")
SELECTORS.declare("typiclust", "alpool.selectors.typiclust",
                  "TypiClust: most typical point of the least-labeled k-means cluster (initial pool or AL query)")
SELECTORS.declare("vaal", "alpool.selectors.vaal",
                  "query: VAE + discriminator trained on labeled vs unlabeled; pick the least 'labeled'-looking",
                  query=True)


def init_pool_names() -> list[str]:
    """Return the selectors usable for initial pools (those that need no trained classifier)."""
    return SELECTORS.names(query=False)


__getattr__ = lazy_exports(__name__, {
    "Selection": "alpool.selectors.base",
    "SelectionContext": "alpool.selectors.base",
    "Selector": "alpool.selectors.base"})
