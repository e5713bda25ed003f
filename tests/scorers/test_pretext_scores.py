"""Scorers that read pretext arrays: vae-loss (and the task's end-to-end known answer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alpool.core.errors import MissingStepError
from alpool.pretext import TASKS
from alpool.scorers import SCORERS
from blob_data import make_blob_dataset
from fake_steps import MemoryArtifacts, make_context, scoring_context


def test_vae_loss_reads_the_loss_array() -> None:
    data = make_blob_dataset()
    loss = np.linspace(0, 1, data.n_train)
    ctx = scoring_context(data, {"vae": MemoryArtifacts("vae", {"loss": loss.astype(np.float32)})})
    scores = SCORERS.create("vae-loss").score(ctx)
    assert scores.dtype == np.float64 and scores.shape == (data.n_train,)
    np.testing.assert_allclose(scores, loss, rtol=1e-6)
    assert SCORERS.get("vae-loss").requires == ("vae",)


def test_vae_loss_follows_a_renamed_step() -> None:
    data = make_blob_dataset()
    ctx = scoring_context(
        data, {"vae-small": MemoryArtifacts("vae-small", {"loss": np.arange(data.n_train)})}
    )
    np.testing.assert_array_equal(
        SCORERS.create("vae-loss", {"task": "vae-small"}).score(ctx), np.arange(data.n_train)
    )
    with pytest.raises(MissingStepError):
        SCORERS.create("vae-loss").score(ctx)


def test_vae_loss_end_to_end_is_deterministic(tmp_path: Path) -> None:
    data = make_blob_dataset()
    out = TASKS.create("vae", {"epochs": 2, "latent_dim": 4}).run(make_context(data, tmp_path))
    ctx = scoring_context(data, {"vae": MemoryArtifacts("vae", out.arrays, out.checkpoint)})
    first, second = SCORERS.create("vae-loss").score(ctx), SCORERS.create("vae-loss").score(ctx)
    np.testing.assert_array_equal(first, second)
    assert first.std() > 0


@pytest.mark.parametrize(("scorer", "task", "array", "transform"), [
    ("simclr-loss", "simclr", "loss", lambda a: a),
    ("contrast-confidence", "simclr", "confidence", lambda a: 1 - a),
    ("contrast-variability", "simclr", "variability", lambda a: a),
    ("scan-confidence", "scan", "confidence", lambda a: a),
])
def test_array_scorers_read_their_task_and_array(scorer: str, task: str, array: str, transform) -> None:  # type: ignore[no-untyped-def]
    data = make_blob_dataset()
    values = np.random.default_rng(0).random(data.n_train)
    ctx = scoring_context(data, {task: MemoryArtifacts(task, {array: values})})
    np.testing.assert_allclose(SCORERS.create(scorer).score(ctx), transform(values))
    assert SCORERS.get(scorer).requires == (task,)


def test_hard_to_contrast_images_come_first() -> None:
    """contrast-confidence is 1 - confidence: the lowest-confidence image gets the highest score."""
    data = make_blob_dataset()
    confidence = np.linspace(0.9, 0.1, data.n_train)
    ctx = scoring_context(data, {"simclr": MemoryArtifacts("simclr", {"confidence": confidence})})
    assert int(np.argmax(SCORERS.create("contrast-confidence").score(ctx))) == data.n_train - 1
