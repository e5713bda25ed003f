"""Scorers that read a per-image array written by a pretext task (no model is run at rank time).

Each is one row of :data:`ARRAY_SCORES`: the step it reads by default (``task`` option), the
array, and ``score = sign * array + offset``. Add a row (and its declaration in
:mod:`alpool.scorers`) to add a scorer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import Field, create_model

from alpool.core.params import Params
from alpool.scorers import SCORERS
from alpool.scorers.base import Scorer, ScoringContext


@dataclass(frozen=True)
class ArrayScore:
    """A scorer that is ``sign * <task>/<array>.npy + offset``."""

    name: str
    task: str
    array: str
    sign: float = 1.0
    offset: float = 0.0


ARRAY_SCORES = (
    ArrayScore("vae-loss", "vae", "loss"),
    ArrayScore("simclr-loss", "simclr", "loss"),
    ArrayScore("contrast-confidence", "simclr", "confidence", sign=-1.0, offset=1.0),
    ArrayScore("contrast-variability", "simclr", "variability"),
    ArrayScore("scan-confidence", "scan", "confidence"),
)


class ArrayScorer(Scorer):
    """Return ``SIGN * array + OFFSET`` of a pretext step's per-image array ``ARRAY``."""

    ARRAY: ClassVar[str] = ""
    SIGN: ClassVar[float] = 1.0
    OFFSET: ClassVar[float] = 0.0

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 scores read from ``pretrain/<task>/<ARRAY>.npy``."""
        values = np.asarray(ctx.pretrain(self.params.task).array(self.ARRAY), dtype=np.float64)  # type: ignore[attr-defined]
        return self.SIGN * values.reshape(-1) + self.OFFSET


def array_scorer(spec: ArrayScore) -> type[ArrayScorer]:
    """Build the scorer class of one :class:`ArrayScore` row."""
    params = create_model(f"{spec.task.title()}TaskParams", __base__=Params,
                          task=(str, Field(spec.task, description="pretrain step to read (its folder name)")))
    namespace = {"Params": params, "requires": (spec.task,), "ARRAY": spec.array, "SIGN": spec.sign,
                 "OFFSET": spec.offset, "__doc__": SCORERS.entry(spec.name).description}
    return type(spec.name.title().replace("-", ""), (ArrayScorer,), namespace)


for _spec in ARRAY_SCORES:
    SCORERS.add(_spec.name, array_scorer(_spec))
