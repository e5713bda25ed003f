"""The model registry (declared in :mod:`alpool.models`): name -> builder ``(ModelSpec) -> ImageClassifier``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alpool.data.base import Dataset
from alpool.models import MODELS
from alpool.models.base import ImageClassifier


class ModelSpec(BaseModel):
    """Everything needed to rebuild a network (stored beside its weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str
    in_channels: int = Field(gt=0)
    image_size: int = Field(gt=0)
    num_classes: int = Field(gt=0)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    dropout: float = Field(0.5, ge=0, lt=1)
    width: int | None = Field(None, gt=0)


Builder = Callable[[ModelSpec], Any]


def build_model(spec: ModelSpec) -> ImageClassifier:
    """Build the network described by ``spec`` (weights freshly initialised)."""
    model: ImageClassifier = MODELS.get(spec.arch)(spec)
    return model


def spec_for(dataset: Dataset, arch: str, width: int | None = None, dropout: float = 0.5) -> ModelSpec:
    """Return the spec of ``arch`` for ``dataset``: its image shape, classes and train-split
    channel statistics (what every classifier and encoder of a run is normalised by)."""
    c, h, _ = dataset.image_shape
    mean, std = dataset.channel_stats()
    classes = max(dataset.num_classes, 1)  # unlabeled images: a 1-unit head that encoders never use
    return ModelSpec(arch=arch, in_channels=c, image_size=h, num_classes=classes,
                     mean=mean, std=std, dropout=dropout, width=width)
