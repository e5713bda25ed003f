"""VAAL (Sinha et al., ICCV 2019): variational adversarial active learning.

A small conv VAE and an MLP discriminator on the VAE's mean latent are trained adversarially on
the labeled (L) and unlabeled (U) images: the discriminator learns to tell L (target 1) from U
(target 0); the VAE reconstructs both and tries to make the discriminator call everything
"labeled". The query takes the candidates with the lowest "labeled" probability, i.e. those least
like the labeled set. Defaults per METHODS.md: 100 epochs, Adam 5e-4, latent 32.

Decisions: an epoch is one shuffled pass over the unlabeled candidates in batches, each paired
with a labeled batch of the same size drawn with replacement; per batch pair the VAE takes
``vae_steps`` steps and the discriminator ``adv_steps`` steps (the original 2 and 1). The VAE loss
is the per-pixel ELBO (MSE + ``beta`` x KL / pixels) of both batches plus ``adversary_weight`` x
the adversarial BCE. The query does not use the classifier's predictions: it needs one only as an
AL query (a labeled set must exist).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.core.seeding import torch_seeded
from alpool.data.augment import to_float
from alpool.learning.training import batches
from alpool.ops.infer import autocast, infer
from alpool.ops.ranking import rank_top
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_CLASSIFIER, NEED_IMAGES, Selection, SelectionContext, Selector
from alpool.selectors.uncertainty_queries import score_info, torch_generator_from


class VAALParams(Params):
    """Options of VAAL."""

    epochs: int = Field(100, gt=0, description="passes over the unlabeled candidates")
    lr: float = Field(5e-4, gt=0, description="Adam learning rate of the VAE and discriminator")
    latent_dim: int = Field(32, gt=0, description="VAE latent size")
    batch_size: int = Field(128, gt=1, description="images per labeled and per unlabeled batch")
    width: int = Field(32, gt=0, description="channels of the first VAE conv (doubling, 4 max)")
    beta: float = Field(1.0, ge=0, description="weight of the KL term")
    adversary_weight: float = Field(1.0, ge=0, description="weight of the VAE's adversarial term")
    vae_steps: int = Field(2, gt=0, description="VAE steps per batch pair")
    adv_steps: int = Field(1, gt=0, description="discriminator steps per batch pair")


class VAE(nn.Module):
    """Conv VAE: 3x3 stride-2 convs until 4 px (BN, LeakyReLU), mirrored decoder, tanh output."""

    def __init__(self, channels: int, size: tuple[int, int], latent_dim: int, width: int) -> None:
        super().__init__()
        chans, sizes = [channels], [size]
        while max(sizes[-1]) > 4 and len(sizes) <= 4:
            chans.append(width * 2 ** (len(chans) - 1))
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        self.sizes = sizes
        self.encoder = nn.ModuleList(block(nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1), chans[i + 1])
                                     for i in range(len(chans) - 1))
        self.top = (chans[-1], *sizes[-1])
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]
        self.mu, self.logvar = nn.Linear(flat, latent_dim), nn.Linear(flat, latent_dim)
        self.expand = nn.Linear(latent_dim, flat)
        self.decoder = nn.ModuleList(
            block(nn.ConvTranspose2d(chans[i + 1], chans[i], 3, 2, 1), chans[i]) if i > 0
            else nn.ConvTranspose2d(chans[1], chans[0], 3, 2, 1)
            for i in reversed(range(len(chans) - 1)))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``mu`` and ``logvar`` ``[n, latent]`` of images in [-1, 1]."""
        for layer in self.encoder:
            x = layer(x)
        h = x.flatten(1)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return reconstructions ``[n, C, H, W]`` in [-1, 1] of latents ``z``."""
        x = self.expand(z).view(len(z), *self.top)
        for layer, size in zip(self.decoder, reversed(self.sizes[:-1]), strict=True):
            if isinstance(layer, nn.Sequential):  # ConvTranspose2d needs output_size: odd sizes
                x = layer[2](layer[1](layer[0](x, output_size=list(size))))
            else:
                x = layer(x, output_size=list(size))
        return torch.tanh(x)


def block(conv: nn.Module, channels: int) -> nn.Sequential:
    """Return ``conv`` followed by BatchNorm and LeakyReLU."""
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True))


def discriminator(latent_dim: int) -> nn.Sequential:
    """Return the MLP that maps a mean latent to the logit of "labeled"."""
    return nn.Sequential(nn.Linear(latent_dim, 512), nn.ReLU(inplace=True), nn.Linear(512, 512),
                         nn.ReLU(inplace=True), nn.Linear(512, 1))


def scaled(x: torch.Tensor) -> torch.Tensor:
    """Map uint8 images to float in [-1, 1]."""
    return to_float(x) * 2 - 1


def vae_loss(vae: VAE, disc: nn.Module, x: torch.Tensor, generator: torch.Generator,
             p: VAALParams) -> torch.Tensor:
    """Return the per-pixel ELBO of ``x`` plus the term asking the discriminator for "labeled"."""
    mu, logvar = vae.encode(x)
    noise = torch.randn(mu.shape, generator=generator).to(mu.device, mu.dtype)
    recon = vae.decode(mu + noise * torch.exp(0.5 * logvar))
    pixels = x[0].numel()
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).float().sum(1).mean() / pixels
    logits = disc(mu).float().squeeze(1)
    fool = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    return F.mse_loss(recon.float(), x.float()) + p.beta * kl + p.adversary_weight * fool


def disc_loss(vae: VAE, disc: nn.Module, xl: torch.Tensor, xu: torch.Tensor) -> torch.Tensor:
    """Return the discriminator's BCE: labeled mean latents -> 1, unlabeled -> 0."""
    with torch.no_grad():
        mu_l, mu_u = vae.encode(xl)[0], vae.encode(xu)[0]
    logits = disc(torch.cat([mu_l, mu_u])).float().squeeze(1)
    target = torch.cat([torch.ones(len(xl)), torch.zeros(len(xu))]).to(logits.device)
    return F.binary_cross_entropy_with_logits(logits, target)


def train_vaal(vae: VAE, disc: nn.Module, xl: torch.Tensor, xu: torch.Tensor, p: VAALParams,
               generator: torch.Generator, device: torch.device) -> dict[str, list[float]]:
    """Train ``vae`` and ``disc`` adversarially on uint8 ``xl`` (labeled) and ``xu`` (unlabeled).

    Returns:
        Per-epoch mean ``vae_loss`` and ``disc_loss``.
    """
    opt_vae = torch.optim.Adam(vae.parameters(), lr=p.lr)
    opt_disc = torch.optim.Adam(disc.parameters(), lr=p.lr)
    history: dict[str, list[float]] = {"vae_loss": [], "disc_loss": []}
    vae.train()
    disc.train()
    for _ in range(p.epochs):
        v_losses, d_losses = [], []
        for idx in batches(len(xu), p.batch_size, generator):
            lab = torch.randint(len(xl), (len(idx),), generator=generator)
            bl, bu = scaled(xl[lab.to(device)]), scaled(xu[idx.to(device)])
            for _ in range(p.vae_steps):
                with autocast(device):
                    loss = vae_loss(vae, disc, torch.cat([bl, bu]), generator, p)
                step(opt_vae, loss)
                v_losses.append(loss.detach())
            for _ in range(p.adv_steps):
                with autocast(device):
                    loss = disc_loss(vae, disc, bl, bu)
                step(opt_disc, loss)
                d_losses.append(loss.detach())
        history["vae_loss"].append(float(torch.stack(v_losses).mean()))
        history["disc_loss"].append(float(torch.stack(d_losses).mean()))
    return history


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Take one optimiser step on ``loss``."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@torch.no_grad()
def labeled_probability(vae: VAE, disc: nn.Module, x: torch.Tensor, device: torch.device,
                        batch_size: int = 1024) -> np.ndarray:
    """Return the discriminator's "labeled" probability ``[n]`` for uint8 images (eval mode)."""
    vae.eval()
    disc.eval()
    probability = infer(lambda xb: torch.sigmoid(disc(vae.encode(xb)[0]).float().squeeze(1)), x, device,
                        batch_size, scaled)[0]
    return probability.double().numpy()


@SELECTORS.register("vaal")
class VAAL(Selector):
    """Pick the candidates the adversarially trained discriminator least believes are labeled."""

    Params = VAALParams
    needs = frozenset({NEED_CLASSIFIER, NEED_IMAGES})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Train the VAE and discriminator on L vs candidates, return the lowest "labeled" ones."""
        p: VAALParams = self.params  # type: ignore[assignment]
        if len(ctx.labeled) == 0:
            raise ConfigError("vaal needs a non-empty labeled set; use it as `al-run --query vaal` "
                              "after an initial pool")
        images = ctx.require_inputs("the train images").images()
        device = torch.device(ctx.device)
        xl = images[torch.as_tensor(ctx.labeled)].to(device)  # [L, C, H, W] uint8
        xu = images[torch.as_tensor(ctx.candidates)].to(device)  # [U, C, H, W] uint8
        generator = torch_generator_from(ctx.rng)
        with torch_seeded(int(torch.randint(0, 2**62, (1,), generator=generator)), "vaal-init"):
            vae = VAE(xl.shape[1], (xl.shape[2], xl.shape[3]), p.latent_dim, p.width).to(device)
            disc = discriminator(p.latent_dim).to(device)
        history = train_vaal(vae, disc, xl, xu, p, generator, device)
        scores = 1.0 - labeled_probability(vae, disc, xu, device)  # [U] "unlabeled" probability
        picks = rank_top(scores, budget, ctx.rng)
        info: dict[str, Any] = {**score_info(scores, picks), **history, "epochs": p.epochs}
        return Selection(ctx.candidates[picks].astype(np.int64), scores, info)
