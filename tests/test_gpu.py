"""GPU smoke test: on CUDA, models train in channels_last with bfloat16 autocast (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alpool.core.config import TrainConfig
from alpool.learning.training import fit, predict_proba, prepare, resolve_device
from alpool.models import build_model, spec_for
from alpool.ops.infer import autocast
from blob_data import make_blob_dataset

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_trains_with_amp_and_channels_last() -> None:
    device = resolve_device("cuda")
    data = make_blob_dataset(n_per_class=40, size=32, channels=3)
    model = prepare(build_model(spec_for(data, "resnet18")), device)
    conv = next(p for p in model.parameters() if p.dim() == 4)
    assert conv.is_cuda and conv.is_contiguous(memory_format=torch.channels_last)
    with autocast(device):
        out = model(torch.zeros(2, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last))
    assert out.dtype == torch.bfloat16
    cfg = TrainConfig(epochs=3, batch_size=32, lr=0.05, min_steps=20, crop_padding=0, flip=False)
    fit(model, data.train_x, data.train_y, cfg, seed=0, device=device)
    proba = predict_proba(model, data.test_x, device, 64)  # [n, C]
    assert np.isfinite(proba).all()
    assert (proba.argmax(1) == data.test_y.numpy()).mean() > 0.6
