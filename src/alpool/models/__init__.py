"""Networks: classifiers (small CNN, CIFAR ResNet-18), the VAE, and heads."""

from alpool.models import resnet, small_cnn  # noqa: F401  (register)
from alpool.models.base import ImageClassifier, Normalize
from alpool.models.registry import MODELS, ModelSpec, build_model, spec_for

__all__ = ["MODELS", "ImageClassifier", "ModelSpec", "Normalize", "build_model", "spec_for"]
