"""Scorers from a trained classifier (the ``proxy`` pretrain step): the classic AL measures.

Each scorer gives every train image the number the AL query of the same name computes, through the
same code: the measures of :mod:`alpool.learning.uncertainty`, the stochastic passes of
:class:`~alpool.learning.classifier.ModelClassifier`, the chunking of the uncertainty queries and the VAAL
networks of :mod:`alpool.selectors.vaal`. Higher = pick first.

- ``least-confidence`` (1 - max p), ``entropy``, ``margin`` (-(p1 - p2)): from the step's
  ``proba.npy`` (eval mode, written by the task); no network is run.
- ``bald``: H[mean p] - mean H[p] over ``passes`` = 25 MC-dropout passes, dropout on and BatchNorm
  in eval mode (the original toolkit ran "BALD" without dropout).
- ``consistency``: sum over classes of the variance of the softmax over ``passes`` = 50 passes of
  the proxy's own training augmentation (pad-crop + flip, eval mode).
- ``coreset-distance``: Euclidean distance of each train image's penultimate features to the
  nearest *labeled* image's. Decision: at cold start there is no labeled train image, so "labeled"
  means the images whose labels the proxy used: its fit and hold-out test images. Both sides are
  embedded by the rebuilt network on the same device (stored and fresh features are never mixed).
- ``vaal``: the VAAL VAE + discriminator (selectors/vaal.py, same defaults) trained with that same
  labeled reference (the proxy's test images) against the whole train split as "unlabeled"; the
  score is the discriminator's "unlabeled" probability. Decision: VAAL uses no labels, but its
  reference set is the oracle's labeled set (and test images), so it reads the proxy step and is
  marked oracle with it.

The network is rebuilt from the step's ``model.pt`` (``spec``, ``state_dict``, ``train``) on
``ctx.device``; stochastic passes draw from generators seeded by the rank seed and scorer name.
Everything read from the proxy is an oracle: the rank stage marks the manifest (upstream.oracle).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from alpool.core.config import TrainConfig
from alpool.core.errors import ConfigError, CorruptFileError
from alpool.core.params import Params
from alpool.core.seeding import torch_generator, torch_seeded
from alpool.learning.classifier import ModelClassifier
from alpool.learning.training import embed, prepare
from alpool.learning.uncertainty import bald, consistency, entropy, least_confidence, margin
from alpool.models import ModelSpec, build_model
from alpool.ops.distances import min_distances
from alpool.ops.infer import in_chunks
from alpool.scorers import SCORERS
from alpool.scorers.base import Scorer, ScoringContext
from alpool.selectors.vaal import VAE, VAALParams, discriminator, labeled_probability, train_vaal

CHECKPOINT_KEYS = ("spec", "state_dict", "train")


class ProxyTaskParams(Params):
    """Options of the scorers that read one classifier step."""

    task: str = Field("proxy", description="pretrain step holding the classifier (its folder name)")


@dataclass
class Proxy:
    """A classifier rebuilt from a pretrain step, and that step's checkpoint."""

    classifier: ModelClassifier
    checkpoint: dict[str, Any]
    task: str


def load_proxy(ctx: ScoringContext, task: str) -> Proxy:
    """Rebuild the classifier of pretrain step ``task`` on ``ctx.device`` (eval weights).

    Raises:
        ConfigError: the step's ``model.pt`` holds no classifier (e.g. ``simclr``).
    """
    checkpoint = ctx.pretrain(task).checkpoint()
    missing = [k for k in CHECKPOINT_KEYS if k not in checkpoint]
    if missing:
        raise ConfigError(f"pretrain step {task!r} holds no classifier (model.pt lacks "
                          f"{', '.join(missing)}); train one with alpool pretrain --task proxy")
    spec = ModelSpec.model_validate(checkpoint["spec"])
    with torch_seeded(ctx.seed, "rebuild", task):  # weights are overwritten; seeded for safety
        model = build_model(spec)
    model.load_state_dict(checkpoint["state_dict"])
    model = prepare(model, ctx.device).eval()
    train = TrainConfig.model_validate(checkpoint["train"])
    return Proxy(ModelClassifier(model, ctx.dataset.train_x, ctx.device, train), checkpoint, task)


def labeled_test(checkpoint: dict[str, Any], task: str, n_test: int) -> np.ndarray:
    """Return the sorted int64 test-split indices whose labels the proxy used (fit + hold-out).

    Raises:
        ConfigError: the checkpoint does not record them (not a ``proxy`` step).
        CorruptFileError: an index lies outside the test split.
    """
    if "test_fit" not in checkpoint:
        raise ConfigError(f"pretrain step {task!r} records no labeled test images (test_fit); "
                          "use a proxy step: --param task=proxy")
    parts = [np.asarray(checkpoint[k], dtype=np.int64).reshape(-1)
             for k in ("test_fit", "test_holdout") if k in checkpoint]
    labeled = np.unique(np.concatenate(parts))
    if len(labeled) == 0 or labeled[0] < 0 or labeled[-1] >= n_test:
        raise CorruptFileError(f"pretrain step {task!r}: its labeled test indices do not fit a "
                               f"test split of {n_test} images; re-run alpool pretrain --force")
    return labeled


class ProbaScorer(Scorer):
    """A measure of the stored eval-mode softmax ``proba.npy`` ``[N, K]`` of a classifier step."""

    Params = ProxyTaskParams
    params: ProxyTaskParams
    requires = ("proxy",)

    @abstractmethod
    def measure(self, proba: np.ndarray) -> np.ndarray:
        """Return ``[n]`` scores of probabilities ``[n, K]``."""

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 scores of every train image."""
        proba = np.asarray(ctx.pretrain(self.params.task).array("proba"), dtype=np.float64)
        if proba.ndim != 2 or len(proba) != ctx.dataset.n_train:
            raise CorruptFileError(f"pretrain step {self.params.task!r}: proba.npy has shape "
                                   f"{proba.shape}, expected [{ctx.dataset.n_train}, K]; re-run pretrain")
        return np.asarray(self.measure(proba), dtype=np.float64)


@SCORERS.register("least-confidence")
class LeastConfidenceScore(ProbaScorer):
    """Score images whose most likely class is least likely."""

    def measure(self, proba: np.ndarray) -> np.ndarray:
        """Return ``1 - max_k p_k``."""
        return least_confidence(proba)


@SCORERS.register("entropy")
class EntropyScore(ProbaScorer):
    """Score images with the flattest predicted distribution."""

    def measure(self, proba: np.ndarray) -> np.ndarray:
        """Return the entropy (nats)."""
        return entropy(proba)


@SCORERS.register("margin")
class MarginScore(ProbaScorer):
    """Score images whose two most likely classes are closest."""

    def measure(self, proba: np.ndarray) -> np.ndarray:
        """Return ``-(p1 - p2)``."""
        return margin(proba)


class PassesParams(ProxyTaskParams):
    """Options of the scorers over stochastic passes."""

    passes: int = Field(25, ge=2, description="stochastic forward passes")
    chunk_size: int = Field(8192, gt=0, description="images per call; memory [passes, chunk, K]")


class ConsistencyParams(PassesParams):
    """Options of the consistency scorer (50 augmented passes)."""

    passes: int = Field(50, ge=2, description="augmented forward passes (the proxy's crop + flip)")


class PassesScorer(Scorer):
    """A measure over ``passes`` stochastic predictions ``[T, n, K]`` of the rebuilt classifier."""

    Params = PassesParams
    params: PassesParams
    requires = ("proxy",)
    KEY: ClassVar[str] = ""  # names the generator of the passes

    @abstractmethod
    def measure(self, clf: ModelClassifier, indices: np.ndarray, passes: int,
                generator: torch.Generator) -> np.ndarray:
        """Return ``[n]`` scores of the train images ``indices``."""

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 scores, in chunks of ``chunk_size`` images."""
        p = self.params
        clf = load_proxy(ctx, p.task).classifier
        generator = torch_generator(ctx.seed, self.KEY, "passes")
        every = np.arange(ctx.dataset.n_train, dtype=np.int64)
        scores = in_chunks(every, p.chunk_size, lambda idx: self.measure(clf, idx, p.passes, generator))
        return np.asarray(scores, dtype=np.float64)


@SCORERS.register("bald")
class BALDScore(PassesScorer):
    """Score images where the MC-dropout passes disagree while each is confident."""

    KEY = "bald"

    def measure(self, clf: ModelClassifier, indices: np.ndarray, passes: int,
                generator: torch.Generator) -> np.ndarray:
        """Return H[mean p] - mean H[p] over MC-dropout passes (dropout on, BatchNorm eval)."""
        return bald(clf.mc_predict_proba(indices, passes, generator))


@SCORERS.register("consistency")
class ConsistencyScore(PassesScorer):
    """Score images whose prediction changes most under the training augmentation."""

    Params = ConsistencyParams
    KEY = "consistency"

    def measure(self, clf: ModelClassifier, indices: np.ndarray, passes: int,
                generator: torch.Generator) -> np.ndarray:
        """Return the per-class variance over augmented passes, summed over classes."""
        return consistency(clf.augmented_predict_proba(indices, passes, generator))


@SCORERS.register("coreset-distance")
class CoresetDistanceScore(Scorer):
    """Score images far from everything the proxy was trained on (penultimate features)."""

    Params = ProxyTaskParams
    params: ProxyTaskParams
    requires = ("proxy",)

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 Euclidean distances to the nearest labeled test image."""
        proxy = load_proxy(ctx, self.params.task)
        ds = ctx.dataset
        reference = labeled_test(proxy.checkpoint, proxy.task, int(ds.test_x.shape[0]))
        clf = proxy.classifier
        train_f = clf.features(np.arange(ds.n_train, dtype=np.int64))  # [N, D] float32
        test_f = embed(clf.model, ds.test_x[torch.as_tensor(reference)], ctx.device,
                       clf.train.eval_batch_size)  # [L, D] float32
        return min_distances(train_f, test_f, device=ctx.device)


class VAALScoreParams(VAALParams):
    """Options of the vaal scorer: VAAL's options plus the step giving the labeled reference."""

    task: str = Field("proxy", description="proxy step whose labeled test images are 'labeled'")


@SCORERS.register("vaal")
class VAALScore(Scorer):
    """Score train images that the VAAL discriminator finds least like the proxy's labeled set."""

    Params = VAALScoreParams
    params: VAALScoreParams
    requires = ("proxy",)

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Train VAAL (test images "labeled", train "unlabeled"); return 1 - P(labeled) ``[N]``."""
        p = self.params
        ds = ctx.dataset
        reference = labeled_test(ctx.pretrain(p.task).checkpoint(), p.task, int(ds.test_x.shape[0]))
        xl = ds.test_x[torch.as_tensor(reference)].to(ctx.device)  # [L, C, H, W] uint8
        xu = ds.train_x.to(ctx.device)  # [N, C, H, W] uint8
        c, h, w = ds.image_shape
        with torch_seeded(ctx.seed, "vaal", "init"):
            vae = VAE(c, (h, w), p.latent_dim, p.width).to(ctx.device)
            disc = discriminator(p.latent_dim).to(ctx.device)
        train_vaal(vae, disc, xl, xu, p, torch_generator(ctx.seed, "vaal", "batches"), ctx.device)
        return 1.0 - labeled_probability(vae, disc, xu, ctx.device)
