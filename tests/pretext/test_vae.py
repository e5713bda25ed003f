"""The ``vae`` task and its network: shapes, determinism, learning, OOD known answer, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from alpool.core.errors import ConfigError
from alpool.data.base import Dataset
from alpool.models.vae import (
    VAESpec,
    build_vae,
    default_latent_dim,
    scale_images,
    vae_depth,
    vae_terms,
)
from alpool.pretext import TASKS
from alpool.pretext.vae import score_images
from blob_data import make_blob_dataset
from fake_steps import interrupt_then_resume, make_context

FAST = {"epochs": 4, "latent_dim": 8, "batch_size": 32}


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 5, 7), (3, 64, 48)])
def test_vae_reconstructs_the_input_shape(shape: tuple[int, int, int]) -> None:
    c, h, w = shape
    model = build_vae(VAESpec(c, h, w, 4)).eval()
    x = torch.rand(2, c, h, w) * 2 - 1
    recon, mu, logvar = model(x)
    assert recon.shape == x.shape and mu.shape == logvar.shape == (2, 4)
    assert recon.abs().max() <= 1.0


def test_vae_depth_and_latent_defaults() -> None:
    assert (
        vae_depth(8, 8) == 3
        and vae_depth(32, 32) == 4
        and vae_depth(64, 64) == 4
        and vae_depth(5, 7) == 2
    )
    assert default_latent_dim(32, 32) == 128 and default_latent_dim(64, 64) == 512


def test_vae_terms_known_answer() -> None:
    x = torch.zeros(2, 1, 2, 2)
    recon = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    mu = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    logvar = torch.zeros(2, 2)
    mse, kl = vae_terms(x, recon, mu, logvar)
    assert torch.allclose(mse, torch.tensor([0.5, 0.0]))
    assert torch.allclose(kl, torch.tensor([0.0, 0.5 * (1 + 4)]))
    assert torch.allclose(
        scale_images(torch.tensor([0, 255], dtype=torch.uint8)), torch.tensor([-1.0, 1.0])
    )


def _ood_dataset() -> tuple[Dataset, int]:
    """Blobs plus one checkerboard image, far from every blob image."""
    data = make_blob_dataset(n_per_class=20, num_classes=3, seed=1)
    x = data.train_x.clone()
    board = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 255
    x[5, 0] = board.to(torch.uint8)
    return Dataset("blobs-ood", x, data.train_y, data.test_x, data.test_y, data.classes), 5


def test_vae_task_outputs_and_determinism(tmp_path: Path) -> None:
    data = make_blob_dataset()
    out = TASKS.create("vae", FAST).run(make_context(data, tmp_path / "a"))
    n = data.n_train
    assert out.arrays["embeddings"].shape == (n, 8) and out.arrays["embeddings"].dtype == np.float32
    for name in ("loss", "recon", "kl"):
        assert out.arrays[name].shape == (n,) and np.isfinite(out.arrays[name]).all()
    w = out.checkpoint["kl_weight"]
    assert w == pytest.approx(32 / (n - 3))  # 5 % of the 60-image pool held out for validation
    np.testing.assert_allclose(out.arrays["loss"], out.arrays["recon"] + w * out.arrays["kl"])
    assert len(out.history) == 4 and not out.oracle
    again = TASKS.create("vae", FAST).run(make_context(data, tmp_path / "b"))
    np.testing.assert_array_equal(out.arrays["loss"], again.arrays["loss"])


def test_vae_scoring_is_deterministic_and_uses_the_mean_latent(tmp_path: Path) -> None:
    data = make_blob_dataset()
    out = TASKS.create("vae", FAST).run(make_context(data, tmp_path))
    model = build_vae(out.checkpoint["spec"])
    model.load_state_dict(out.checkpoint["state_dict"])
    cpu = torch.device("cpu")
    first = score_images(model, data.train_x, cpu, 16, 0, None)
    second = score_images(model, data.train_x, cpu, 7, 0, None)
    np.testing.assert_allclose(first[1], second[1], rtol=1e-5)
    np.testing.assert_allclose(first[1], out.arrays["recon"], rtol=1e-5)
    sampled = [
        score_images(model, data.train_x, cpu, 16, 3, torch.Generator().manual_seed(s))[1]
        for s in (0, 0, 1)
    ]
    np.testing.assert_array_equal(sampled[0], sampled[1])
    assert not np.allclose(sampled[0], sampled[2]) and not np.allclose(sampled[0], first[1])


def test_vae_loss_goes_down(tmp_path: Path) -> None:
    out = TASKS.create("vae", {**FAST, "epochs": 12}).run(make_context(make_blob_dataset(), tmp_path))
    losses = [row["train_loss"] for row in out.history]
    assert losses[-1] < 0.7 * losses[0]


def test_far_out_of_distribution_image_gets_a_high_vae_loss(tmp_path: Path) -> None:
    data, odd = _ood_dataset()
    out = TASKS.create("vae", {**FAST, "epochs": 8}).run(make_context(data, tmp_path))
    loss = out.arrays["loss"]
    others = np.delete(loss, odd)
    assert loss[odd] > others.max()
    assert loss.argmax() == odd


def test_best_validation_epoch_is_kept(tmp_path: Path) -> None:
    data = make_blob_dataset()
    val = np.arange(0, data.n_train, 6)
    out = TASKS.create("vae", FAST).run(make_context(data, tmp_path, val=val))
    vals = [row["val_loss"] for row in out.history]
    assert out.summary["best_epoch"] == int(np.argmin(vals))
    assert out.summary["best_val_loss"] == pytest.approx(min(vals))


def test_resume_continues_the_epoch_count(tmp_path: Path) -> None:
    data = make_blob_dataset()
    params = {**FAST, "epochs": 5}
    straight = TASKS.create("vae", params).run(make_context(data, tmp_path / "straight"))
    resumed, messages = interrupt_then_resume("vae", params, make_context(data, tmp_path / "killed"), after=2)
    assert any("resuming after epoch 2" in m for m in messages)
    assert [row["epoch"] for row in resumed.history] == [0.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(resumed.arrays["loss"], straight.arrays["loss"], rtol=1e-6)


def test_vae_options_are_validated() -> None:
    assert "vae" in TASKS
    with pytest.raises(ConfigError, match="epochs"):
        TASKS.create("vae", {"epochs": 0})
    with pytest.raises(ConfigError, match="no option 'epoch'"):
        TASKS.create("vae", {"epoch": 3})


def test_linear_probes_rebuild_the_latent_mean_encoder(tmp_path: Path) -> None:
    from alpool.frameworks.linear_probe import embed_split

    data = make_blob_dataset()
    out = TASKS.create("vae", FAST).run(make_context(data, tmp_path))
    embedded = embed_split(out.checkpoint, data.train_x, torch.device("cpu"), "vae")
    np.testing.assert_allclose(embedded, out.arrays["embeddings"], rtol=1e-4, atol=1e-5)
