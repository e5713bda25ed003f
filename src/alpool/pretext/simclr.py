"""``simclr`` [IP, SCAN, CS]: contrastive pretraining, per-image loss and training dynamics.

Network: the backbone of ``arch`` (CIFAR-style ResNet-18 from 32 px, the small CNN below) and an
MLP projection head (feature -> 512 -> 128, L2-normalised). Loss: NT-Xent over the two views of
every image of a batch, temperature ``tau`` applied once (the original divided cumulatively).
SGD (lr 0.4, momentum 0.9, weight decay 1e-4), cosine schedule per step, batch 512. Views: the
batched SimCLR augmentation of :mod:`alpool.data.contrastive_augment`.

Every train image is used (pretext training needs no labels, and every image needs a score).

Outputs for every train image:
- ``embeddings``: backbone features (eval mode, no augmentation), the input of typiclust,
  probcover, scan and linear probes; ``projections``: the L2-normalised head outputs;
- ``loss``: the fixed per-image NT-Xent (the original scored a batch of one pair, always 0):
  ``loss_views`` augmented views of the image, each against ``loss_negatives`` other images
  (one augmented view each, drawn once with the run seed; the image itself is left out), mean over
  ordered view pairs, with the network in eval mode;
- training dynamics [CS]: each epoch, the in-batch probability of each image's positive view at
  ``dynamics_temperature`` (chosen independently of the training temperature), averaged over its
  two views; ``confidence`` = mean over epochs, ``variability`` = standard deviation over epochs
  (population std). Running sums (Welford) keep memory at O(N) and survive a resume.

Resume: ``checkpoint.pt`` after each epoch (network, optimiser, generator, dynamics sums).
The manifest summary reports a 20-NN label accuracy of the embeddings (evaluation only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from alpool.core.params import Params
from alpool.core.seeding import numpy_rng, torch_generator, torch_seeded
from alpool.data.augment import to_float
from alpool.data.base import Dataset
from alpool.data.contrastive_augment import ContrastiveAugment, contrastive_views
from alpool.learning.training import batches, cosine_lr, eval_mode, prepare
from alpool.models.base import ImageClassifier
from alpool.models.registry import ModelSpec, build_model, spec_for
from alpool.ops.infer import autocast, infer
from alpool.pretext import TASKS
from alpool.pretext.base import PretextTask, PretrainContext, PretrainOutput
from alpool.pretext.common import cpu_state, resume_key, run_epochs
from alpool.pretext.contrastive import nt_xent, per_image_nt_xent, positive_probability
from alpool.pretext.neighbours import knn_accuracy


class SimCLRParams(Params):
    """Options of the ``simclr`` task (defaults: [IP]/SCAN CIFAR settings)."""

    arch: str | None = Field(None, description="backbone; default resnet18 from 32 px, small-cnn below")
    width: int | None = Field(None, gt=0, description="backbone width (small-cnn: 32, resnet18: 64)")
    epochs: int = Field(500, gt=0)
    batch_size: int = Field(512, gt=1, description="images per batch (2 views each)")
    lr: float = Field(0.4, gt=0, description="SGD learning rate (cosine schedule)")
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature tau")
    hidden_dim: int = Field(512, gt=0, description="projection head hidden size")
    projection_dim: int = Field(128, gt=0, description="projection size")
    dynamics_temperature: float = Field(0.1, gt=0, description="tau_c of the positive probability [CS]")
    crop_min_scale: float = Field(0.2, gt=0, le=1,
                                  description="smallest crop area fraction (0.2; larger for tiny images)")
    loss_views: int = Field(4, ge=2, description="views per image in the per-image loss")
    loss_negatives: int = Field(4096, gt=0, description="shared negatives of the per-image loss")
    eval_batch_size: int = Field(1024, gt=0)


class SimCLRNet(nn.Module):
    """An encoder (normalisation + backbone of an ImageClassifier) and a projection head."""

    def __init__(self, encoder: ImageClassifier, hidden_dim: int, projection_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = nn.Sequential(nn.Linear(encoder.feature_dim, hidden_dim), nn.ReLU(inplace=True),
                                       nn.Linear(hidden_dim, projection_dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return backbone features ``[n, D]`` of float images in [0, 1]."""
        return self.encoder.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return L2-normalised projections ``[n, projection_dim]``."""
        return F.normalize(self.projector(self.features(x)).float(), dim=1)


def encoder_spec(dataset: Dataset, arch: str | None, width: int | None) -> ModelSpec:
    """Return the spec of the encoder for ``dataset`` (what linear probes and ``--init`` rebuild)."""
    return spec_for(dataset, arch or ("resnet18" if dataset.image_shape[1] >= 32 else "small-cnn"), width)


def augmentation(p: SimCLRParams) -> ContrastiveAugment:
    """Return the SimCLR augmentation with the task's crop scale."""
    return ContrastiveAugment(crop_scale=(p.crop_min_scale, 1.0))


@TASKS.register("simclr")
class SimCLRTask(PretextTask):
    """Train SimCLR on every train image; return embeddings, loss and training dynamics."""

    Params = SimCLRParams
    params: SimCLRParams

    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Train, then embed and score every train image."""
        p = self.params
        spec = encoder_spec(ctx.dataset, p.arch, p.width)
        with torch_seeded(ctx.seed, "simclr", "init"):
            net = prepare(SimCLRNet(build_model(spec), p.hidden_dim, p.projection_dim), ctx.device)
        images = ctx.dataset.train_x.to(ctx.device)
        trainer = _Trainer(net, p, ctx)
        history, dynamics = trainer.fit(images)
        embeddings, projections = embed_images(net, images, p.eval_batch_size)
        loss = per_image_loss(net, images, p, ctx.seed)
        knn = knn_accuracy(embeddings, ctx.dataset.train_y.numpy()) if ctx.dataset.has_labels else None
        return PretrainOutput(
            arrays={"embeddings": embeddings, "projections": projections, "loss": loss,
                    "confidence": dynamics.mean.copy(), "variability": dynamics.std()},
            checkpoint={"spec": spec.model_dump(mode="json"), "backbone": cpu_state(net.encoder.backbone),
                        "projector": cpu_state(net.projector), "temperature": p.temperature},
            history=history,
            summary={"epochs": p.epochs, "final_loss": history[-1]["loss"], "arch": spec.arch,
                     "knn20_accuracy_eval_only": knn, "mean_loss": float(loss.mean()),
                     "mean_confidence": float(dynamics.mean.mean())},
        )


class RunningMoments:
    """Per-image running mean and variance over epochs (Welford), O(N) memory."""

    def __init__(self, n: int) -> None:
        self.count = 0
        self.mean = np.zeros(n, dtype=np.float64)
        self.m2 = np.zeros(n, dtype=np.float64)

    def add(self, values: np.ndarray) -> None:
        """Add one epoch's value of every image."""
        self.count += 1
        delta = values - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (values - self.mean)

    def std(self) -> np.ndarray:
        """Return the population standard deviation over the epochs seen."""
        return np.sqrt(self.m2 / max(self.count, 1))

    def state_dict(self) -> dict[str, Any]:
        """Return a saveable copy."""
        return {"count": self.count, "mean": torch.from_numpy(self.mean.copy()), "m2": torch.from_numpy(self.m2.copy())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a saved copy."""
        self.count, self.mean, self.m2 = int(state["count"]), state["mean"].numpy().copy(), state["m2"].numpy().copy()


class _Trainer:
    """The SimCLR loop: cosine SGD per step, dynamics per epoch, resume checkpoint per epoch."""

    def __init__(self, net: SimCLRNet, p: SimCLRParams, ctx: PretrainContext) -> None:
        self.net, self.p, self.ctx = net, p, ctx
        self.optimizer = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
        self.generator = torch_generator(ctx.seed, "simclr", "batches")
        self.key = resume_key("simclr", p, ctx.seed, ctx.dataset.n_train)
        self.augment = augmentation(p)

    def fit(self, images: torch.Tensor) -> tuple[list[dict[str, float]], RunningMoments]:
        """Train for ``epochs``; return the history and the per-image dynamics."""
        n = len(images)
        dynamics = RunningMoments(n)
        stateful = {"net": self.net, "optimizer": self.optimizer, "generator": self.generator, "dynamics": dynamics}
        steps_per_epoch = len(batches(n, self.p.batch_size, None))
        history = run_epochs("simclr", self.ctx.workdir, self.key, stateful, self.p.epochs,
                             lambda epoch, _: self._epoch(images, epoch * steps_per_epoch, steps_per_epoch, dynamics))
        return history, dynamics

    def _epoch(self, images: torch.Tensor, step: int, steps_per_epoch: int,
               dynamics: RunningMoments) -> dict[str, float]:
        """Run one pass; return the mean loss and positive probability; add the epoch's dynamics."""
        self.net.train()
        total = self.p.epochs * steps_per_epoch
        losses, probability = [], torch.zeros(len(images))
        for idx in batches(len(images), self.p.batch_size, self.generator):
            lr = self.p.lr * cosine_lr(step, total)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            xb = to_float(images[idx.to(images.device)])
            views = torch.cat([contrastive_views(xb, self.generator, self.augment),
                               contrastive_views(xb, self.generator, self.augment)])
            with autocast(self.ctx.device):
                z = self.net(views)
            z1, z2 = z.float().chunk(2)
            loss = nt_xent(z1, z2, self.p.temperature)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            probability[idx] = positive_probability(z1.detach(), z2.detach(), self.p.dynamics_temperature).cpu()
            losses.append(loss.detach())
            step += 1
        dynamics.add(probability.double().numpy())
        return {"loss": float(torch.stack(losses).mean()), "lr": lr,
                "positive_probability": float(probability.mean())}


@torch.no_grad()
def embed_images(net: SimCLRNet, images: torch.Tensor, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return backbone features and normalised projections of uint8 images (eval mode, no views)."""
    device = next(net.parameters()).device

    def both(xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = net.features(xb)
        return h, F.normalize(net.projector(h).float(), dim=1)

    with eval_mode(net):
        features, projections = infer(both, images, device, batch_size)
    return features.numpy(), projections.numpy()


@torch.no_grad()
def per_image_loss(net: SimCLRNet, images: torch.Tensor, p: SimCLRParams, seed: int) -> np.ndarray:
    """Return the fixed per-image NT-Xent of every image (float64 ``[N]``), eval mode, seeded views."""
    n = len(images)
    device = next(net.parameters()).device
    generator = torch_generator(seed, "simclr", "loss-views")
    augment = augmentation(p)
    negative_ids = np.sort(numpy_rng(seed, "simclr", "negatives").choice(n, min(p.loss_negatives, n), replace=False))
    negative_idx = torch.from_numpy(negative_ids)
    out = np.empty(n, dtype=np.float64)
    with eval_mode(net):
        negatives = torch.cat([
            net(contrastive_views(to_float(images[chunk.to(images.device)].to(device)), generator, augment))
            for chunk in negative_idx.split(p.eval_batch_size)
        ])
        for idx in batches(n, max(1, p.eval_batch_size // p.loss_views), None):
            xb = to_float(images[idx.to(images.device)].to(device))
            views = torch.stack([net(contrastive_views(xb, generator, augment)) for _ in range(p.loss_views)])
            same = idx[:, None] == negative_idx[None, :]
            out[idx.numpy()] = per_image_nt_xent(views, negatives, p.temperature, same).double().cpu().numpy()
    return out
