"""The selector contract shared by initial-pool strategies and AL queries (DESIGN.md section 4).

A selector picks ``budget`` new *dataset indices* from ``ctx.candidates`` given a
:class:`SelectionContext`. It declares the inputs it needs (``needs``); ``init-pool`` accepts
selectors that do not need a classifier, ``al-run --query`` accepts all. Every selection returns the
per-candidate scores it used (NaN where a method has no per-candidate score).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from alpool.core.errors import ConfigError, MissingStepError
from alpool.core.params import Configurable
from alpool.selectors import SELECTORS

# What a selector may need. "labels" marks an oracle (uses ground truth).
NEED_EMBEDDINGS = "embeddings"
NEED_SCORES = "scores"
NEED_CLUSTERS = "clusters"
NEED_LABELS = "labels"
NEED_CLASSIFIER = "classifier"
NEED_IMAGES = "images"


class Classifier(Protocol):
    """The current AL model as seen by queries; all methods take dataset indices of the train split."""

    num_classes: int

    def predict_proba(self, indices: np.ndarray) -> np.ndarray:
        """Return softmax probabilities ``[n, K]`` (eval mode, eval transforms)."""
        ...

    def mc_predict_proba(self, indices: np.ndarray, passes: int, generator: torch.Generator) -> np.ndarray:
        """Return ``[passes, n, K]`` with dropout active and BatchNorm in eval mode."""
        ...

    def augmented_predict_proba(self, indices: np.ndarray, passes: int, generator: torch.Generator) -> np.ndarray:
        """Return ``[passes, n, K]`` over random training augmentations (eval mode)."""
        ...

    def features(self, indices: np.ndarray) -> np.ndarray:
        """Return penultimate features ``[n, D]``."""
        ...

    def grad_embedding(self, indices: np.ndarray) -> np.ndarray:
        """Return BADGE gradient embeddings ``[n, D * K]`` of the last layer at the predicted label."""
        ...

    def ensemble_predict_proba(self, indices: np.ndarray, members: int) -> np.ndarray:
        """Return ``[members, n, K]`` from independently trained models on the same labeled set."""
        ...


class Inputs(Protocol):
    """Lazily provided inputs; each call may read from the run directory and record a hash."""

    def embeddings(self, task: str) -> np.ndarray:
        """Return the embeddings ``[N, D]`` float32 of a pretrain task for every train image."""
        ...

    def scores(self, scorer: str) -> np.ndarray:
        """Return a scorer's scores ``[N]`` float (higher = pick first)."""
        ...

    def clusters(self, source: str) -> np.ndarray:
        """Return cluster ids ``[N]`` int64 from a pretrain task (e.g. ``scan``)."""
        ...

    def labels(self) -> np.ndarray:
        """Return the ground-truth train labels ``[N]`` int64 (oracle selectors only)."""
        ...

    def images(self) -> torch.Tensor:
        """Return the train images ``[N, C, H, W]`` uint8."""
        ...

    def cache_dir(self, name: str) -> Path | None:
        """Return a folder for results keyed by their inputs' content hash (``None``: no cache)."""
        ...


@dataclass
class SelectionContext:
    """Everything a selector may use. Indices are dataset indices of the train split.

    Attributes:
        n_total: size of the train split N.
        labeled: int64 indices already labeled (empty at cold start).
        candidates: int64 indices that may be picked (unlabeled, validation excluded).
        rng: the generator for every random choice of this selection.
        num_classes: number of classes (known by protocol, not a label leak).
        inputs: lazily provided embeddings/scores/clusters/labels/images.
        classifier: the current model during AL, else ``None``.
        device: torch device for selectors that train (vaal).
        labeled_labels: int64 ``[len(labeled)]`` the annotated labels of ``labeled`` (what the
            model trains on; not an oracle read), or None where the caller has none.
        state: what this selector returned as :attr:`Selection.state` in the previous round of the
            same AL trial (None in the first round and outside AL episodes).
    """

    n_total: int
    labeled: np.ndarray
    candidates: np.ndarray
    rng: np.random.Generator
    num_classes: int
    inputs: Inputs | None = None
    classifier: Classifier | None = None
    device: str = "cpu"
    labeled_labels: np.ndarray | None = None
    state: dict[str, np.ndarray] | None = None

    def require_inputs(self, what: str) -> Inputs:
        """Return the inputs or say that a step must run first."""
        if self.inputs is None:
            raise MissingStepError(f"this selector needs {what}, but no run directory inputs were given")
        return self.inputs

    def require_classifier(self) -> Classifier:
        """Return the classifier or explain that the selector is a query."""
        if self.classifier is None:
            raise ConfigError("this selector needs a trained classifier: use it with `alpool al-run --query`")
        return self.classifier


@dataclass
class Selection:
    """The outcome of a selection.

    Attributes:
        indices: int64 ``[budget]`` dataset indices, in pick order.
        candidate_scores: float ``[len(ctx.candidates)]`` aligned with ``ctx.candidates`` (NaN if none).
        info: method details worth recording (delta, cluster counts, ...).
        state: arrays the selector needs in the next round of the same AL trial (DCoM's radii),
            kept in the episode folder and handed back as :attr:`SelectionContext.state`.
    """

    indices: np.ndarray
    candidate_scores: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, np.ndarray] | None = None


class Selector(Configurable, ABC):
    """Base class of every selector. Subclasses set ``Params``, ``needs`` and ``oracle``."""

    needs: ClassVar[frozenset[str]] = frozenset()
    oracle: ClassVar[bool] = False
    seeded: ClassVar[bool] = True  # False: the seed does not change the pick (init-pool --count refuses)

    @abstractmethod
    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Pick ``budget`` new indices from ``ctx.candidates``."""

    def __call__(self, ctx: SelectionContext, budget: int) -> Selection:
        """Validate the budget, select, and check the contract."""
        check_budget(budget, len(ctx.candidates))
        selection = self.select(ctx, budget)
        check_selection(selection, ctx, budget)
        return selection


def check_budget(budget: int, available: int) -> None:
    """Refuse budgets below 1 or above the number of candidates."""
    if budget < 1:
        raise ConfigError(f"budget {budget} must be at least 1")
    if budget > available:
        raise ConfigError(f"budget {budget} is larger than the {available} candidates left; lower --budget")


def check_selection(selection: Selection, ctx: SelectionContext, budget: int) -> None:
    """Enforce the contract: ``budget`` unique candidate indices, a score per candidate (a bug otherwise)."""
    idx = selection.indices
    if idx.dtype != np.int64 or idx.shape != (budget,):
        raise RuntimeError(f"selector returned {idx.dtype} {idx.shape}, expected int64 ({budget},)")
    if len(np.unique(idx)) != budget or not np.isin(idx, ctx.candidates).all():
        raise RuntimeError("selector returned duplicates or non-candidates")
    if np.shape(selection.candidate_scores) != (len(ctx.candidates),):
        raise RuntimeError(f"selector returned candidate scores of shape {np.shape(selection.candidate_scores)}, "
                           f"expected ({len(ctx.candidates)},): one per candidate")


__all__ = ["SELECTORS", "Selection", "SelectionContext", "Selector"]
