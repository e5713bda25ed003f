"""The ``proxy`` task: trained on the test split, oracle everywhere, a checkpoint probes can rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from alpool.core.config import PretrainConfig, RankConfig
from alpool.core.errors import ConfigError
from alpool.data.base import Dataset
from alpool.frameworks.linear_probe import build_encoder, check_encoder
from alpool.pretext import TASKS
from alpool.pretext.proxy import split_test
from alpool.stages import pretrain, rank
from blob_data import make_blob_dataset
from fake_steps import interrupt_then_resume, make_context

FAST = {"epochs": 6, "batch_size": 16, "lr": 0.05, "crop_padding": 1}


def _data() -> Dataset:
    return make_blob_dataset(n_test_per_class=20)


def test_proxy_outputs_checkpoint_and_oracle_flag(tmp_path: Path) -> None:
    data = _data()
    out = TASKS.create("proxy", FAST).run(make_context(data, tmp_path))
    n, k = data.n_train, data.num_classes
    emb, proba = out.arrays["embeddings"], out.arrays["proba"]
    assert emb.shape == (n, 128) and emb.dtype == np.float32
    assert proba.shape == (n, k) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert out.oracle and TASKS.get("proxy").oracle
    assert {"spec", "state_dict", "backbone", "train", "test_fit", "test_holdout"} <= set(out.checkpoint)
    fit_idx, hold = out.checkpoint["test_fit"].numpy(), out.checkpoint["test_holdout"].numpy()
    assert len(hold) == 6 and sorted(np.concatenate([fit_idx, hold]).tolist()) == list(range(60))
    s = out.summary
    assert s["n_fit"] == 54 and s["n_holdout"] == 6 and len(out.history) == 6
    assert s["holdout_accuracy"] == max(row["val_accuracy"] for row in out.history)
    assert s["train_accuracy_oracle"] > 0.9  # the blobs are easy: the proxy learned them
    assert s["train_accuracy_oracle"] == pytest.approx(float((proba.argmax(1) == data.train_y.numpy()).mean()))


def test_proxy_is_deterministic_and_trains_on_the_test_split_only(tmp_path: Path) -> None:
    data = _data()
    first = TASKS.create("proxy", FAST).run(make_context(data, tmp_path / "a"))
    again = TASKS.create("proxy", FAST).run(make_context(data, tmp_path / "b"))
    np.testing.assert_array_equal(first.arrays["proba"], again.arrays["proba"])
    shuffled_labels = Dataset(data.name, data.train_x, data.train_y.flip(0), data.test_x, data.test_y, data.classes)
    other = TASKS.create("proxy", FAST).run(make_context(shuffled_labels, tmp_path / "c"))
    np.testing.assert_array_equal(first.arrays["proba"], other.arrays["proba"])  # train labels unused


def test_linear_probe_rebuilds_the_proxy_encoder(tmp_path: Path) -> None:
    data = _data()
    out = TASKS.create("proxy", FAST).run(make_context(data, tmp_path))
    encoder = build_encoder(out.checkpoint, "proxy")
    rows = torch.arange(16)
    check_encoder(encoder, data.train_x[rows], out.arrays["embeddings"][:16], torch.device("cpu"), "proxy")


def test_split_test_is_seeded_disjoint_and_complete() -> None:
    fit_idx, hold = split_test(100, 0.2, seed=3)
    assert len(hold) == 20 and not np.intersect1d(fit_idx, hold).size
    assert sorted(np.concatenate([fit_idx, hold]).tolist()) == list(range(100))
    np.testing.assert_array_equal(hold, split_test(100, 0.2, seed=3)[1])
    assert not np.array_equal(hold, split_test(100, 0.2, seed=4)[1])
    assert len(split_test(100, 0.0, seed=0)[1]) == 0 and len(split_test(3, 0.9, seed=0)[1]) == 0


def test_proxy_options_are_validated() -> None:
    assert TASKS.create("proxy", {"epochs": 100}).params.train_config().epochs == 100  # the cs-* presets
    with pytest.raises(ConfigError, match="no option 'epoch'"):
        TASKS.create("proxy", {"epoch": 3})
    with pytest.raises(ConfigError, match="val_fraction"):
        TASKS.create("proxy", {"val_fraction": 1.0})


def test_pretrain_and_rank_mark_the_proxy_chain_as_oracle(tmp_path: Path) -> None:
    root = tmp_path / "run"
    params = {"epochs": 1, "batch_size": 64, "crop_padding": 1}
    pretrain.run(PretrainConfig(task="proxy", dataset="digits", params=params, device="cpu"), root)
    rank.run(RankConfig(scorer="entropy", device="cpu"), root)
    step = json.loads((root / "pretrain" / "proxy" / "manifest.json").read_text())
    scores = json.loads((root / "scores" / "entropy" / "manifest.json").read_text())
    assert step["oracle"] is True and scores["oracle"] is True
    assert {"embeddings.npy", "proba.npy", "model.pt"} <= set(step["outputs"])
    assert len(np.load(root / "scores" / "entropy" / "scores.npy")) == 1437


def test_an_interrupted_proxy_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    data = make_blob_dataset()
    params = {"epochs": 4, "batch_size": 16, "width": 8}
    straight = TASKS.create("proxy", params).run(make_context(data, tmp_path / "straight"))
    resumed, messages = interrupt_then_resume("proxy", params, make_context(data, tmp_path / "killed"), after=2)
    assert any("resuming after epoch 2" in m for m in messages)
    np.testing.assert_allclose(resumed.arrays["proba"], straight.arrays["proba"], rtol=1e-5, atol=1e-6)
