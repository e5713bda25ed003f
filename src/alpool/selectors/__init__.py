"""One registry of selectors for initial pools and AL queries (DESIGN.md section 4).

Importing this package registers every selector; ``make_selector(name, params)`` builds one.
"""

from __future__ import annotations

from alpool.selectors import (  # noqa: F401  (each module registers its selectors)
    badge,
    cluster_selectors,
    coreset,
    dcom,
    kmeans_centers,
    probcover,
    random,
    ranked,
    typiclust,
    uncertainty_queries,
    vaal,
    wrappers,
)
from alpool.selectors.base import SELECTORS, Selection, SelectionContext, Selector, make_selector

__all__ = ["SELECTORS", "Selection", "SelectionContext", "Selector", "make_selector"]
