"""``scan`` [SCAN]: cluster the train images from a finished ``simclr`` step.

1. Mine the ``neighbours`` (20) nearest neighbours of every image by cosine similarity of the
   simclr projections (its embeddings when a step saved no projections).
2. Train ``heads`` (10) clustering heads (K = number of classes unless ``clusters`` is given) on
   the simclr backbone (also updated unless ``update_backbone = false``) with the SCAN loss per
   head: ``-mean log <p_i, p_j>`` over (image, random mined neighbour) pairs minus
   ``entropy_weight`` (5.0) x the entropy of the batch's mean prediction. Both images are seen
   through the SimCLR augmentation. Adam lr 1e-4, weight decay 1e-4. The head with the lowest
   loss in the last epoch is kept.
3. Optional self-labelling (``self_label_epochs`` > 0): images whose un-augmented prediction is
   above ``self_label_threshold`` (0.99) take its arg-max as a label; cross-entropy on an
   augmented view, weighted by inverse class frequency in the batch.

Outputs for every train image: ``cluster`` (int64), ``confidence`` (max probability),
``proba`` ``[N, K]``, ``embeddings`` (the trained backbone's features). The manifest reports
NMI / ACC / ARI against the true train labels: evaluation only, labels never feed a selection.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from alpool.core.errors import ConfigError, MissingStepError
from alpool.core.params import Params
from alpool.core.seeding import torch_generator, torch_seeded
from alpool.data.augment import to_float
from alpool.data.base import Dataset
from alpool.data.contrastive_augment import ContrastiveAugment, contrastive_views
from alpool.learning.training import batches, eval_mode, prepare
from alpool.models.base import ImageClassifier
from alpool.models.registry import ModelSpec, build_model
from alpool.ops.infer import autocast, infer
from alpool.pretext import TASKS
from alpool.pretext.base import PretextTask, PretrainContext, PretrainOutput
from alpool.pretext.common import cpu_state, resume_key, run_epochs
from alpool.pretext.neighbours import cluster_agreement, cosine_neighbours
from alpool.rundir.checkpoints import encoder_kind

EPS = 1e-8


class SCANParams(Params):
    """Options of the ``scan`` task (defaults: SCAN's CIFAR settings)."""

    task: str = Field("simclr", description="the contrastive pretrain step to start from")
    clusters: int | None = Field(None, gt=1, description="number of clusters K; default = number of classes")
    neighbours: int = Field(20, gt=0, description="mined nearest neighbours per image")
    epochs: int = Field(100, gt=0)
    batch_size: int = Field(128, gt=1)
    lr: float = Field(1e-4, gt=0, description="Adam learning rate")
    weight_decay: float = Field(1e-4, ge=0)
    entropy_weight: float = Field(5.0, ge=0, description="weight of the mean-prediction entropy")
    heads: int = Field(10, gt=0, description="clustering heads trained at once; the lowest-loss one is kept")
    update_backbone: bool = Field(True, description="train the backbone too (false: heads only)")
    augment: bool = Field(True, description="see images through the SimCLR augmentation")
    self_label_epochs: int = Field(0, ge=0, description="self-labelling epochs after the SCAN step")
    self_label_threshold: float = Field(0.99, gt=0, lt=1)
    eval_batch_size: int = Field(1024, gt=0)


class ClusterNet(nn.Module):
    """An encoder and ``heads`` linear clustering heads of ``clusters`` outputs each."""

    def __init__(self, encoder: ImageClassifier, clusters: int, heads: int) -> None:
        super().__init__()
        self.encoder, self.clusters, self.n_heads = encoder, clusters, heads
        self.heads = nn.Linear(encoder.feature_dim, clusters * heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``[n, heads, clusters]``."""
        return self.heads(self.encoder.features(x)).float().view(len(x), self.n_heads, self.clusters)


def scan_loss(p_anchor: torch.Tensor, p_neighbour: torch.Tensor, entropy_weight: float) -> torch.Tensor:
    """Return the SCAN loss per head, ``[heads]``, of probabilities ``[n, heads, K]``."""
    consistency = -torch.log((p_anchor * p_neighbour).sum(dim=2).clamp_min(EPS)).mean(dim=0)
    mean = p_anchor.mean(dim=0)
    entropy = -(mean * torch.log(mean.clamp_min(EPS))).sum(dim=1)
    return consistency - entropy_weight * entropy


@TASKS.register("scan")
class SCANTask(PretextTask):
    """Mine neighbours, train the clustering heads, optionally self-label."""

    Params = SCANParams
    params: SCANParams
    requires = ("simclr",)

    def check(self, dataset: Dataset) -> None:
        """Refuse an unlabeled dataset without ``clusters`` (the default is the number of classes)."""
        if not self.params.clusters and dataset.num_classes < 1:  # type: ignore[attr-defined]
            raise ConfigError("the dataset has no classes (unlabeled images): give --param clusters=K, "
                              "your guess of the number of kinds")

    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Train and return cluster ids, confidences and probabilities of every train image."""
        p = self.params
        source = ctx.upstream(p.task)
        checkpoint = source.checkpoint()
        if encoder_kind(checkpoint) != "backbone" or "backbone" not in checkpoint:
            raise ConfigError(f"pretrain step {p.task!r} saved no encoder; scan starts from a simclr step: "
                              f"alpool pretrain --task simclr")
        try:
            knn_input = source.array("projections")
        except (KeyError, MissingStepError):
            knn_input = source.array("embeddings")
        if p.neighbours >= ctx.dataset.n_train:
            raise ConfigError(f"neighbours = {p.neighbours} needs more than {ctx.dataset.n_train} train images; "
                              "give a smaller neighbours")
        neighbours = torch.from_numpy(cosine_neighbours(knn_input, p.neighbours, ctx.device))
        spec = ModelSpec.model_validate(checkpoint["spec"])
        clusters = p.clusters or ctx.dataset.num_classes
        with torch_seeded(ctx.seed, "scan", "init"):
            encoder = build_model(spec)
            encoder.backbone.load_state_dict(checkpoint["backbone"])  # type: ignore[union-attr]
            net = prepare(ClusterNet(encoder, clusters, p.heads), ctx.device)  # type: ignore[arg-type]
        images = ctx.dataset.train_x.to(ctx.device)
        history, head = _Trainer(net, p, ctx).fit(images, neighbours)
        proba, features = predict(net, images, head, p.eval_batch_size)
        cluster = proba.argmax(axis=1).astype(np.int64)
        agreement = cluster_agreement(cluster, ctx.dataset.train_y.numpy()) if ctx.dataset.has_labels else {}
        return PretrainOutput(
            arrays={"cluster": cluster, "confidence": proba.max(axis=1).astype(np.float64), "proba": proba,
                    "embeddings": features},
            checkpoint={"spec": spec.model_dump(mode="json"), "backbone": cpu_state(encoder.backbone),
                        "cluster_head": {"weight": net.heads.weight.detach().view(p.heads, clusters, -1)[head].cpu(),
                                         "bias": net.heads.bias.detach().view(p.heads, clusters)[head].cpu()},
                        "clusters": clusters, "source": p.task},
            history=history,
            summary={"clusters": clusters, "head": head,
                     "cluster_sizes": np.bincount(cluster, minlength=clusters).tolist(),
                     "mean_confidence": float(proba.max(axis=1).mean()),
                     **{f"{name}_eval_only": value for name, value in agreement.items()}},
        )


class _Trainer:
    """SCAN epochs then self-label epochs, one resume checkpoint per epoch."""

    def __init__(self, net: ClusterNet, p: SCANParams, ctx: PretrainContext) -> None:
        self.net, self.p, self.ctx = net, p, ctx
        if not p.update_backbone:
            net.encoder.requires_grad_(False)
        trainable = [w for w in net.parameters() if w.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=p.lr, weight_decay=p.weight_decay)
        self.generator = torch_generator(ctx.seed, "scan", "batches")
        self.key = resume_key("scan", p, ctx.seed, ctx.dataset.n_train)
        self.augment = ContrastiveAugment()

    def fit(self, images: torch.Tensor, neighbours: torch.Tensor) -> tuple[list[dict[str, Any]], int]:
        """Train; return the history and the index of the kept head."""
        stateful = {"net": self.net, "optimizer": self.optimizer, "generator": self.generator}

        def one_epoch(epoch: int, history: list[dict[str, Any]]) -> dict[str, Any]:
            if epoch < self.p.epochs:
                return self._scan_epoch(images, neighbours)
            return self._self_label_epoch(images, self._best_head(history))

        history = run_epochs("scan", self.ctx.workdir, self.key, stateful,
                             self.p.epochs + self.p.self_label_epochs, one_epoch)
        return history, self._best_head(history)

    def _best_head(self, history: list[dict[str, Any]]) -> int:
        """Return the head with the lowest loss in the last SCAN epoch."""
        last = history[self.p.epochs - 1]
        return int(np.argmin([last[f"loss_head{h}"] for h in range(self.p.heads)]))

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float(x)
        return contrastive_views(x, self.generator, self.augment) if self.p.augment else x

    def _train_mode(self) -> None:
        self.net.train()
        if not self.p.update_backbone:
            self.net.encoder.eval()

    def _step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def _scan_epoch(self, images: torch.Tensor, neighbours: torch.Tensor) -> dict[str, float]:
        """One pass of (image, random neighbour) pairs; return the mean loss of every head."""
        self._train_mode()
        per_head = torch.zeros(self.p.heads, dtype=torch.float64)
        for idx in batches(len(images), self.p.batch_size, self.generator):
            pick = torch.randint(0, neighbours.shape[1], (len(idx),), generator=self.generator)
            partner = neighbours[idx, pick]
            x = torch.cat([self._view(images[idx.to(images.device)]), self._view(images[partner.to(images.device)])])
            with autocast(self.ctx.device):
                logits = self.net(x)
            p_anchor, p_neighbour = torch.softmax(logits.float(), dim=2).chunk(2)
            losses = scan_loss(p_anchor, p_neighbour, self.p.entropy_weight)
            self._step(losses.sum())
            per_head += losses.detach().double().cpu() * len(idx)
        per_head /= len(images)
        return {"loss": float(per_head.min()), **{f"loss_head{h}": float(v) for h, v in enumerate(per_head)}}

    def _self_label_epoch(self, images: torch.Tensor, head: int) -> dict[str, float]:
        """One self-labelling pass on the kept head; return the loss and the confident share."""
        self._train_mode()
        total, confident = 0.0, 0
        for idx in batches(len(images), self.p.batch_size, self.generator):
            xb = images[idx.to(images.device)]
            with torch.no_grad(), autocast(self.ctx.device):
                p_weak = torch.softmax(self.net(to_float(xb))[:, head].float(), dim=1)
            top, target = p_weak.max(dim=1)
            mask = top > self.p.self_label_threshold
            if not mask.any():
                continue
            counts = torch.bincount(target[mask], minlength=self.net.clusters).float()
            weight = torch.where(counts > 0, counts.sum() / counts.clamp_min(1), torch.zeros_like(counts))
            with autocast(self.ctx.device):
                logits = self.net(self._view(xb[mask]))[:, head].float()
            loss = F.cross_entropy(logits, target[mask], weight=weight / weight[counts > 0].mean())
            self._step(loss)
            total += float(loss.detach()) * int(mask.sum())
            confident += int(mask.sum())
        return {"loss": total / max(confident, 1), "confident_share": confident / len(images)}


@torch.no_grad()
def predict(net: ClusterNet, images: torch.Tensor, head: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(proba [N, K] float32, features [N, D] float32)`` in eval mode, no augmentation."""
    device = next(net.parameters()).device

    def both(xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = net.encoder.features(xb)
        logits = net.heads(h).float().view(len(xb), net.n_heads, net.clusters)[:, head]
        return torch.softmax(logits.float(), dim=1), h

    with eval_mode(net):
        probas, features = infer(both, images, device, batch_size)
    return probas.numpy(), features.numpy()
