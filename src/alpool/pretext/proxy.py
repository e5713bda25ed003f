"""``proxy`` [CS cold bench]: a supervised classifier trained on the *test* split (an oracle).

Purpose: give every train image the classic AL scores (entropy, margin, BALD, ...) before any train
label exists, so that the cold bench can correlate "what an AL query would have liked" with pool
performance. It leaks labels by design: ``oracle = True`` here and in the output, and every scores
step that reads it inherits the flag (``stages.rank`` passes ``upstream.oracle`` to the manifest).

Training: :func:`alpool.learning.training.fit` with the options of ``[al.train]`` (arch, epochs, SGD,
cosine, crop + flip, dropout, ...; defaults: :class:`~alpool.core.config.TrainConfig`) on the test
split minus a seeded hold-out of ``val_fraction`` of it; the weights of the epoch with the best
hold-out accuracy are kept (the last epoch without a hold-out). The official validation split of
MedMNIST is not used: the hold-out comes out of the test split, so the proxy touches no split
other than the one it is allowed to leak.

Outputs for every train image (eval mode, no augmentation): ``embeddings`` ``[N, D]`` float32
(backbone features) and ``proba`` ``[N, C]`` float32 (softmax). The checkpoint holds ``spec`` (the
:class:`~alpool.models.ModelSpec` as JSON), ``state_dict`` (the full classifier), ``backbone``
(``build_model(spec).backbone`` weights, what ``linear-probe`` and ``supervised --init proxy``
rebuild), ``train`` (the training options: the consistency scorer reuses its augmentation) and
``test_fit`` / ``test_holdout`` (int64 test-split indices whose labels the proxy used).

Summary: ``holdout_accuracy`` (test-split hold-out, best epoch) and ``train_accuracy_oracle``
(accuracy on the train split: it reads the pool's labels, so it is an oracle figure, reported
only to show how good the proxy's view of the pool is, never a result).

Resume: ``fit`` keeps ``checkpoint.pt`` in the step folder after every epoch (weights, optimiser,
random states, best weights), so a killed proxy continues where it stopped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from alpool.core.config import TrainConfig
from alpool.core.params import Params
from alpool.core.seeding import derive_seed, numpy_rng, torch_seeded
from alpool.data.base import Dataset
from alpool.learning.training import ResumeFile, embed, fit, predict_proba
from alpool.models import ModelSpec, build_model, spec_for
from alpool.pretext import TASKS
from alpool.pretext.base import PretextTask, PretrainContext, PretrainOutput
from alpool.pretext.common import RESUME_FILE, cpu_state, resume_key


class ProxyParams(Params, TrainConfig):
    """Options of the ``proxy`` task: every option of ``[al.train]`` plus the hold-out share."""

    val_fraction: float = Field(
        0.1, ge=0, lt=1, description="share of the test split held out for the best epoch"
    )

    def train_config(self) -> TrainConfig:
        """Return the training options as a :class:`TrainConfig`."""
        return TrainConfig(**self.model_dump(exclude={"val_fraction"}))


def proxy_spec(dataset: Dataset, cfg: TrainConfig) -> ModelSpec:
    """Return the classifier spec (normalised by the train split's channel statistics)."""
    return spec_for(dataset, cfg.arch, cfg.width, cfg.dropout)


def split_test(n_test: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted int64 ``(fit, holdout)`` test-split indices; the hold-out is seeded.

    No hold-out when ``fraction`` rounds to 0 images or would leave fewer than 2 to train on.
    """
    n_hold = int(round(fraction * n_test))
    if n_hold == 0 or n_test - n_hold < 2:
        return np.arange(n_test, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = numpy_rng(seed, "proxy", "holdout").permutation(n_test)
    return np.sort(order[n_hold:]).astype(np.int64), np.sort(order[:n_hold]).astype(np.int64)


@TASKS.register("proxy")
class ProxyTask(PretextTask):
    """Train a classifier on the test split and predict every train image (oracle)."""

    Params = ProxyParams
    params: ProxyParams
    oracle = True

    def run(self, ctx: PretrainContext) -> PretrainOutput:
        """Train on the test split; return ``embeddings`` and ``proba`` of every train image."""
        ds = ctx.dataset
        cfg = self.params.train_config().resolved(ds.name, ds.image_shape)
        spec = proxy_spec(ds, cfg)
        fit_idx, hold_idx = split_test(int(ds.test_x.shape[0]), self.params.val_fraction, ctx.seed)
        with torch_seeded(ctx.seed, "proxy", "init"):
            model = build_model(spec)
        fit_t, hold_t = torch.as_tensor(fit_idx), torch.as_tensor(hold_idx)
        val = (ds.test_x[hold_t], ds.test_y[hold_t]) if len(hold_idx) else None
        resume = ResumeFile(ctx.workdir / RESUME_FILE, resume_key("proxy", self.params, ctx.seed, ds.n_train))
        result = fit(model, ds.test_x[fit_t], ds.test_y[fit_t], cfg, derive_seed(ctx.seed, "proxy"),
                     ctx.device, val=val, description="pretrain proxy (test split)", resume=resume)
        embeddings = embed(model, ds.train_x, ctx.device, cfg.eval_batch_size)  # [N, D] float32
        proba = predict_proba(model, ds.train_x, ctx.device, cfg.eval_batch_size)  # [N, C] float64
        train_accuracy = float((proba.argmax(1) == ds.train_y.numpy()).mean())
        checkpoint: dict[str, Any] = {
            "spec": spec.model_dump(mode="json"),
            "state_dict": cpu_state(model),
            "backbone": cpu_state(model.backbone),  # type: ignore[arg-type]
            "train": cfg.model_dump(mode="json"),
            "test_fit": fit_t.clone(),
            "test_holdout": hold_t.clone(),
        }
        summary = {
            "arch": spec.arch,
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "n_fit": len(fit_idx),
            "n_holdout": len(hold_idx),
            "holdout_accuracy": result.best_val_accuracy,
            "train_accuracy_oracle": train_accuracy,
            "final_train_loss": result.history[-1]["train_loss"] if result.history else float("nan"),
            "note": "trained on the test split; train_accuracy_oracle reads the pool's labels",
        }
        return PretrainOutput(
            arrays={"embeddings": embeddings, "proba": proba.astype(np.float32)},
            checkpoint=checkpoint,
            history=result.history,
            summary=summary,
            oracle=True,
        )
