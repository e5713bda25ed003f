"""``vae`` [IP]: a convolutional VAE on the train split; per-image loss = the "hard to model" score.

Training: loss per image = pixel MSE (mean over pixels) + w x KL (sum over latent dims), with
w = batch / N (N = training images) unless ``kl_weight`` is given; the batch loss is the mean.
Adam (lr 1e-3, weight decay 5e-4), batch 200, the weights of the epoch with the best validation
loss are kept. Validation = the run's validation indices, or 5 % of the pool when there are none.

Scoring (fixes of the original code, which sampled z and applied a random crop at scoring time):
every train image is scored in eval mode with no augmentation and the *mean* latent z = mu, so the
score is deterministic; ``score_samples = K > 0`` instead averages the reconstruction error over K
latent samples drawn from a generator seeded by the run seed (still reproducible).

Resume: after every epoch ``checkpoint.pt`` in the step folder holds the model, optimiser, epoch,
best weights, history and generator state; a rerun with the same options continues from it. The
task leaves the file in place; the pretrain stage deletes it once the outputs are written.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from alpool.core import reporting
from alpool.core.params import Params
from alpool.core.seeding import torch_generator, torch_seeded
from alpool.learning.training import batches, prepare
from alpool.models.vae import (
    ConvVAE,
    VAESpec,
    build_vae,
    default_latent_dim,
    scale_images,
    vae_terms,
)
from alpool.ops.infer import autocast
from alpool.pretext import TASKS
from alpool.pretext.base import PretextTask, PretrainContext, PretrainOutput
from alpool.pretext.common import (
    cpu_state,
    generator_state,
    holdout_split,
    load_resume,
    resume_key,
    save_resume,
)


class VAEParams(Params):
    """Options of the ``vae`` task."""

    epochs: int | None = Field(
        None, gt=0, description="epochs; default 200, 100 for 1-channel images"
    )
    batch_size: int = Field(200, gt=1, description="images per batch")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = Field(5e-4, ge=0, description="Adam weight decay")
    latent_dim: int | None = Field(
        None, gt=0, description="latent size; default 128 (512 from 64 px)"
    )
    kl_weight: float | None = Field(None, ge=0, description="KL weight w; default batch / N")
    val_fraction: float = Field(
        0.05, ge=0, lt=1, description="pool share held out when the run has no val"
    )
    score_samples: int = Field(
        0, ge=0, description="0: score with z = mu; K: average over K z samples"
    )
    eval_batch_size: int = Field(1024, gt=0, description="images per batch when scoring")


@TASKS.register("vae")
class VAETask(PretextTask):
    """Train the VAE, keep the best-validation weights, score every train image (deterministic)."""

    Params = VAEParams
    params: VAEParams

    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Train; return ``embeddings`` (mu), ``loss``, ``recon``, ``kl`` of every train image."""
        p = self.params
        c, h, w = ctx.dataset.image_shape
        spec = VAESpec(c, h, w, p.latent_dim or default_latent_dim(h, w))
        train_idx, val_idx = holdout_split(ctx, p.val_fraction, "vae")
        kl_weight = (
            p.kl_weight
            if p.kl_weight is not None
            else min(p.batch_size, len(train_idx)) / len(train_idx)
        )
        with torch_seeded(ctx.seed, "vae", "init"):
            model = prepare(build_vae(spec), ctx.device)
        trainer = _Trainer(model, p, ctx, kl_weight)
        history, best_epoch, best_val = trainer.fit(train_idx, val_idx)
        images = ctx.dataset.train_x
        mu, recon, kl = score_images(
            model,
            images,
            ctx.device,
            p.eval_batch_size,
            p.score_samples,
            torch_generator(ctx.seed, "vae", "score"),
        )
        loss = recon + kl_weight * kl
        return PretrainOutput(
            arrays={"embeddings": mu, "loss": loss, "recon": recon, "kl": kl},
            checkpoint={
                "spec": spec.model_dump(mode="json"),
                "state_dict": cpu_state(model),
                "encoder": "vae-mean",  # linear probes rebuild the latent-mean encoder
                "kl_weight": kl_weight,
                "best_epoch": best_epoch,
            },
            history=history,
            summary={
                "epochs": trainer.epochs,
                "best_epoch": best_epoch,
                "best_val_loss": best_val,
                "final_train_loss": history[-1]["train_loss"] if history else float("nan"),
                "kl_weight": kl_weight,
                "latent_dim": spec.latent_dim,
                "mean_loss": float(loss.mean()),
            },
        )


class _Trainer:
    """The VAE training loop with best-validation weights and per-epoch resume checkpoints."""

    def __init__(
        self, model: ConvVAE, p: VAEParams, ctx: PretrainContext, kl_weight: float
    ) -> None:
        self.model, self.p, self.ctx, self.kl_weight = model, p, ctx, kl_weight
        self.epochs = p.epochs or (100 if ctx.dataset.image_shape[0] == 1 else 200)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        self.generator = torch_generator(ctx.seed, "vae", "batches")
        self.key = resume_key("vae", p, ctx.seed, ctx.dataset.n_train)

    def fit(
        self, train_idx: np.ndarray, val_idx: np.ndarray
    ) -> tuple[list[dict[str, float]], int, float]:
        """Train; return the history, the best epoch and its validation loss (NaN without val)."""
        x = self.ctx.dataset.train_x
        x_train = x[torch.as_tensor(train_idx)].to(self.ctx.device)  # [n, C, H, W] uint8
        x_val = x[torch.as_tensor(val_idx)].to(self.ctx.device)
        history: list[dict[str, float]] = []
        best: dict[str, Any] = {"epoch": -1, "val": float("inf"), "state": None}
        start = self._resume(history, best)
        with reporting.task("pretrain vae", self.epochs) as progress:
            progress.advance(start)
            for epoch in range(start, self.epochs):
                record = {"epoch": float(epoch), **self._train_epoch(x_train)}
                if len(x_val):
                    record["val_loss"] = self._val_loss(x_val)
                if not len(x_val) or record["val_loss"] <= best["val"]:
                    best.update(
                        epoch=epoch,
                        val=record.get("val_loss", float("nan")),
                        state=cpu_state(self.model),
                    )
                history.append(record)
                self._save(epoch + 1, history, best)
                progress.advance(status=f"loss {record['train_loss']:.4f}")
        if best["state"] is not None:
            self.model.load_state_dict(best["state"])
        return history, int(best["epoch"]), float(best["val"])

    def _train_epoch(self, x_train: torch.Tensor) -> dict[str, float]:
        """Run one pass over the training images; return the mean loss, MSE and KL."""
        self.model.train()
        totals = torch.zeros(3, dtype=torch.float64)
        for idx in batches(len(x_train), self.p.batch_size, self.generator):
            xb = scale_images(x_train[idx.to(x_train.device)])
            noise = torch.randn(
                (len(idx), self.model.spec.latent_dim), generator=self.generator
            ).to(xb.device)
            with autocast(self.ctx.device):
                recon, mu, logvar = self.model(xb, noise)
            mse, kl = vae_terms(xb, recon, mu, logvar)
            loss = (mse + self.kl_weight * kl).mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            totals += (
                torch.stack([loss.detach() * len(idx), mse.detach().sum(), kl.detach().sum()])
                .double()
                .cpu()
            )
        totals /= len(x_train)
        return {
            "train_loss": float(totals[0]),
            "train_mse": float(totals[1]),
            "train_kl": float(totals[2]),
        }

    def _val_loss(self, x_val: torch.Tensor) -> float:
        """Return the mean deterministic (z = mu) loss on the validation images."""
        _, recon, kl = score_images(
            self.model, x_val, self.ctx.device, self.p.eval_batch_size, 0, None
        )
        return float((recon + self.kl_weight * kl).mean())

    def _resume(self, history: list[dict[str, float]], best: dict[str, Any]) -> int:
        """Load a matching ``checkpoint.pt``; return the epoch to start from."""
        state = load_resume(self.ctx.workdir, self.key)
        if state is None:
            return 0
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        history.extend(state["history"])
        best.update(state["best"])
        reporting.info(f"vae: resuming after epoch {state['epoch']}")
        return int(state["epoch"])

    def _save(self, epoch: int, history: list[dict[str, float]], best: dict[str, Any]) -> None:
        """Write the resume checkpoint after ``epoch`` finished epochs."""
        save_resume(
            self.ctx.workdir,
            {
                "key": self.key,
                "epoch": epoch,
                "model": cpu_state(self.model),
                "optimizer": self.optimizer.state_dict(),
                "generator": generator_state(self.generator),
                "history": history,
                "best": best,
            },
        )


@torch.no_grad()
def score_images(
    model: ConvVAE,
    images: torch.Tensor,
    device: torch.device,
    batch_size: int,
    samples: int,
    generator: torch.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-image ``(mu [n, latent] float32, recon [n] float64, kl [n] float64)``, eval mode.

    Args:
        model: the trained VAE.
        images: uint8 images ``[n, C, H, W]`` (no augmentation is applied).
        device: where to run.
        batch_size: images per batch.
        samples: 0 to decode the mean latent; K > 0 to average the MSE over K latent samples.
        generator: source of the latent samples (needed when ``samples > 0``).
    """
    was_training = model.training
    model.eval()
    mus, recons, kls = [], [], []
    for idx in batches(len(images), batch_size, None):
        xb = scale_images(images[idx].to(device))
        with autocast(device):
            mu, logvar = model.encode(xb)
        draws = (
            [None]
            if samples == 0
            else [torch.randn(mu.shape, generator=generator) for _ in range(samples)]
        )
        mse = torch.zeros(len(idx), device=xb.device)
        for noise in draws:
            z = (
                mu
                if noise is None
                else mu + noise.to(mu.device, mu.dtype) * torch.exp(0.5 * logvar)
            )
            with autocast(device):
                recon = model.decode(z)
            mse += vae_terms(xb, recon, mu, logvar)[0] / len(draws)
        kl = vae_terms(xb, xb, mu, logvar)[1]
        mus.append(mu.float().cpu())
        recons.append(mse.double().cpu())
        kls.append(kl.double().cpu())
    model.train(was_training)
    return torch.cat(mus).numpy(), torch.cat(recons).numpy(), torch.cat(kls).numpy()
