"""The convolutional VAE of the ``vae`` pretext task ([IP]).

Encoder: 3x3 stride-2 convs (32-64-128-256 channels, BatchNorm, LeakyReLU); small images use fewer
stages, ``depth = min(4, floor(log2(min(H, W))))``, and are zero-padded (bottom/right) to a multiple
of ``2 ** depth``. Two linear layers give the mean and log-variance of the latent. The decoder
mirrors the encoder with transposed convs and ends in ``tanh``; its output is cropped back to the
input size. Inputs are images scaled to [-1, 1] (:func:`scale_images`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

CHANNELS = (32, 64, 128, 256)


def vae_depth(height: int, width: int) -> int:
    """Return the number of stride-2 stages for an image of ``height x width``."""
    return max(1, min(len(CHANNELS), int(math.floor(math.log2(min(height, width))))))


def default_latent_dim(height: int, width: int) -> int:
    """Return the [IP] latent size: 512 for images of at least 64 px, else 128."""
    return 512 if min(height, width) >= 64 else 128


def scale_images(x: torch.Tensor) -> torch.Tensor:
    """Map uint8 images ``[n, C, H, W]`` to float32 in [-1, 1]."""
    return x.float().div(127.5).sub_(1.0)


class VAESpec(BaseModel):
    """Everything needed to rebuild a :class:`ConvVAE` (stored beside its weights, like a ModelSpec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    in_channels: int = Field(gt=0)
    height: int = Field(gt=0)
    width: int = Field(gt=0)
    latent_dim: int = Field(gt=0)

    def __init__(self, in_channels: int, height: int, width: int, latent_dim: int) -> None:
        """Build a spec from positional or keyword values (a stored dict goes through ``model_validate``)."""
        super().__init__(in_channels=in_channels, height=height, width=width, latent_dim=latent_dim)


class ConvVAE(nn.Module):
    """Conv encoder / transposed-conv decoder VAE for ``[n, C, H, W]`` images in [-1, 1]."""

    def __init__(self, spec: VAESpec) -> None:
        super().__init__()
        self.spec = spec
        depth = vae_depth(spec.height, spec.width)
        mult = 2**depth
        self.pad_h = -spec.height % mult
        self.pad_w = -spec.width % mult
        self.code_shape = (
            CHANNELS[depth - 1],
            (spec.height + self.pad_h) // mult,
            (spec.width + self.pad_w) // mult,
        )
        self.encoder = nn.Sequential(
            *[
                _down(c_in, c_out)
                for c_in, c_out in zip(
                    (spec.in_channels, *CHANNELS[: depth - 1]), CHANNELS[:depth], strict=True
                )
            ]
        )
        flat = math.prod(self.code_shape)
        self.fc_mu = nn.Linear(flat, spec.latent_dim)
        self.fc_logvar = nn.Linear(flat, spec.latent_dim)
        self.fc_decode = nn.Linear(spec.latent_dim, flat)
        ups: list[nn.Module] = [_up(CHANNELS[i], CHANNELS[i - 1]) for i in range(depth - 1, 0, -1)]
        ups.append(nn.ConvTranspose2d(CHANNELS[0], spec.in_channels, 3, 2, 1, output_padding=1))
        self.decoder = nn.Sequential(*ups, nn.Tanh())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the latent mean and log-variance ``[n, latent]`` of images in [-1, 1]."""
        h = self.encoder(F.pad(x, (0, self.pad_w, 0, self.pad_h))).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return reconstructions ``[n, C, H, W]`` in [-1, 1] of latents ``z`` ``[n, latent]``."""
        h = self.fc_decode(z).view(-1, *self.code_shape)
        return self.decoder(h)[..., : self.spec.height, : self.spec.width]

    def forward(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, mu, logvar)``; z = mu + noise * std (z = mu without noise)."""
        mu, logvar = self.encode(x)
        z = mu if noise is None else mu + noise.to(mu.dtype) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def _down(c_in: int, c_out: int) -> nn.Sequential:
    """Return a 3x3 stride-2 conv, BatchNorm and LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)
    )


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """Return a 3x3 stride-2 transposed conv (doubling the size), BatchNorm and LeakyReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    )


def vae_terms(
    x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return per-sample pixel MSE (mean over pixels) and KL to N(0, I) (sum over latent dims).

    Args:
        x: targets ``[n, C, H, W]`` in [-1, 1].
        recon: reconstructions ``[n, C, H, W]``.
        mu: latent means ``[n, latent]``.
        logvar: latent log-variances ``[n, latent]``.

    Returns:
        ``(mse, kl)``, each ``[n]`` float32.
    """
    mse = (recon.float() - x.float()).pow(2).flatten(1).mean(1)  # [n]
    mu, logvar = mu.float(), logvar.float()
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)  # [n]
    return mse, kl


def build_vae(spec: dict[str, Any] | VAESpec) -> ConvVAE:
    """Build a VAE from its spec (or the spec dict stored in a checkpoint)."""
    return ConvVAE(spec if isinstance(spec, VAESpec) else VAESpec.model_validate(spec))
