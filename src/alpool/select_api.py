"""``alpool.select``: one call from an embedding matrix to a pool, for notebooks and other tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.core.errors import ConfigError, MissingStepError
from alpool.ops.device import resolve_device


@dataclass
class Picked:
    """The result of :func:`select`.

    Attributes:
        indices: int64 ``[budget]`` row indices of ``embeddings``, in pick order.
        scores: float64 ``[N]`` the selector's score of every row (NaN for labeled rows and for
            methods without a per-row score).
        info: method details (radius, coverage, clusters, ...).
    """

    indices: np.ndarray
    scores: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


class EmbeddingInputs:
    """Selector inputs that hold one embedding matrix (returned for any task name) and nothing else."""

    def __init__(self, embeddings: np.ndarray, strategy: str) -> None:
        self.x = embeddings
        self.strategy = strategy

    def embeddings(self, task: str) -> np.ndarray:
        """Return the embedding matrix."""
        return self.x

    def _missing(self, what: str) -> MissingStepError:
        return MissingStepError(f"alpool.select gives {self.strategy!r} only embeddings, but it needs "
                                f"{what}; use the CLI on a run directory, or another strategy")

    def scores(self, scorer: str) -> np.ndarray:
        """Refuse: no scores are given."""
        raise self._missing(f"the scores of {scorer!r} (try score='none' where it is an option)")

    def clusters(self, source: str) -> np.ndarray:
        """Refuse: no cluster ids are given."""
        raise self._missing(f"the cluster ids of {source!r} (try clusters='kmeans')")

    def labels(self) -> np.ndarray:
        """Refuse: no labels are given."""
        raise self._missing("ground-truth labels")

    def images(self) -> torch.Tensor:
        """Refuse: no images are given."""
        raise self._missing("images")

    def cache_dir(self, name: str) -> Path | None:
        """Return None: nothing is cached between calls."""
        return None


def select(embeddings: np.ndarray, budget: int, strategy: str = "typiclust",
           labeled: np.ndarray | list[int] | None = None, seed: int = 0, device: str = "auto",
           num_classes: int | None = None, **params: Any) -> Picked:
    """Pick ``budget`` rows of ``embeddings`` with a selector that needs no classifier.

    Example::

        picked = alpool.select(features, 100, strategy="probcover", delta=0.6)
        picked.indices  # rows to label, in pick order

    Args:
        embeddings: ``[N, D]`` features of every image (e.g. self-supervised embeddings).
        budget: how many rows to pick.
        strategy: a selector name (``alpool list selectors``) that needs no classifier: typiclust,
            probcover, dcom, maxherding, coreset, kmeans-centers, cluster-quota (clusters='kmeans'),
            cluster-round-robin (score='none'), random.
        labeled: rows already labeled (never picked; they count as covered / as cluster members).
        seed: seed of every random choice; the same seed gives the same picks.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        num_classes: known number of classes (k-means defaults of some selectors); optional.
        **params: the selector's options, e.g. ``delta=0.6`` or ``max_clusters=100``.

    Returns:
        The picked row indices, a score per row and the selector's info.

    Raises:
        ConfigError: unknown strategy or option, a strategy that needs a classifier, bad budget.
    """
    from alpool.selectors import SELECTORS, SelectionContext
    from alpool.selectors.base import NEED_CLASSIFIER

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigError(f"embeddings have shape {x.shape}; pass an [N, D] array")
    selector = SELECTORS.create(strategy, params)
    if NEED_CLASSIFIER in selector.needs:
        raise ConfigError(f"{strategy!r} needs a trained classifier (an AL query); use "
                          "`alpool al-run --query` or a strategy without one")
    done = np.unique(np.asarray(labeled if labeled is not None else [], dtype=np.int64))
    if len(done) and (done.min() < 0 or done.max() >= len(x)):
        raise ConfigError(f"labeled holds rows outside 0..{len(x) - 1}")
    candidates = np.setdiff1d(np.arange(len(x), dtype=np.int64), done)
    ctx = SelectionContext(n_total=len(x), labeled=done, candidates=candidates,
                           rng=np.random.default_rng(seed), num_classes=num_classes or 0,
                           inputs=EmbeddingInputs(x, strategy), device=str(resolve_device(device)))
    selection = selector(ctx, budget)
    scores = np.full(len(x), np.nan)
    scores[candidates] = selection.candidate_scores
    return Picked(selection.indices, scores, selection.info)
