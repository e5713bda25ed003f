"""``supervised``: a network trained from scratch (or from a pretext backbone) on the labeled set."""

from __future__ import annotations

import copy

import numpy as np
import torch
from pydantic import Field

from alpool.core.params import Params
from alpool.core.seeding import derive_seed, torch_seeded
from alpool.frameworks import FRAMEWORKS
from alpool.frameworks.base import EpisodeData, Framework, TrainedModel
from alpool.learning.classifier import ModelClassifier
from alpool.learning.training import FitResult, fit, predict_proba
from alpool.learning.validation import KFoldChoice, kfold_stop_epoch
from alpool.models import ModelSpec, build_model, spec_for


class SupervisedParams(Params):
    """Options of the supervised framework."""

    init: str | None = Field(None, description="pretrain task whose backbone initialises the model (e.g. simclr)")


def model_spec(data: EpisodeData) -> ModelSpec:
    """Return the classifier spec for the episode's dataset and training config."""
    cfg = data.train
    return spec_for(data.dataset, cfg.arch, cfg.width, cfg.dropout)


def load_backbone(model: torch.nn.Module, checkpoint: dict, task: str) -> None:
    """Copy a pretext checkpoint's ``backbone`` weights into ``model.backbone`` (shapes must match)."""
    from alpool.core.errors import ConfigError

    state = checkpoint.get("backbone")
    if state is None:
        raise ConfigError(f"pretrain step {task!r} saved no backbone weights; use --init simclr")
    try:
        model.backbone.load_state_dict(state)  # type: ignore[union-attr]
    except RuntimeError as exc:
        raise ConfigError(f"the {task!r} backbone does not fit the classifier {type(model).__name__}: "
                          f"pretrain with the same --arch ({str(exc).splitlines()[0]})") from None


@FRAMEWORKS.register("supervised")
class Supervised(Framework):
    """Train ``train.arch`` on the labeled images, keep the best-validation weights."""

    Params = SupervisedParams
    validations = ("split", "none", "labeled-kfold")

    def uses_pretrain(self) -> list[str]:
        """Return the task given by ``init``."""
        return [self.params.init] if self.params.init else []  # type: ignore[attr-defined]

    def build(self, data: EpisodeData, member: int = 0) -> torch.nn.Module:
        """Build a fresh model (seeded), optionally from a pretext backbone or previous weights."""
        with torch_seeded(data.seed, "init", member):
            model = build_model(model_spec(data))
        init = self.params.init  # type: ignore[attr-defined]
        if init:
            load_backbone(model, data.checkpoint(init), init)
        if data.previous is not None and member == 0:
            model.load_state_dict(data.previous)
        return model

    def fit_member(self, data: EpisodeData, member: int,
                   stop_after: int | None = None) -> tuple[torch.nn.Module, FitResult]:
        """Train one model (member 0 is the main model; others are ensemble members)."""
        model = self.build(data, member)
        idx = torch.as_tensor(data.labeled)
        result = fit(model, data.dataset.train_x[idx], data.dataset.train_y[idx], data.train,
                     derive_seed(data.seed, "member", member), data.device, val=data.val_split(),
                     description=f"train ({len(idx)} labels)", stop_after=stop_after)
        return model, result

    def kfold(self, data: EpisodeData) -> KFoldChoice:
        """Choose the epoch to stop after by k-fold on the labeled images only (:mod:`alpool.learning.validation`)."""
        x, y = data.dataset.train_x[torch.as_tensor(data.labeled)], data.dataset.train_y[torch.as_tensor(data.labeled)]

        def curve(fit_pos: np.ndarray, held: np.ndarray) -> list[float]:
            with torch_seeded(data.seed, "init", "kfold", len(held), int(held[0])):
                model = build_model(model_spec(data))
            fp, hp = torch.as_tensor(fit_pos), torch.as_tensor(held)
            result = fit(model, x[fp], y[fp], data.train, derive_seed(data.seed, "kfold", int(held[0])),
                         data.device, val=(x[hp], y[hp]), description=f"k-fold ({len(fit_pos)} labels)")
            return [h["val_accuracy"] for h in result.history]

        return kfold_stop_epoch(y.numpy(), data.folds, data.seed, curve)

    def train(self, data: EpisodeData) -> TrainedModel:
        """Train the main model; ensemble members are trained lazily when a query asks."""
        choice = self.kfold(data) if data.validation == "labeled-kfold" else None
        stop = choice.epoch if choice is not None else None
        model, result = self.fit_member(data, 0, stop)
        classifier = ModelClassifier(model, data.dataset.train_x, data.device, data.train,
                                     ensemble=lambda member: self.fit_member(data, member, stop)[0])
        test_proba = predict_proba(model, data.dataset.test_x, data.device, data.train.eval_batch_size)
        kept = result.best_epoch if result.best_epoch >= 0 else len(result.history) - 1  # no validation: the last
        kept = choice.epoch if choice is not None else kept
        info = {"best_epoch": kept, "steps": result.steps,
                "final_train_loss": result.history[-1]["train_loss"], "validation": data.validation,
                **(choice.info() if choice is not None else {})}
        val_accuracy = choice.accuracy if choice is not None else result.best_val_accuracy
        return TrainedModel(classifier, test_proba, val_accuracy,
                            state=copy.deepcopy(model.state_dict()), info=info)
