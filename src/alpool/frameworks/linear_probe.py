"""``linear-probe``: a linear (or small MLP) head on frozen pretext embeddings.

Training uses ``embeddings(task)[labeled]`` (``pretrain/<task>/embeddings.npy``), optionally
z-scored with the mean and std of the AL pool's embeddings (labeled + unlabeled; unsupervised
statistics, validation excluded). Validation uses the held-out train indices' stored embeddings;
with an official validation split (MedMNIST) those images have no stored embeddings and are embedded
by the pretext encoder like the test split.

The test split has no stored embeddings either (pretrain embeds the train split only), so the
probe rebuilds the pretext encoder from ``model.pt`` (:func:`build_encoder`) and embeds the test
images once per embedding step: al-run passes a cache keyed by the step's ``model.pt`` sha256
(:mod:`alpool.al.embedding_cache`), so later trials and processes reuse the rows.
Before use, the rebuilt encoder must reproduce the stored train
embeddings of a few images (:func:`check_encoder`): a probe never mixes two embedding functions.

The head trains on CPU (it is tiny; results are then the same on any device); the encoder runs on
the episode's device. Queries see the probe through
:class:`~alpool.frameworks.embedding_classifier.EmbeddingClassifier` (see there what each query
input means for a probe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

import numpy as np
import torch
from pydantic import Field
from torch import nn

from alpool.core.errors import ConfigError, CorruptFileError
from alpool.core.params import Params
from alpool.core.seeding import derive_seed, torch_generator, torch_seeded
from alpool.data.augment import crop_flip, to_float
from alpool.frameworks import FRAMEWORKS
from alpool.frameworks.base import EpisodeData, Framework, TrainedModel
from alpool.frameworks.embedding_classifier import EmbeddingClassifier, HeadFit, ProbeHead, fit_head
from alpool.learning.training import eval_mode, prepare
from alpool.learning.validation import KFoldChoice, kfold_stop_epoch
from alpool.models import ModelSpec, build_model
from alpool.ops.infer import infer
from alpool.rundir.checkpoints import encoder_kind

Encoder = nn.Module  # float images [n, C, H, W] in [0, 1] -> embeddings [n, D]
EncoderFactory = Callable[[EpisodeData, str], Encoder]
CHECK_ROWS = 16  # train images re-embedded to verify a rebuilt encoder


class LinearProbeParams(Params):
    """Options of the linear-probe framework."""

    embeddings: str = Field("simclr", description="pretrain task whose embeddings are probed")
    head: Literal["linear", "mlp"] = Field(
        "linear", description="linear layer or one-hidden-layer MLP"
    )
    hidden: int = Field(256, gt=0, description="hidden units of the mlp head")
    dropout: float = Field(
        0.0, ge=0, lt=1, description="dropout (input features for linear, hidden for mlp)"
    )
    epochs: int = Field(100, gt=0, description="passes over the labeled embeddings")
    lr: float = Field(0.05, gt=0, description="Adam learning rate")
    weight_decay: float = Field(1e-2, ge=0, description="L2 penalty (added to the gradient)")
    batch_size: int = Field(256, gt=0, description="mini-batch size")
    standardize: bool = Field(True, description="z-score features by the pool's mean and std")


class _Features(nn.Module):
    """An ``ImageClassifier``'s ``features`` (normalisation + backbone) as an encoder."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``[n, D]`` features of float images."""
        return self.model.features(x)  # type: ignore[operator,no-any-return]


class _VAEMean(nn.Module):
    """A VAE's latent mean as an encoder (what the ``vae`` task stores as its embeddings)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``mu`` ``[n, latent]`` of float images in [0, 1] (the VAE reads [-1, 1])."""
        mu, _ = self.vae.encode(x * 2 - 1)  # type: ignore[operator]
        return mu  # type: ignore[no-any-return]


def _vae_mean_encoder(checkpoint: dict[str, Any], task: str) -> Encoder:
    from alpool.models.vae import build_vae

    vae = build_vae(checkpoint["spec"])
    vae.load_state_dict(checkpoint["state_dict"])
    return _VAEMean(vae).eval()


def build_encoder(checkpoint: dict[str, Any], task: str) -> Encoder:
    """Rebuild a pretext encoder from a pretrain checkpoint (see :mod:`alpool.rundir.checkpoints`).

    By the checkpoint's ``encoder`` kind:
    - ``backbone`` (the default; simclr, scan, proxy): ``spec`` (a :class:`~alpool.models.ModelSpec`
      as a dict) and ``backbone`` (the state_dict of ``build_model(spec).backbone``); the embedding
      is ``model.features(x)``, i.e. the backbone on normalised images;
    - ``vae-mean`` (vae): the VAE's ``spec`` and ``state_dict``; the embedding is the latent mean.

    Raises:
        ConfigError: the checkpoint has no rebuildable encoder.
    """
    kind = encoder_kind(checkpoint)
    if kind == "vae-mean":
        return _vae_mean_encoder(checkpoint, task)
    if kind == "none" or "spec" not in checkpoint or "backbone" not in checkpoint:
        have = ", ".join(sorted(checkpoint)) or "nothing"
        raise ConfigError(
            f"pretrain step {task!r} saved no rebuildable encoder (model.pt has: {have}; "
            f"needs 'spec' and 'backbone'); probe the embeddings of simclr instead"
        )
    spec = ModelSpec.model_validate(checkpoint["spec"])
    with torch_seeded(0, "encoder"):
        model = build_model(spec)
    model.backbone.load_state_dict(checkpoint["backbone"])  # type: ignore[union-attr]
    return _Features(model).eval()


@torch.no_grad()
def embed_images(
    encoder: Encoder, images: torch.Tensor, device: torch.device, batch_size: int = 1024
) -> np.ndarray:
    """Return ``[M, D]`` float32 embeddings of uint8 (or [0, 1] float) images ``[M, C, H, W]``."""
    encoder = prepare(encoder, device)
    if len(images) == 0:
        return np.empty((0, 0), np.float32)
    with eval_mode(encoder):
        return infer(encoder, images, device, batch_size,
                     lambda xb: to_float(xb) if xb.dtype == torch.uint8 else xb.float())[0].numpy()


def embed_split(
    checkpoint: dict[str, Any], images: torch.Tensor, device: torch.device, task: str = "pretrain"
) -> np.ndarray:
    """Embed any images with the pretext encoder stored in ``checkpoint``.

    Args:
        checkpoint: a pretrain step's ``model.pt`` dict (see :func:`build_encoder`).
        images: uint8 images ``[M, C, H, W]``.
        device: where to run the encoder.
        task: the pretrain step's name (for error messages).

    Returns:
        Float32 embeddings ``[M, D]``.
    """
    return embed_images(build_encoder(checkpoint, task), images, device)


def check_encoder(
    encoder: Encoder, images: torch.Tensor, stored: np.ndarray, device: torch.device, task: str
) -> None:
    """Refuse an encoder whose embeddings of ``images`` differ from ``stored`` by > 5%."""
    fresh = embed_images(encoder, images, device)
    if fresh.shape != stored.shape:
        raise CorruptFileError(
            f"pretrain step {task!r}: the rebuilt encoder gives {fresh.shape[1:]}-d "
            f"embeddings but embeddings.npy is {stored.shape[1:]}-d; re-run pretrain"
        )
    error = np.linalg.norm(fresh - stored, axis=1) / np.maximum(
        np.linalg.norm(stored, axis=1), 1e-6
    )
    if float(error.max()) > 0.05:
        raise CorruptFileError(
            f"pretrain step {task!r}: model.pt does not reproduce embeddings.npy "
            f"(relative error {float(error.max()):.3f}); re-run pretrain with --force"
        )


def default_encoder(data: EpisodeData, task: str) -> Encoder:
    """Rebuild the encoder of ``task`` from the episode's pretrain checkpoint."""
    return build_encoder(data.checkpoint(task), task)


@FRAMEWORKS.register("linear-probe")
class LinearProbe(Framework):
    """Probe frozen embeddings; the encoder is needed for the test split (and official val)."""

    Params = LinearProbeParams
    validations = ("split", "none", "labeled-kfold")

    def __init__(
        self,
        params: LinearProbeParams | None = None,
        encoder_factory: EncoderFactory | None = None,
    ) -> None:
        super().__init__(params)
        self.encoder_factory = encoder_factory or default_encoder
        self._encoders: dict[str, Encoder] = {}
        self._split_cache: dict[tuple[str, str], np.ndarray] = {}

    @property
    def p(self) -> LinearProbeParams:
        """Return the typed options."""
        return cast(LinearProbeParams, self.params)

    def uses_pretrain(self) -> list[str]:
        """Return the probed task."""
        return [self.p.embeddings]

    def encoder(self, data: EpisodeData, stored: np.ndarray) -> Encoder:
        """Return the task's encoder, rebuilt and checked once per framework instance (trial)."""
        task = self.p.embeddings
        if task not in self._encoders:
            encoder = self.encoder_factory(data, task)
            rows = torch.arange(min(CHECK_ROWS, data.dataset.n_train))
            check_encoder(
                encoder, data.dataset.train_x[rows], stored[rows.numpy()], data.device, task
            )
            self._encoders[task] = encoder
        return self._encoders[task]

    def split_embeddings(self, data: EpisodeData, split: str, stored: np.ndarray) -> np.ndarray:
        """Return ``[M, D]`` embeddings of the ``test`` or official ``val`` split (cached)."""
        key = (self.p.embeddings, split)
        if key not in self._split_cache:
            images = getattr(data.dataset, f"{split}_x")
            if len(images) == 0:  # no test split (an unlabeled dataset in `alpool next`): no encoder needed
                return np.empty((0, stored.shape[1]), np.float32)

            def compute() -> np.ndarray:
                return embed_images(self.encoder(data, stored), images, data.device)

            cached = data.split_cache(key[0], split, data.device, compute) if data.split_cache else None
            self._split_cache[key] = cached if cached is not None and len(cached) == len(images) else compute()
        return self._split_cache[key]

    def train(self, data: EpisodeData) -> TrainedModel:
        """Fit the head on the labeled embeddings and predict the test split."""
        stored = data.embeddings(self.p.embeddings)  # [N, D] float32
        if stored.ndim != 2 or len(stored) != data.dataset.n_train:
            raise CorruptFileError(
                f"pretrain step {self.p.embeddings!r}: embeddings.npy has shape "
                f"{stored.shape}, expected [{data.dataset.n_train}, D]; re-run pretrain"
            )
        scale = self._scaler(data, stored)
        inputs = scale(stored)  # [N, D] float32 tensor
        val = self._val(data, stored, scale)
        choice = self._kfold(data, inputs) if data.validation == "labeled-kfold" else None
        stop = choice.epoch if choice is not None else None
        head, fit = self._fit(data, inputs, val, 0, stop)
        test = scale(self.split_embeddings(data, "test", stored))  # [M, D]
        with torch.no_grad():
            test_proba = torch.softmax(head(test), dim=1).double().numpy()
        classifier = EmbeddingClassifier(
            head,
            inputs,
            ensemble=lambda m: self._fit(data, inputs, val, m, stop)[0],
            augmented=self._augmenter(data, stored, scale),
        )
        info = {
            "embeddings": self.p.embeddings,
            "head": self.p.head,
            "best_epoch": choice.epoch if choice else fit.best_epoch if fit.best_epoch >= 0 else len(fit.history) - 1,
            "final_train_loss": fit.history[-1]["train_loss"],
            "dim": int(stored.shape[1]),
            "validation": data.validation,
            **(choice.info() if choice is not None else {}),
        }
        return TrainedModel(
            classifier,
            test_proba,
            choice.accuracy if choice is not None else fit.best_val_accuracy,
            state={k: v.clone() for k, v in head.state_dict().items()},
            info=info,
        )

    def _scaler(
        self, data: EpisodeData, stored: np.ndarray
    ) -> Callable[[np.ndarray], torch.Tensor]:
        """Return the feature map: z-score by the pool's statistics, or identity."""
        if not self.p.standardize:
            return lambda e: torch.as_tensor(np.asarray(e, np.float32))
        pool = np.concatenate([data.labeled, data.unlabeled]).astype(np.int64)
        mean = stored[pool].mean(axis=0, dtype=np.float64).astype(np.float32)  # [D]
        std = np.maximum(stored[pool].std(axis=0, dtype=np.float64), 1e-6).astype(np.float32)  # [D]
        return lambda e: torch.as_tensor((np.asarray(e, np.float32) - mean) / std)

    def _val(
        self, data: EpisodeData, stored: np.ndarray, scale: Callable[[np.ndarray], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Return validation inputs and labels: stored rows, or the official split re-embedded."""
        ds = data.dataset
        if data.validation != "split":
            return None
        if ds.val_x is not None and ds.val_y is not None:
            return scale(self.split_embeddings(data, "val", stored)), ds.val_y
        if len(data.val) == 0:
            return None
        return scale(stored[data.val]), ds.train_y[torch.as_tensor(data.val)]

    def _fit(
        self,
        data: EpisodeData,
        inputs: torch.Tensor,
        val: tuple[torch.Tensor, torch.Tensor] | None,
        member: int,
        stop_after: int | None = None,
    ) -> tuple[ProbeHead, HeadFit]:
        """Train one head (member 0: the main one; others: ensemble members with other seeds)."""
        p = self.p
        with torch_seeded(data.seed, "probe-init", member):
            head = ProbeHead(
                inputs.shape[1],
                data.dataset.num_classes,
                p.hidden if p.head == "mlp" else None,
                p.dropout,
            )
        if data.previous is not None and member == 0:
            head.load_state_dict(data.previous)
        idx = torch.as_tensor(data.labeled)
        fit = fit_head(
            head,
            inputs[idx],
            data.dataset.train_y[idx],
            p.epochs,
            p.lr,
            p.weight_decay,
            p.batch_size,
            torch_generator(derive_seed(data.seed, "member", member), "probe"),
            val,
            stop_after,
        )
        return head.eval(), fit

    def _kfold(self, data: EpisodeData, inputs: torch.Tensor) -> KFoldChoice:
        """Choose the epoch to stop after by k-fold on the labeled embeddings only (see learning.validation)."""
        p, idx = self.p, torch.as_tensor(data.labeled)
        x, y = inputs[idx], data.dataset.train_y[idx]

        def curve(fit_pos: np.ndarray, held: np.ndarray) -> list[float]:
            with torch_seeded(data.seed, "probe-init", "kfold", int(held[0])):
                head = ProbeHead(x.shape[1], data.dataset.num_classes, p.hidden if p.head == "mlp" else None, p.dropout)
            fp, hp = torch.as_tensor(fit_pos), torch.as_tensor(held)
            fit = fit_head(head, x[fp], y[fp], p.epochs, p.lr, p.weight_decay, p.batch_size,
                           torch_generator(derive_seed(data.seed, "kfold", int(held[0])), "probe"), (x[hp], y[hp]))
            return [h["val_accuracy"] for h in fit.history]

        return kfold_stop_epoch(y.numpy(), data.folds, data.seed, curve)

    def _augmenter(
        self, data: EpisodeData, stored: np.ndarray, scale: Callable[[np.ndarray], torch.Tensor]
    ) -> Callable[[np.ndarray, torch.Generator], torch.Tensor]:
        """Return ``(indices, g) -> [n, D]``: crop+flip the images and re-embed them."""
        cfg = data.train

        def augmented(indices: np.ndarray, generator: torch.Generator) -> torch.Tensor:
            x = to_float(data.dataset.train_x[torch.as_tensor(np.asarray(indices, np.int64))])
            x = crop_flip(x, generator, *cfg.perturbation(tuple(x.shape), data.dataset.name))
            return scale(
                embed_images(self.encoder(data, stored), x, data.device, cfg.eval_batch_size)
            )

        return augmented
