"""``semi-supervised``: FixMatch (Sohn et al., NeurIPS 2020), optionally FlexMatch's thresholds.

Each step draws ``batch_size`` labeled and ``mu * batch_size`` unlabeled images (``data.unlabeled``:
the AL pool minus the labeled set; validation images never enter). The labeled images get the weak
augmentation (pad-crop + flip of the training config); each unlabeled image gets a weak view, whose
prediction becomes a hard pseudo-label when its confidence reaches the threshold, and a strong view
(weak + RandAugment + Cutout, :mod:`alpool.data.strong_augment`) trained towards that label:
``loss = CE(labeled) + lambda_u * mean(mask * CE(strong, pseudo-label))``. The three views go
through the network in one batch (as the reference implementation does: BatchNorm sees them all).

FlexMatch (Zhang et al., NeurIPS 2021; ``flexmatch=true``): class-wise thresholds
``T_c = M(beta_c) * tau`` with ``M(x) = x / (2 - x)``. ``sigma_c`` counts the unlabeled images whose
latest confident (``p >= tau``) prediction is ``c``; with threshold warm-up
``beta_c = sigma_c / max(max_c sigma_c, N_unused)`` (``N_unused``: images never confidently
predicted), without it ``beta_c = sigma_c / max_c sigma_c``. Early thresholds are therefore low.

Paper settings (CIFAR-10): 2^20 steps, B = 64, mu = 7, tau = 0.95, lambda_u = 1, SGD lr 0.03
Nesterov momentum 0.9, wd 5e-4, lr ``cos(7 pi k / 16 K)``, EMA of weights for evaluation. Here
the optimiser, lr, weight decay and weak augmentation come from ``--train`` (the AL classifier's
config); with ``schedule=cosine`` the lr follows FixMatch's ``cos(7 pi k / 16 K)``. Defaults are
small so CPU presets finish (200 steps, B = 16, mu = 7: about 25 s per digits episode on one
busy CPU core). alpool keeps the best-validation weights instead of an EMA.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from alpool.core import reporting
from alpool.core.config import TrainConfig
from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.core.seeding import derive_seed, torch_generator, torch_seeded
from alpool.data.augment import crop_flip, to_float
from alpool.data.strong_augment import strong_augment
from alpool.frameworks import FRAMEWORKS
from alpool.frameworks.base import EpisodeData, Framework, TrainedModel
from alpool.frameworks.supervised import load_backbone, model_spec
from alpool.learning.classifier import ModelClassifier
from alpool.learning.training import accuracy, make_optimizer, predict_proba, prepare
from alpool.models import build_model
from alpool.ops.infer import autocast


class SemiSupervisedParams(Params):
    """Options of the semi-supervised framework (FixMatch / FlexMatch)."""

    init: str | None = Field(None, description="pretrain task whose backbone initialises the model")
    steps: int = Field(200, gt=0, description="training steps (paper: 2^20)")
    batch_size: int = Field(16, gt=0, description="labeled images per step B (paper: 64)")
    mu: int = Field(7, ge=1, description="unlabeled images per labeled image in a step")
    tau: float = Field(0.95, gt=0, le=1, description="confidence threshold of pseudo-labels")
    lambda_u: float = Field(1.0, ge=0, description="weight of the unlabeled loss")
    flexmatch: bool = Field(False, description="class-wise flexible thresholds (FlexMatch)")
    threshold_warmup: bool = Field(True, description="FlexMatch's threshold warm-up")
    n_ops: int = Field(2, ge=0, description="RandAugment operations per strong view")
    cutout: float = Field(0.5, ge=0, le=1, description="largest Cutout side / image height")
    eval_every: int = Field(50, gt=0, description="steps between validation checks")


def fixmatch_mask(proba: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(mask, pseudo)``: whether ``max p >= tau`` ``[n]`` and the argmax labels ``[n]``."""
    confidence, pseudo = proba.max(dim=1)
    return confidence >= tau, pseudo


def convex_map(x: torch.Tensor) -> torch.Tensor:
    """Return FlexMatch's mapping ``M(x) = x / (2 - x)`` (convex, M(0) = 0, M(1) = 1)."""
    return x / (2.0 - x)


def flexmatch_thresholds(
    counts: torch.Tensor, n_unused: int, tau: float, warmup: bool
) -> torch.Tensor:
    """Return class-wise thresholds ``tau * M(beta_c)`` ``[K]`` from learning effects ``sigma_c``.

    Args:
        counts: ``sigma_c`` ``[K]``: unlabeled images whose latest confident prediction is ``c``.
        n_unused: images never predicted with confidence ``>= tau``.
        tau: the fixed threshold.
        warmup: normalise by ``max(max_c sigma_c, n_unused)`` instead of ``max_c sigma_c``.

    Returns:
        Float thresholds ``[K]`` (all 0 while no image was ever confident, as in the paper).
    """
    counts = counts.float()
    peak = float(counts.max()) if counts.numel() else 0.0
    if warmup:
        peak = max(peak, float(n_unused))
    beta = counts / peak if peak > 0 else torch.zeros_like(counts)
    return tau * convex_map(beta)


def class_threshold_mask(
    proba: torch.Tensor, thresholds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(mask, pseudo)`` with ``max p >= thresholds[pseudo]`` (FlexMatch)."""
    confidence, pseudo = proba.max(dim=1)
    return confidence >= thresholds.to(proba.device)[pseudo], pseudo


class FlexMatchState:
    """The latest confident prediction of every unlabeled image (-1: never confident)."""

    def __init__(self, n_unlabeled: int, num_classes: int) -> None:
        self.selected = torch.full((n_unlabeled,), -1, dtype=torch.int64)  # [U]
        self.num_classes = num_classes

    def thresholds(self, tau: float, warmup: bool) -> torch.Tensor:
        """Return the current class-wise thresholds ``[K]``."""
        used = self.selected[self.selected >= 0]
        counts = torch.bincount(used, minlength=self.num_classes)
        return flexmatch_thresholds(counts, int((self.selected < 0).sum()), tau, warmup)

    def update(self, positions: torch.Tensor, proba: torch.Tensor, tau: float) -> None:
        """Record the predictions reaching ``tau`` of the unlabeled images at ``positions``."""
        confident, pseudo = fixmatch_mask(proba.cpu(), tau)
        self.selected[positions.cpu()[confident]] = pseudo[confident]


class IndexStream:
    """Endless shuffled passes over ``range(n)``: every index is drawn once per pass."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n = n
        self.generator = generator
        self.buffer = torch.empty(0, dtype=torch.int64)

    def take(self, k: int) -> torch.Tensor:
        """Return the next ``k`` positions ``[k]`` int64."""
        while len(self.buffer) < k:
            self.buffer = torch.cat([self.buffer, torch.randperm(self.n, generator=self.generator)])
        out, self.buffer = self.buffer[:k], self.buffer[k:]
        return out


@dataclass
class FixMatchResult:
    """Training record: one entry per validation window, and the kept step."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_step: int = -1
    best_val_accuracy: float = float("nan")
    steps: int = 0


@dataclass
class _Window:
    """Running sums of one validation window."""

    loss: float = 0.0
    loss_x: float = 0.0
    loss_u: float = 0.0
    mask: float = 0.0
    count: int = 0

    def add(
        self, loss: torch.Tensor, loss_x: torch.Tensor, loss_u: torch.Tensor, mask: float
    ) -> None:
        """Accumulate one step."""
        self.loss += float(loss)
        self.loss_x += float(loss_x)
        self.loss_u += float(loss_u)
        self.mask += mask
        self.count += 1

    def record(self, step: int) -> dict[str, float]:
        """Return the window's means."""
        n = max(self.count, 1)
        return {
            "step": float(step),
            "loss": self.loss / n,
            "loss_x": self.loss_x / n,
            "loss_u": self.loss_u / n,
            "mask_rate": self.mask / n,
        }


def fixmatch_lr(step: int, total: int) -> float:
    """Return FixMatch's learning-rate factor ``cos(7 pi k / 16 K)``."""
    return math.cos(7 * math.pi * min(step, total) / (16 * max(total, 1)))


class FixMatchTrainer:
    """One FixMatch run on device-resident images (see the module docstring)."""

    def __init__(
        self, params: SemiSupervisedParams, cfg: TrainConfig, seed: int, device: torch.device
    ) -> None:
        self.p = params
        self.cfg = cfg
        self.device = device
        self.generator = torch_generator(seed, "fixmatch")
        self.seed = seed

    def _views(self, xl: torch.Tensor, xu: torch.Tensor) -> torch.Tensor:
        """Return the float batch ``[weak labeled; weak unlabeled; strong unlabeled]``."""
        g, (pad, flip) = self.generator, self.cfg.augmentation(tuple(xl.shape))
        weak_l = crop_flip(to_float(xl), g, pad, flip)
        if len(xu) == 0:
            return weak_l
        xu = to_float(xu)
        weak_u = crop_flip(xu, g, pad, flip)
        strong_u = strong_augment(
            crop_flip(xu, g, pad, flip), g, self.p.n_ops, cutout_fraction=self.p.cutout
        )
        return torch.cat([weak_l, weak_u, strong_u])

    def _unlabeled_loss(
        self,
        logits_w: torch.Tensor,
        logits_s: torch.Tensor,
        positions: torch.Tensor,
        flex: FlexMatchState | None,
    ) -> tuple[torch.Tensor, float]:
        """Return the masked pseudo-label loss and the fraction of images above their threshold."""
        proba = F.softmax(logits_w.detach().float(), dim=1)  # [u, K]
        if flex is not None:
            mask, pseudo = class_threshold_mask(
                proba, flex.thresholds(self.p.tau, self.p.threshold_warmup)
            )
            flex.update(positions, proba, self.p.tau)
        else:
            mask, pseudo = fixmatch_mask(proba, self.p.tau)
        loss = (F.cross_entropy(logits_s.float(), pseudo, reduction="none") * mask.float()).mean()
        return loss, float(mask.float().mean())

    def fit(
        self,
        model: nn.Module,
        xl: torch.Tensor,
        yl: torch.Tensor,
        xu: torch.Tensor,
        val: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> FixMatchResult:
        """Train ``model`` on labeled ``(xl, yl)`` and unlabeled ``xu`` (uint8 images).

        Keeps the weights of the validation check with the best accuracy (ties: the later one)
        when ``val`` has rows, else the last weights.
        """
        if len(xl) == 0:
            raise ConfigError("cannot train on an empty labeled set; give a budget of at least 1")
        model = prepare(model, self.device)
        xl, yl, xu = xl.to(self.device), yl.to(self.device), xu.to(self.device)
        streams = IndexStream(len(xl), self.generator), IndexStream(len(xu), self.generator)
        use_flex = self.p.flexmatch and len(xu) > 0
        flex = FlexMatchState(len(xu), int(model.num_classes)) if use_flex else None  # type: ignore[arg-type]
        optimizer = make_optimizer(model, self.cfg)
        result, window = FixMatchResult(), _Window()
        best_state: dict[str, torch.Tensor] | None = None
        seeded = torch_seeded(self.seed, "dropout")
        with seeded, reporting.task("fixmatch", self.p.steps) as progress:
            for step in range(1, self.p.steps + 1):
                self._set_lr(optimizer, step - 1)
                loss = self._step(model, optimizer, xl, yl, xu, streams, flex, window)
                if step % self.p.eval_every == 0 or step == self.p.steps:
                    record, window = window.record(step), _Window()
                    if val is not None and len(val[0]):
                        acc = accuracy(model, val[0], val[1], self.device, self.cfg.eval_batch_size)
                        record["val_accuracy"] = acc
                        if not acc < result.best_val_accuracy:  # ties -> the later step
                            result.best_val_accuracy, result.best_step = acc, step
                            best_state = copy.deepcopy(model.state_dict())
                    result.history.append(record)
                progress.advance(status=f"loss {loss:.3f}")
        if best_state is not None:
            model.load_state_dict(best_state)
        result.steps = self.p.steps
        return result

    def _step(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        xl: torch.Tensor,
        yl: torch.Tensor,
        xu: torch.Tensor,
        streams: tuple[IndexStream, IndexStream],
        flex: FlexMatchState | None,
        window: _Window,
    ) -> float:
        """Run one optimisation step on a fresh labeled and unlabeled batch; return its loss."""
        b = self.p.batch_size
        u = b * self.p.mu if len(xu) else 0
        pos_l = streams[0].take(b).to(self.device)
        pos_u = streams[1].take(u) if u else torch.empty(0, dtype=torch.int64)
        views = self._views(xl[pos_l], xu[pos_u.to(self.device)])  # float32, outside autocast
        model.train()
        with autocast(self.device, self.cfg.amp):
            logits = model(views)
        loss_x = F.cross_entropy(logits[:b].float(), yl[pos_l])
        loss_u, mask_rate = torch.zeros((), device=self.device), 0.0
        if u:
            loss_u, mask_rate = self._unlabeled_loss(
                logits[b : b + u], logits[b + u :], pos_u, flex
            )
        loss = loss_x + self.p.lambda_u * loss_u
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        window.add(loss.detach(), loss_x.detach(), loss_u.detach(), mask_rate)
        return float(loss.detach())

    def _set_lr(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Apply FixMatch's cosine decay when the training config asks for a cosine schedule."""
        factor = fixmatch_lr(step, self.p.steps) if self.cfg.schedule == "cosine" else 1.0
        for group in optimizer.param_groups:
            group["lr"] = self.cfg.lr * factor


@FRAMEWORKS.register("semi-supervised")
class SemiSupervised(Framework):
    """Train ``train.arch`` with FixMatch/FlexMatch, keep the best-validation weights."""

    Params = SemiSupervisedParams

    @property
    def p(self) -> SemiSupervisedParams:
        """Return the typed options."""
        return cast(SemiSupervisedParams, self.params)

    def uses_pretrain(self) -> list[str]:
        """Return the task given by ``init``."""
        return [self.p.init] if self.p.init else []

    def build(self, data: EpisodeData, member: int = 0) -> nn.Module:
        """Build a fresh model (seeded), optionally from a pretext backbone or previous weights."""
        with torch_seeded(data.seed, "init", member):
            model = build_model(model_spec(data))
        init = self.p.init
        if init:
            load_backbone(model, data.checkpoint(init), init)
        if data.previous is not None and member == 0:
            model.load_state_dict(data.previous)
        return model

    def fit_member(self, data: EpisodeData, member: int) -> tuple[nn.Module, FixMatchResult]:
        """Train one model (member 0 is the main model; others are ensemble members)."""
        model = self.build(data, member)
        x, y = data.dataset.train_x, data.dataset.train_y
        labeled, unlabeled = (
            torch.as_tensor(data.labeled),
            torch.as_tensor(np.asarray(data.unlabeled, np.int64)),
        )
        seed = derive_seed(data.seed, "member", member)
        trainer = FixMatchTrainer(self.p, data.train, seed, data.device)
        result = trainer.fit(model, x[labeled], y[labeled], x[unlabeled], data.val_split())
        return model, result

    def train(self, data: EpisodeData) -> TrainedModel:
        """Train the main model; ensemble members are trained lazily when a query asks."""
        model, result = self.fit_member(data, 0)
        classifier = ModelClassifier(
            model,
            data.dataset.train_x,
            data.device,
            data.train,
            ensemble=lambda member: self.fit_member(data, member)[0],
        )
        test_proba = predict_proba(
            model, data.dataset.test_x, data.device, data.train.eval_batch_size
        )
        info: dict[str, Any] = {
            "best_step": result.best_step,
            "steps": result.steps,
            "init": self.p.init,
            "history": result.history,
            "final_train_loss": result.history[-1]["loss"],
        }
        return TrainedModel(
            classifier,
            test_proba,
            result.best_val_accuracy,
            state=copy.deepcopy(model.state_dict()),
            info=info,
        )
