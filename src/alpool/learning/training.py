"""Fit / evaluate / predict / embed on in-memory tensors: seeded, device-agnostic, no DataLoader.

Batches are sliced from device-resident uint8 tensors and augmented as whole batches on the device.
On CUDA the models run in channels_last with bfloat16 autocast; the same code runs on CPU.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from alpool.core import reporting
from alpool.core.atomic_files import load_state, save_state
from alpool.core.config import TrainConfig
from alpool.core.errors import ConfigError
from alpool.core.seeding import torch_generator, torch_seeded
from alpool.data.augment import crop_flip, to_float
from alpool.ops.infer import autocast, infer


def resolve_device(device: str) -> torch.device:
    """Turn ``auto|cpu|cuda`` into a torch device, refusing ``cuda`` without a GPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(device)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def prepare(model: ModuleT, device: torch.device) -> ModuleT:
    """Move ``model`` to ``device`` (channels_last on CUDA)."""
    if device.type == "cuda":
        return model.to(device).to(memory_format=torch.channels_last)
    return model.to(device)


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Split ``range(n)`` (shuffled when a generator is given) into batches, never leaving a batch of 1."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    parts = list(order.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2] = torch.cat(parts[-2:])
        parts.pop()
    return parts


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Build the optimiser of ``cfg``."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           nesterov=cfg.nesterov and cfg.momentum > 0, weight_decay=cfg.weight_decay)


def cosine_lr(step: int, total: int) -> float:
    """Return the cosine schedule's factor at ``step`` of ``total``."""
    return 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


@dataclass
class FitResult:
    """What :func:`fit` learned: per-epoch history and the best validation epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")
    steps: int = 0


@dataclass(frozen=True)
class ResumeFile:
    """Where :func:`fit` keeps a per-epoch checkpoint, and what it must match to be reused."""

    path: Path
    key: dict[str, Any]


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, seed: int,
        device: torch.device, val: tuple[torch.Tensor, torch.Tensor] | None = None,
        description: str = "train", resume: ResumeFile | None = None, stop_after: int | None = None) -> FitResult:
    """Train ``model`` on uint8 images ``x`` ``[n, C, H, W]`` and labels ``y`` ``[n]``.

    Keeps the weights of the epoch with the best validation accuracy when ``val`` is given (ties:
    the later epoch), else the last. Randomness (order, augmentation, dropout) comes from ``seed``.
    With ``resume``, a checkpoint is written after every epoch and a matching one is continued
    from (random states included), so an interrupted fit ends as an uninterrupted one. With
    ``stop_after`` (an epoch chosen by ``--validation labeled-kfold``), training stops after that
    epoch of the same schedule and keeps its weights.
    """
    if len(x) == 0:
        raise ConfigError("cannot train on an empty labeled set; give a budget of at least 1")
    model = prepare(model, device)
    x, y = x.to(device), y.to(device)
    generator = torch_generator(seed, "batches")
    optimizer = make_optimizer(model, cfg)
    steps_per_epoch = len(batches(len(x), cfg.batch_size, None))
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))
    total = epochs * steps_per_epoch
    result, best_state, step, start = FitResult(), None, 0, 0
    with torch_seeded(seed, "dropout"), reporting.task(description, epochs) as progress:
        state = load_state(resume.path, resume.key) if resume is not None else None
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["rng"])
            if device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"], device)
            best_state, step, start = state["best_state"], int(state["step"]), int(state["epoch"])
            result.history, result.best_epoch = list(state["history"]), int(state["best_epoch"])
            result.best_val_accuracy = float(state["best_val_accuracy"])
            reporting.info(f"{description}: resuming after epoch {start}")
            progress.advance(start)
        for epoch in range(start, epochs if stop_after is None else min(epochs, stop_after + 1)):
            model.train()
            losses = []
            for idx in batches(len(x), cfg.batch_size, generator):
                if cfg.schedule == "cosine":
                    for group in optimizer.param_groups:
                        group["lr"] = cfg.lr * cosine_lr(step, total)
                xb = crop_flip(to_float(x[idx.to(device)]), generator, *cfg.augmentation(tuple(x.shape)))
                with autocast(device, cfg.amp):
                    loss = F.cross_entropy(model(xb), y[idx.to(device)])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
                step += 1
            record = {"epoch": float(epoch), "train_loss": float(torch.stack(losses).mean())}
            if val is not None and len(val[0]):
                record["val_accuracy"] = accuracy(model, val[0], val[1], device, cfg.eval_batch_size)
                if not record["val_accuracy"] < result.best_val_accuracy:  # ties -> later epoch
                    result.best_val_accuracy, result.best_epoch = record["val_accuracy"], epoch
                    best_state = copy.deepcopy(model.state_dict())
            result.history.append(record)
            if resume is not None:
                save_state(resume.path, {
                    "key": resume.key, "epoch": epoch + 1, "step": step, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                    "rng": torch.get_rng_state(), "best_state": best_state, "history": result.history,
                    "best_epoch": result.best_epoch, "best_val_accuracy": result.best_val_accuracy,
                    **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})})
            progress.advance(status=f"loss {record['train_loss']:.3f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    result.steps = step
    return result


@contextmanager
def eval_mode(model: nn.Module, dropout: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; with ``dropout`` the Dropout layers stay active (MC dropout)."""
    was_training = model.training
    model.eval()
    if dropout:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.train()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 1024,
                   dropout: bool = False) -> torch.Tensor:
    """Return logits ``[n, K]`` float32 on CPU for uint8 images ``x`` (eval transforms)."""
    if len(x) == 0:
        return torch.empty(0)
    with eval_mode(model, dropout):
        return infer(model, x, device, batch_size)[0]


def predict_proba(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Return softmax probabilities ``[n, K]`` float64 (eval mode); ``[0, 0]`` for no images."""
    if len(x) == 0:
        return np.empty((0, 0))
    return F.softmax(predict_logits(model, x, device, batch_size), dim=1).double().numpy()


@torch.no_grad()
def embed(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Return the model's ``features`` ``[n, D]`` float32 for uint8 images ``x``."""
    with eval_mode(model):
        return infer(model.features, x, device, batch_size)[0].numpy()  # type: ignore[arg-type]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch_size: int = 1024) -> float:
    """Return top-1 accuracy on ``(x, y)``."""
    pred = predict_logits(model, x, device, batch_size).argmax(1)
    return float((pred == y.cpu()).float().mean())


def classification_metrics(proba: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Return accuracy, macro one-vs-rest ROC-AUC and per-class accuracy of predictions.

    AUC is averaged over the classes present in ``y`` with both positives and negatives.
    """
    from sklearn.metrics import roc_auc_score

    pred = proba.argmax(1)
    per_class = [float((pred[y == k] == k).mean()) if (y == k).any() else float("nan") for k in range(num_classes)]
    aucs = []
    for k in range(num_classes):
        positive = y == k
        if positive.any() and (~positive).any():
            aucs.append(roc_auc_score(positive, proba[:, k]))
    return {
        "accuracy": float((pred == y).mean()),
        "macro_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "per_class_accuracy": per_class,
    }
