"""A trained network seen through the :class:`alpool.selectors.base.Classifier` protocol."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from alpool.core.config import TrainConfig
from alpool.data.augment import crop_flip, to_float
from alpool.learning.training import batches, embed, eval_mode, predict_logits
from alpool.models.base import ImageClassifier
from alpool.ops.infer import infer


class ModelClassifier:
    """Wrap a trained ``ImageClassifier`` and the train images so queries can use dataset indices.

    Args:
        model: the trained network (best-validation weights).
        images: all train images ``[N, C, H, W]`` uint8 (CPU or device).
        device: where to run.
        train: the training config (``augmented_predict_proba`` uses its ``perturbation``: the
            training augmentation, at least a 1-pixel crop).
        ensemble: optional factory ``(member) -> model`` training extra members on the same labels.
    """

    def __init__(self, model: nn.Module, images: torch.Tensor, device: torch.device, train: TrainConfig,
                 ensemble: Callable[[int], nn.Module] | None = None) -> None:
        self.model = model
        self.images = images
        self.device = device
        self.train = train
        self.num_classes = int(model.num_classes)  # type: ignore[arg-type]
        self._ensemble = ensemble

    def _x(self, indices: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(np.asarray(indices, dtype=np.int64))]

    def predict_proba(self, indices: np.ndarray) -> np.ndarray:
        """Return softmax probabilities ``[n, K]`` in eval mode."""
        logits = predict_logits(self.model, self._x(indices), self.device, self.train.eval_batch_size)
        return F.softmax(logits, dim=1).double().numpy()

    @torch.no_grad()
    def mc_predict_proba(self, indices: np.ndarray, passes: int, generator: torch.Generator) -> np.ndarray:
        """Return ``[passes, n, K]`` with dropout on and BatchNorm in eval mode (MC dropout).

        When the only dropout is the one before the head (alpool's classifiers), the backbone is
        deterministic in eval mode, so its features are computed once and only dropout + head
        are repeated: the same dropout masks and results as full passes, ``passes`` times cheaper.
        """
        x = self._x(indices)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        out = np.empty((passes, len(x), self.num_classes))
        with torch.random.fork_rng(devices=[self.device.index or 0] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            model = self.model
            if isinstance(model, ImageClassifier) and _dropout_only_before_head(model):
                features = torch.from_numpy(embed(model, x, self.device, self.train.eval_batch_size)).to(self.device)
                with eval_mode(model, dropout=True):
                    for t in range(passes):
                        parts = [model.head(model.dropout(features[idx.to(self.device)])).float().softmax(dim=1).cpu()
                                 for idx in batches(len(features), self.train.eval_batch_size, None)]
                        out[t] = torch.cat(parts).double().numpy()
                return out
            for t in range(passes):
                logits = predict_logits(self.model, x, self.device, self.train.eval_batch_size, dropout=True)
                out[t] = F.softmax(logits, dim=1).double().numpy()
        return out

    @torch.no_grad()
    def augmented_predict_proba(self, indices: np.ndarray, passes: int, generator: torch.Generator) -> np.ndarray:
        """Return ``[passes, n, K]`` over random training augmentations (crop + flip), eval mode."""
        x = self._x(indices)
        out = np.empty((passes, len(x), self.num_classes))
        def augmented(xb: torch.Tensor) -> torch.Tensor:
            xb = to_float(xb)
            return crop_flip(xb, generator, *self.train.perturbation(tuple(xb.shape)))

        with eval_mode(self.model):
            for t in range(passes):
                proba = infer(lambda xb: F.softmax(self.model(xb).float(), dim=1), x, self.device,
                              self.train.eval_batch_size, augmented)[0]
                out[t] = proba.double().numpy()
        return out

    def features(self, indices: np.ndarray) -> np.ndarray:
        """Return penultimate features ``[n, D]``."""
        return embed(self.model, self._x(indices), self.device, self.train.eval_batch_size)

    def grad_embedding(self, indices: np.ndarray) -> np.ndarray:
        """Return BADGE embeddings: gradient of the CE loss at the predicted label w.r.t. the head.

        For a linear head the gradient is ``(p - onehot(argmax p)) outer features``: ``[n, K * D]``.
        """
        feats = self.features(indices)  # [n, D]
        proba = self.predict_proba(indices)  # [n, K]
        residual = proba.copy()
        residual[np.arange(len(proba)), proba.argmax(1)] -= 1.0
        return (residual[:, :, None] * feats[:, None, :]).reshape(len(feats), -1).astype(np.float32)

    def ensemble_predict_proba(self, indices: np.ndarray, members: int) -> np.ndarray:
        """Return ``[members, n, K]``: this model plus ``members - 1`` independently trained ones."""
        outs = [self.predict_proba(indices)]
        if members > 1 and self._ensemble is None:
            raise RuntimeError("this classifier was built without an ensemble factory")
        for member in range(1, members):
            model = self._ensemble(member)  # type: ignore[misc]
            logits = predict_logits(model, self._x(indices), self.device, self.train.eval_batch_size)
            outs.append(F.softmax(logits, dim=1).double().numpy())
        return np.stack(outs)


def _dropout_only_before_head(model: ImageClassifier) -> bool:
    """Return whether the classifier's backbone has no dropout layer (only the one before the head)."""
    return not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.backbone.modules())
