"""The simclr task on tiny data: outputs, determinism, dynamics, resume, a rebuildable encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from alpool.core.errors import ConfigError
from alpool.data import load_dataset
from alpool.frameworks.linear_probe import embed_split
from alpool.pretext import TASKS
from alpool.pretext.neighbours import knn_accuracy
from alpool.pretext.simclr import RunningMoments
from blob_data import make_blob_dataset
from fake_steps import interrupt_then_resume, make_context

FAST = {"epochs": 3, "batch_size": 32, "hidden_dim": 32, "projection_dim": 16, "width": 8, "loss_negatives": 40}


@pytest.fixture(scope="module")
def blobs_out(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return TASKS.create("simclr", FAST).run(make_context(make_blob_dataset(), tmp_path_factory.mktemp("simclr")))


def test_outputs_cover_every_image_with_sane_values(blobs_out) -> None:  # type: ignore[no-untyped-def]
    n = make_blob_dataset().n_train
    arrays = blobs_out.arrays
    assert arrays["embeddings"].shape == (n, 32) and arrays["embeddings"].dtype == np.float32  # small-cnn: 4 x width
    assert arrays["projections"].shape == (n, 16)
    np.testing.assert_allclose(np.linalg.norm(arrays["projections"], axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(arrays["loss"]).all() and arrays["loss"].std() > 0 and (arrays["loss"] > 0).all()
    assert ((arrays["confidence"] > 0) & (arrays["confidence"] < 1)).all()
    assert (arrays["variability"] >= 0).all() and arrays["variability"].std() > 0
    assert [row["epoch"] for row in blobs_out.history] == [0.0, 1.0, 2.0]
    assert blobs_out.checkpoint["spec"]["arch"] == "small-cnn"


def test_same_seed_same_arrays_other_seed_other_arrays(tmp_path: Path, blobs_out) -> None:  # type: ignore[no-untyped-def]
    data = make_blob_dataset()
    again = TASKS.create("simclr", FAST).run(make_context(data, tmp_path / "a"))
    other = TASKS.create("simclr", FAST).run(make_context(data, tmp_path / "b", seed=1))
    for name in ("embeddings", "loss", "confidence", "variability"):
        np.testing.assert_array_equal(again.arrays[name], blobs_out.arrays[name])
    assert not np.allclose(other.arrays["loss"], blobs_out.arrays["loss"])


def test_checkpoint_rebuilds_the_encoder_that_made_the_embeddings(blobs_out) -> None:  # type: ignore[no-untyped-def]
    data = make_blob_dataset()
    embedded = embed_split(blobs_out.checkpoint, data.train_x, torch.device("cpu"), "simclr")
    np.testing.assert_allclose(embedded, blobs_out.arrays["embeddings"], rtol=1e-4, atol=1e-5)


def test_running_moments_match_numpy() -> None:
    values = np.random.default_rng(0).random((7, 5))
    moments = RunningMoments(5)
    for row in values:
        moments.add(row)
    np.testing.assert_allclose(moments.mean, values.mean(axis=0))
    np.testing.assert_allclose(moments.std(), values.std(axis=0))
    restored = RunningMoments(5)
    restored.load_state_dict(moments.state_dict())
    np.testing.assert_array_equal(restored.m2, moments.m2)


def test_resume_after_an_interruption_gives_the_uninterrupted_result(tmp_path: Path, blobs_out) -> None:  # type: ignore[no-untyped-def]
    resumed, messages = interrupt_then_resume("simclr", FAST, make_context(make_blob_dataset(), tmp_path), after=2)
    assert any("resuming after epoch 2" in m for m in messages)
    for name in ("embeddings", "loss", "confidence", "variability"):
        np.testing.assert_allclose(resumed.arrays[name], blobs_out.arrays[name], rtol=1e-5, atol=1e-6)


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="loss_views"):
        TASKS.create("simclr", {"loss_views": 1})
    with pytest.raises(ConfigError, match="no option 'temp'"):
        TASKS.create("simclr", {"temp": 0.5})


@pytest.mark.slow
def test_digits_embeddings_and_scores_are_informative(tmp_path: Path) -> None:
    """The issue's figure: k-NN label accuracy far above chance, real spread of the scores."""
    data = load_dataset("digits")
    params = {"epochs": 60, "batch_size": 256, "loss_negatives": 512}
    out = TASKS.create("simclr", params).run(make_context(data, tmp_path))
    labels = data.train_y.numpy()
    assert knn_accuracy(out.arrays["embeddings"], labels) > 0.85  # chance: 0.1
    assert out.arrays["loss"].std() > 0.1 and out.arrays["confidence"].std() > 1e-3
