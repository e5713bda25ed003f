"""In-memory stand-ins for the selector inputs, shared by the selector tests (and other tests).

``ArrayInputs`` implements :class:`alpool.selectors.base.Inputs` on arrays held in dicts;
``ArrayClassifier`` implements the ``Classifier`` protocol on fixed arrays. ``three_blobs`` builds
the tiny 3-blob dataset of the contract tests, ``context`` a :class:`SelectionContext` on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from alpool.core.errors import MissingStepError
from alpool.selectors.base import SelectionContext


@dataclass
class ArrayInputs:
    """The selector ``Inputs`` protocol on in-memory arrays; unknown names: MissingStepError."""

    embeddings_by_task: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # task -> [N, D] float32
    scores_by_scorer: dict[str, np.ndarray] = field(default_factory=dict)  # scorer -> [N] float
    clusters_by_source: dict[str, np.ndarray] = field(default_factory=dict)  # source -> [N] int64
    true_labels: np.ndarray | None = None  # [N] int64
    train_images: torch.Tensor | None = None  # [N, C, H, W] uint8
    used_labels: bool = False

    def embeddings(self, task: str) -> np.ndarray:
        """Return the embeddings of ``task``."""
        return self._get(self.embeddings_by_task, task, "pretrain task").astype(np.float32)

    def scores(self, scorer: str) -> np.ndarray:
        """Return the scores of ``scorer``."""
        return self._get(self.scores_by_scorer, scorer, "scorer")

    def clusters(self, source: str) -> np.ndarray:
        """Return the cluster ids of ``source``."""
        return self._get(self.clusters_by_source, source, "cluster source").astype(np.int64)

    def labels(self) -> np.ndarray:
        """Return the true labels (and remember that an oracle asked)."""
        if self.true_labels is None:
            raise MissingStepError("no labels in these test inputs")
        self.used_labels = True
        return self.true_labels

    def images(self) -> torch.Tensor:
        """Return the images."""
        if self.train_images is None:
            raise MissingStepError("no images in these test inputs")
        return self.train_images

    @staticmethod
    def _get(table: dict[str, np.ndarray], name: str, kind: str) -> np.ndarray:
        if name not in table:
            raise MissingStepError(
                f"no {kind} {name!r} in these test inputs (have: {sorted(table)})"
            )
        return table[name]


class ArrayClassifier:
    """The ``Classifier`` protocol on fixed arrays indexed by dataset index."""

    def __init__(self, proba: np.ndarray, features: np.ndarray) -> None:
        self.proba = proba  # [N, K]
        self.feats = features  # [N, D]
        self.num_classes = proba.shape[1]

    def predict_proba(self, indices: np.ndarray) -> np.ndarray:
        return self.proba[indices]

    def mc_predict_proba(
        self, indices: np.ndarray, passes: int, generator: torch.Generator
    ) -> np.ndarray:
        noise = torch.rand((passes, len(indices), self.num_classes), generator=generator).numpy()
        p = self.proba[indices][None] + 0.05 * noise
        return p / p.sum(-1, keepdims=True)

    def augmented_predict_proba(
        self, indices: np.ndarray, passes: int, generator: torch.Generator
    ) -> np.ndarray:
        return self.mc_predict_proba(indices, passes, generator)

    def features(self, indices: np.ndarray) -> np.ndarray:
        return self.feats[indices]

    def grad_embedding(self, indices: np.ndarray) -> np.ndarray:
        return np.concatenate([self.feats[indices], self.proba[indices]], axis=1)

    def ensemble_predict_proba(self, indices: np.ndarray, members: int) -> np.ndarray:
        return self.mc_predict_proba(indices, members, torch.Generator().manual_seed(0))


@dataclass
class Blobs:
    """The 3-blob toy data: embeddings, true labels, a score and cluster ids."""

    x: np.ndarray  # [N, D] float32
    labels: np.ndarray  # [N] int64
    num_classes: int

    @property
    def n(self) -> int:
        return len(self.labels)


def three_blobs(n_per_blob: int = 30, dim: int = 8, spread: float = 0.05, seed: int = 0) -> Blobs:
    """Return 3 tight, well-separated blobs around orthogonal directions (unit-norm friendly)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_blob).astype(np.int64)
    centers = np.eye(dim, dtype=np.float32)[:3]
    x = centers[labels] + spread * rng.normal(size=(len(labels), dim)).astype(np.float32)
    return Blobs(x.astype(np.float32), labels, 3)


def blob_inputs(blobs: Blobs, seed: int = 0, image_size: int = 8) -> ArrayInputs:
    """Return inputs on ``blobs``: "simclr" embeddings, scores, "scan" clusters, labels, images."""
    rng = np.random.default_rng(seed + 1)
    scores = rng.random(blobs.n)
    images = torch.from_numpy(
        rng.integers(0, 256, size=(blobs.n, 1, image_size, image_size), dtype=np.uint8)
    )
    return ArrayInputs(
        embeddings_by_task={"simclr": blobs.x},
        scores_by_scorer={"contrast-confidence": scores, "vae-loss": -scores},
        clusters_by_source={"scan": blobs.labels.copy()},
        true_labels=blobs.labels,
        train_images=images,
    )


def blob_classifier(blobs: Blobs) -> ArrayClassifier:
    """Return a classifier whose probabilities are a softmax of minus the distances to centres."""
    centers = np.stack([blobs.x[blobs.labels == c].mean(0) for c in range(blobs.num_classes)])
    logits = -4.0 * np.linalg.norm(blobs.x[:, None] - centers[None], axis=2)  # [N, K]
    proba = np.exp(logits - logits.max(1, keepdims=True))
    return ArrayClassifier(proba / proba.sum(1, keepdims=True), blobs.x)


def context(
    n: int,
    num_classes: int,
    inputs: Any = None,
    labeled: Any = (),
    seed: int = 0,
    exclude: Any = (),
    classifier: Any = None,
) -> SelectionContext:
    """Return a context over ``n`` points: candidates are everything not labeled nor excluded."""
    labeled_arr = np.asarray(labeled, dtype=np.int64)
    candidates = np.setdiff1d(
        np.arange(n), np.union1d(labeled_arr, np.asarray(exclude, dtype=np.int64))
    )
    return SelectionContext(
        n_total=n,
        labeled=labeled_arr,
        candidates=candidates.astype(np.int64),
        rng=np.random.default_rng(seed),
        num_classes=num_classes,
        inputs=inputs,
        classifier=classifier,
    )
