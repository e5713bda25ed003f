"""Networks: classifiers (small CNN, CIFAR ResNet-18), the VAE, and heads.

Importing this package is cheap (the registry's names and descriptions); torch comes with the
networks themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpool.core.registry import Registry, lazy_exports

if TYPE_CHECKING:
    from alpool.models.base import ImageClassifier, Normalize
    from alpool.models.registry import Builder, ModelSpec, build_model, spec_for

__all__ = ["MODELS", "ImageClassifier", "ModelSpec", "Normalize", "build_model", "spec_for"]

MODELS: Registry[Builder] = Registry("model")
MODELS.declare("resnet18", "alpool.models.resnet",
               "CIFAR-style ResNet-18 (3x3 stem, dropout before the head), the papers' classifier")
MODELS.declare("small-cnn", "alpool.models.small_cnn",
               "6-conv CNN (32-64-128 channels), fast on CPU; for digits/MNIST-sized data")

__getattr__ = lazy_exports(__name__, {
    "ImageClassifier": "alpool.models.base", "Normalize": "alpool.models.base",
    "ModelSpec": "alpool.models.registry", "build_model": "alpool.models.registry",
    "spec_for": "alpool.models.registry"})
