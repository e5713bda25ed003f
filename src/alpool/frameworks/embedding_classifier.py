"""A probe head on frozen embeddings as a :class:`~alpool.selectors.base.Classifier`.

How each query input is defined for a probe (the embeddings are fixed; only the head is trained):

- ``predict_proba``: softmax of the head on the (standardised) embedding.
- ``mc_predict_proba``: the head's own dropout kept active (MC dropout). The ``linear`` head drops
  *input features*, the ``mlp`` head drops hidden units; the head is trained with the same dropout,
  so the passes are Gal & Ghahramani's approximate posterior samples. With ``dropout=0`` every pass
  would be identical (BALD = 0 everywhere), so MC-dropout queries raise a ConfigError instead.
- ``augmented_predict_proba``: the *images* are augmented (``TrainConfig.perturbation``) and
  re-embedded through the frozen pretext encoder, then classified by the head; this needs the
  encoder (a pretrain checkpoint that can be rebuilt), otherwise it raises a ConfigError. No
  feature-noise stand-in is used: it would not measure the consistency the query is defined by.
- ``features``: the input of the last linear layer (the standardised embedding for ``linear``,
  the hidden ReLU activations for ``mlp``), so coreset/BADGE see what the head sees.
- ``grad_embedding``: ``(p - onehot(argmax p)) outer features`` ``[n, K * D]`` (exact for the
  last linear layer).
- ``ensemble_predict_proba``: the head retrained with other seeds on the same labels (cheap).

Dropout masks come from explicit generators: training draws from the fit's generator, MC passes
from the query's generator.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from alpool.core.errors import ConfigError
from alpool.learning.training import batches


class ProbeHead(nn.Module):
    """A linear layer, or a one-hidden-layer MLP, with dropout driven by an explicit generator."""

    def __init__(self, dim: int, num_classes: int, hidden: int | None, dropout: float) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, hidden) if hidden else None
        self.out = nn.Linear(hidden or dim, num_classes)
        self.p = dropout
        self.num_classes = num_classes

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Return the input of the last layer ``[n, D']`` (no dropout)."""
        return F.relu(self.hidden(x)) if self.hidden is not None else x

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Return logits ``[n, K]``; dropout is applied exactly when a generator is given."""
        h = self.penultimate(x)
        if generator is not None and self.p > 0:
            keep = torch.rand(h.shape, generator=generator) >= self.p
            h = h * keep.to(h.device) / (1.0 - self.p)
        return self.out(h)


@dataclass
class HeadFit:
    """What :func:`fit_head` learned."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_accuracy: float = float("nan")


def fit_head(
    head: ProbeHead,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    generator: torch.Generator,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    stop_after: int | None = None,
) -> HeadFit:
    """Train ``head`` on features ``x`` ``[n, D]`` and labels ``y`` ``[n]`` (Adam, L2 decay).

    Keeps the epoch with the best validation accuracy (ties: the later one) when ``val`` has rows;
    ``stop_after`` (a k-fold choice) stops after that epoch.
    """
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    result, best = HeadFit(), None
    for epoch in range(epochs if stop_after is None else min(epochs, stop_after + 1)):
        losses = []
        for idx in batches(len(x), batch_size, generator):
            loss = F.cross_entropy(head(x[idx], generator), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        record = {"epoch": float(epoch), "train_loss": float(np.mean(losses))}
        if val is not None and len(val[0]):
            with torch.no_grad():
                record["val_accuracy"] = float((head(val[0]).argmax(1) == val[1]).float().mean())
            if not record["val_accuracy"] < result.best_val_accuracy:
                result.best_val_accuracy, result.best_epoch = record["val_accuracy"], epoch
                best = copy.deepcopy(head.state_dict())
        result.history.append(record)
    if best is not None:
        head.load_state_dict(best)
    return result


AugmentedEmbedder = Callable[[np.ndarray, torch.Generator], torch.Tensor]  # (indices, g) -> [n, D]


class EmbeddingClassifier:
    """Queries' view of a probe: dataset indices in, predictions from the head on fixed embeddings.

    Args:
        head: the trained head (best-validation weights).
        features: the head's input for every train image ``[N, D]`` float32 (standardised if asked).
        ensemble: factory ``(member) -> head`` training extra heads on the same labels.
        augmented: ``(indices, generator) -> [n, D]`` head inputs of augmented, re-embedded images;
            ``None`` when the pretext encoder is not available.
    """

    def __init__(
        self,
        head: ProbeHead,
        features: torch.Tensor,
        ensemble: Callable[[int], ProbeHead] | None = None,
        augmented: AugmentedEmbedder | None = None,
    ) -> None:
        self.head = head.eval()
        self.inputs = features
        self.num_classes = head.num_classes
        self._ensemble = ensemble
        self._augmented = augmented

    def _x(self, indices: np.ndarray) -> torch.Tensor:
        return self.inputs[torch.as_tensor(np.asarray(indices, dtype=np.int64))]

    @torch.no_grad()
    def _proba(
        self, head: ProbeHead, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> np.ndarray:
        return F.softmax(head(x, generator), dim=1).double().numpy()

    def predict_proba(self, indices: np.ndarray) -> np.ndarray:
        """Return softmax probabilities ``[n, K]`` (no dropout)."""
        return self._proba(self.head, self._x(indices))

    def mc_predict_proba(
        self, indices: np.ndarray, passes: int, generator: torch.Generator
    ) -> np.ndarray:
        """Return ``[passes, n, K]`` with the head's dropout active."""
        if self.head.p <= 0:
            raise ConfigError(
                "MC-dropout queries (bald, dbal) need dropout in the probe head, which has "
                "dropout=0; add --framework-param dropout=0.5 or use another query"
            )
        x = self._x(indices)
        return np.stack([self._proba(self.head, x, generator) for _ in range(passes)])

    def augmented_predict_proba(
        self, indices: np.ndarray, passes: int, generator: torch.Generator
    ) -> np.ndarray:
        """Return ``[passes, n, K]`` over augmented images re-embedded by the frozen encoder."""
        if self._augmented is None:
            raise ConfigError(
                "augmentation queries (consistency) need the pretext encoder, which this "
                "linear probe does not have; use another query or pretrain a task whose "
                "checkpoint can be rebuilt (simclr)"
            )
        return np.stack(
            [self._proba(self.head, self._augmented(indices, generator)) for _ in range(passes)]
        )

    @torch.no_grad()
    def features(self, indices: np.ndarray) -> np.ndarray:
        """Return the input of the head's last layer ``[n, D']``."""
        return self.head.penultimate(self._x(indices)).numpy().astype(np.float32)

    def grad_embedding(self, indices: np.ndarray) -> np.ndarray:
        """Return BADGE embeddings ``(p - onehot(argmax p)) outer features`` ``[n, K * D']``."""
        feats = self.features(indices)  # [n, D']
        residual = self.predict_proba(indices)  # [n, K]
        residual[np.arange(len(residual)), residual.argmax(1)] -= 1.0
        return (residual[:, :, None] * feats[:, None, :]).reshape(len(feats), -1).astype(np.float32)

    def ensemble_predict_proba(self, indices: np.ndarray, members: int) -> np.ndarray:
        """Return ``[members, n, K]``: this head and ``members - 1`` heads with other seeds."""
        if members > 1 and self._ensemble is None:
            raise RuntimeError("this classifier was built without an ensemble factory")
        x = self._x(indices)
        outs = [self._proba(self.head, x)]
        outs += [self._proba(self._ensemble(m).eval(), x) for m in range(1, members)]  # type: ignore[misc]
        return np.stack(outs)
