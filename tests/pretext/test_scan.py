"""The scan task: SCAN loss known answer, outputs on tiny data, errors, self-labelling, resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from alpool.core.errors import ConfigError, MissingStepError
from alpool.data import load_dataset
from alpool.pretext import TASKS
from alpool.pretext.neighbours import cluster_agreement, cosine_neighbours
from alpool.pretext.scan import scan_loss
from blob_data import make_blob_dataset
from fake_steps import MemoryArtifacts, interrupt_then_resume, make_context

SIMCLR = {"epochs": 2, "batch_size": 32, "hidden_dim": 32, "projection_dim": 16, "width": 8, "loss_negatives": 40}
FAST = {"epochs": 3, "batch_size": 32, "neighbours": 5, "heads": 2}


@pytest.fixture(scope="module")
def simclr_step(tmp_path_factory: pytest.TempPathFactory) -> MemoryArtifacts:
    out = TASKS.create("simclr", SIMCLR).run(make_context(make_blob_dataset(), tmp_path_factory.mktemp("simclr")))
    return MemoryArtifacts.from_output("simclr", out)


def test_scan_loss_known_answer() -> None:
    p_anchor = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]]])  # [n=2, heads=1, K=2]
    p_neighbour = torch.tensor([[[0.8, 0.2]], [[0.1, 0.9]]])
    consistency = -(math.log(0.9 * 0.8 + 0.1 * 0.2) + math.log(0.2 * 0.1 + 0.8 * 0.9)) / 2
    mean = [0.55, 0.45]
    entropy = -sum(m * math.log(m) for m in mean)
    got = scan_loss(p_anchor, p_neighbour, 5.0)
    assert got.shape == (1,) and float(got[0]) == pytest.approx(consistency - 5.0 * entropy, rel=1e-5)


def test_cosine_neighbours_exclude_oneself_and_work_in_chunks() -> None:
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    whole = cosine_neighbours(x, 1)
    np.testing.assert_array_equal(whole[:, 0], [1, 0, 3, 2, 2])
    np.testing.assert_array_equal(cosine_neighbours(x, 2, chunk_elements=5), cosine_neighbours(x, 2))
    with pytest.raises(ValueError, match="k = 5"):
        cosine_neighbours(x, 5)


def test_cluster_agreement_is_invariant_to_renaming_clusters() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    perfect = cluster_agreement(np.array([2, 2, 0, 0, 1, 1]), labels)
    assert perfect == pytest.approx({"nmi": 1.0, "acc": 1.0, "ari": 1.0})
    assert cluster_agreement(np.array([0, 1, 0, 1, 0, 1]), labels)["acc"] == pytest.approx(2 / 6)


def test_outputs_and_defaults(tmp_path: Path, simclr_step: MemoryArtifacts) -> None:
    data = make_blob_dataset()
    out = TASKS.create("scan", FAST).run(make_context(data, tmp_path, steps={"simclr": simclr_step}))
    n = data.n_train
    assert out.arrays["cluster"].shape == (n,) and out.arrays["cluster"].dtype == np.int64
    assert out.arrays["proba"].shape == (n, data.num_classes)
    np.testing.assert_allclose(out.arrays["proba"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out.arrays["confidence"], out.arrays["proba"].max(axis=1), rtol=1e-6)
    assert {"nmi_eval_only", "acc_eval_only", "ari_eval_only"} <= set(out.summary)
    assert out.checkpoint["cluster_head"]["weight"].shape[0] == data.num_classes
    steps = {"simclr": simclr_step}
    four = TASKS.create("scan", {**FAST, "clusters": 4}).run(make_context(data, tmp_path / "k4", steps=steps))
    assert four.arrays["proba"].shape == (n, 4)


def test_self_labelling_runs_after_the_scan_epochs(tmp_path: Path, simclr_step: MemoryArtifacts) -> None:
    params = {**FAST, "self_label_epochs": 2, "self_label_threshold": 0.34}
    out = TASKS.create("scan", params).run(make_context(make_blob_dataset(), tmp_path, steps={"simclr": simclr_step}))
    assert [row["epoch"] for row in out.history] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert "confident_share" in out.history[-1] and out.history[-1]["confident_share"] > 0


def test_missing_simclr_and_too_many_neighbours_are_clear_errors(tmp_path: Path, simclr_step: MemoryArtifacts) -> None:
    data = make_blob_dataset()
    with pytest.raises(MissingStepError, match="alpool pretrain --task simclr"):
        TASKS.create("scan", FAST).run(make_context(data, tmp_path))
    with pytest.raises(ConfigError, match="neighbours = 500"):
        TASKS.create("scan", {**FAST, "neighbours": 500}).run(
            make_context(data, tmp_path, steps={"simclr": simclr_step}))


def test_resume_gives_the_uninterrupted_result(tmp_path: Path, simclr_step: MemoryArtifacts) -> None:
    data = make_blob_dataset()
    straight = TASKS.create("scan", FAST).run(make_context(data, tmp_path / "a", steps={"simclr": simclr_step}))
    ctx = make_context(data, tmp_path / "b", steps={"simclr": simclr_step})
    resumed, _ = interrupt_then_resume("scan", FAST, ctx, after=2)
    np.testing.assert_allclose(resumed.arrays["proba"], straight.arrays["proba"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_digits_clusters_agree_with_the_classes(tmp_path: Path) -> None:
    """The issue's figure: scan clusters on digits with NMI well above zero."""
    data = load_dataset("digits")
    simclr = TASKS.create("simclr", {"epochs": 30, "batch_size": 256, "loss_negatives": 512}).run(
        make_context(data, tmp_path / "simclr"))
    steps = {"simclr": MemoryArtifacts.from_output("simclr", simclr)}
    out = TASKS.create("scan", {"epochs": 30}).run(make_context(data, tmp_path / "scan", steps=steps))
    assert out.summary["nmi_eval_only"] > 0.5
