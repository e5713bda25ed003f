"""Shared pieces of alpool's networks: input normalisation and the classifier interface."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Map uint8-range images scaled to [0, 1] to zero mean / unit std per channel."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` ``[n, C, H, W]`` float in [0, 1]."""
        return (x - self.mean) / self.std


class ImageClassifier(nn.Module):
    """A backbone producing penultimate features, dropout, and a linear head.

    ``forward`` takes float images in [0, 1] ``[n, C, H, W]`` and returns logits ``[n, K]``;
    ``features`` returns the penultimate features ``[n, D]`` used by coreset, BADGE and probes.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int,
                 mean: Sequence[float], std: Sequence[float], dropout: float) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return penultimate features ``[n, D]``."""
        return self.backbone(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``[n, K]``."""
        return self.head(self.dropout(self.features(x)))
