"""A small CNN that trains in seconds on CPU (digits, MNIST-sized images)."""

from __future__ import annotations

from torch import nn

from alpool.models import MODELS
from alpool.models.base import ImageClassifier
from alpool.models.registry import ModelSpec


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """Return a 3x3 conv, BatchNorm and ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallCNNBackbone(nn.Module):
    """Conv blocks with 2x2 max pooling while the image is larger than 4 px, then global average."""

    def __init__(self, in_channels: int, image_size: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for i in range(3):
            out = width * 2**i
            layers += [conv_bn_relu(channels, out), conv_bn_relu(out, out)]
            if size >= 8:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.out_dim = channels

    def forward(self, x):  # type: ignore[no-untyped-def]
        """Return ``[n, out_dim]`` features."""
        return self.net(x)


@MODELS.register("small-cnn")
def small_cnn(spec: ModelSpec) -> ImageClassifier:
    """Build the small CNN classifier."""
    backbone = SmallCNNBackbone(spec.in_channels, spec.image_size, width=spec.width or 32)
    return ImageClassifier(backbone, backbone.out_dim, spec.num_classes, spec.mean, spec.std, spec.dropout)
