"""Selectors that wrap another selector: class-balanced(x), the label-diversity oracle of [CS]."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from alpool.core.errors import ConfigError
from alpool.core.jsonify import jsonable
from alpool.core.params import Params
from alpool.core.params import Params as AnyParams
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_LABELS, Selection, SelectionContext, Selector
from alpool.selectors.common import labels_of, spread_evenly


class ClassBalancedParams(Params):
    """Options of class-balanced."""

    inner: str = Field("random", description="the selector run inside every class (any name)")
    inner_params: dict[str, Any] = Field(default_factory=dict, description="options of the "
                                         "inner selector (a TOML table, or JSON text on the CLI)")

    @field_validator("inner_params", mode="before")
    @classmethod
    def _parse_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                example = """inner_params='{"score": "vae-loss"}'"""
                raise ValueError(f"not JSON: {value!r}; write e.g. {example}") from None
        return value


@SELECTORS.register("class-balanced")
class ClassBalancedSelector(Selector):
    """Enforce equal ground-truth class counts around any selector (the "label diversity" oracle).

    Every class with candidates gets ``B // K`` picks; the remainder, and the shortfall of classes
    with too few candidates, go to classes drawn with ``ctx.rng`` (the same rule as cluster-quota).
    The inner selector then runs once per class on that class's candidates with that class's
    count, sharing ``ctx.rng`` and the labeled set.

    Why per class rather than re-ranking one global order: it gives the exact counts for *every*
    selector, including set-based ones (coreset, probcover, typiclust) that have no global ranking
    to re-cut, and ranked selectors give the same picks as filtering their order by class. Its
    cost is one inner run per class; for clustering selectors each run sees 1/K of the data.

    Candidate scores are the inner selector's scores of each class, side by side.
    """

    Params = ClassBalancedParams
    params: ClassBalancedParams
    needs = frozenset({NEED_LABELS})
    oracle = True

    def __init__(self, params: AnyParams | None = None) -> None:
        super().__init__(params)
        if self.params.inner == "class-balanced":
            raise ConfigError("class-balanced cannot wrap itself; choose another --param inner=...")
        self.inner = SELECTORS.create(self.params.inner, self.params.inner_params)
        self.needs = frozenset({NEED_LABELS}) | self.inner.needs  # type: ignore[misc]

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Split the budget over the true classes and run the inner selector inside each."""
        labels = labels_of(ctx, ctx.candidates)  # [n_cand]
        classes, sizes = np.unique(labels, return_counts=True)
        counts = spread_evenly(sizes, budget, ctx.rng)
        scores = np.full(len(ctx.candidates), np.nan)
        parts, inner_info = [], {}
        for c, n in zip(classes, counts, strict=True):
            if n == 0:
                continue
            members = labels == c
            sub = dataclasses.replace(ctx, candidates=ctx.candidates[members])
            selection = self.inner(sub, int(n))
            scores[members] = selection.candidate_scores
            parts.append(selection.indices)
            inner_info[str(c)] = selection.info
        info = {"inner": self.params.inner, "inner_params": self.params.inner_params,
                "picked_per_class": dict(zip(map(str, classes), counts.tolist(), strict=True)),
                "inner_info": jsonable(inner_info)}
        return Selection(np.concatenate(parts).astype(np.int64), scores, info)
