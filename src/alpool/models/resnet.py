"""CIFAR-style ResNet-18: 3x3 stem, no max pooling, dropout before the last layer ([TK])."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from alpool.models import MODELS
from alpool.models.base import ImageClassifier
from alpool.models.registry import ModelSpec


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18Backbone(nn.Module):
    """ResNet-18 body for small images: stem 3x3/1, four stages of two blocks, global average."""

    def __init__(self, in_channels: int, width: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        c_in = width
        for i, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2**i
            stages += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.out_dim = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``[n, 8 * width]`` features."""
        return F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1)


@MODELS.register("resnet18")
def resnet18(spec: ModelSpec) -> ImageClassifier:
    """Build the CIFAR-style ResNet-18 classifier."""
    backbone = ResNet18Backbone(spec.in_channels, width=spec.width or 64)
    return ImageClassifier(backbone, backbone.out_dim, spec.num_classes, spec.mean, spec.std, spec.dropout)
