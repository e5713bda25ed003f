"""``--validation split|none|labeled-kfold``: the fold split, the epoch choice, what each mode trains."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from alpool.core.config import TrainConfig
from alpool.core.errors import ConfigError
from alpool.core.params import build_params
from alpool.data import load_dataset
from alpool.frameworks import FRAMEWORKS
from alpool.frameworks.linear_probe import LinearProbe
from alpool.learning.training import fit
from alpool.learning.validation import choose_epoch, kfold_stop_epoch, labeled_folds

EpisodeFactory = Any  # the ``episode`` fixture (conftest.make_episode)

TRAIN = TrainConfig(epochs=4, batch_size=16, lr=0.05, crop_padding=0, flip=False, width=8)


def test_labeled_folds_partition_the_labeled_positions_stratified() -> None:
    labels = np.repeat(np.arange(4), [6, 5, 5, 4])  # 20 labeled images
    folds = labeled_folds(labels, 5, np.random.default_rng(0))
    held = np.concatenate([h for _, h in folds])
    assert len(folds) == 5 and np.array_equal(np.sort(held), np.arange(20))  # a partition of 0..n-1
    for fit_pos, held_pos in folds:
        assert not np.intersect1d(fit_pos, held_pos).size and len(fit_pos) + len(held_pos) == 20
        counts = np.bincount(labels[held_pos], minlength=4)
        assert (np.abs(counts - np.bincount(labels) / 5) <= 1).all()  # each class's share +- 1
    assert len(labeled_folds(labels[:3], 5, np.random.default_rng(0))) == 3  # capped at n
    with pytest.raises(ConfigError, match="at least 2 labeled"):
        labeled_folds(labels[:1], 5, np.random.default_rng(0))


def test_choose_epoch_takes_the_best_mean_and_the_later_of_ties() -> None:
    assert choose_epoch([[0.1, 0.5, 0.5, 0.2], [0.3, 0.5, 0.5, 0.6]]) == (2, 0.5)
    assert choose_epoch([[0.0, 1.0], [1.0, 0.0]]) == (1, 0.5)


def test_kfold_sees_only_positions_of_the_labeled_set() -> None:
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    seen: list[np.ndarray] = []

    def curve(fit_pos: np.ndarray, held: np.ndarray) -> list[float]:
        seen.extend([fit_pos, held])
        return [0.2, 0.4 if 0 in held else 0.8, 0.3]

    choice = kfold_stop_epoch(labels, 4, seed=1, fold_curve=curve)
    assert all(((s >= 0) & (s < len(labels))).all() for s in seen)
    assert choice.epoch == 1 and choice.folds == 4 and sum(choice.held_out_sizes) == len(labels)
    assert choice.accuracy == pytest.approx((0.4 + 3 * 0.8) / 4)


def test_none_trains_the_fixed_schedule_and_keeps_the_last_epoch(episode: EpisodeFactory) -> None:
    ds = load_dataset("digits")
    labeled, val = np.arange(40), np.arange(40, 240)
    data = episode(ds, labeled, val=val, train=TRAIN)
    data.validation = "none"
    assert len(data.val_split()[0]) == 0  # no validation image reaches the framework
    trained = FRAMEWORKS.create("supervised").train(data)
    steps = math.ceil(40 / 16) if 40 % 16 != 1 else 40 // 16
    assert trained.info["steps"] == TRAIN.epochs * steps and trained.info["best_epoch"] == TRAIN.epochs - 1
    assert math.isnan(trained.val_accuracy)
    # the same weights as a plain fit without validation: the last epoch of the schedule
    reference = FRAMEWORKS.create("supervised").build(data, 0)
    fit(reference, ds.train_x[:40], ds.train_y[:40], TRAIN, trained_seed(data.seed), data.device)
    state = trained.state
    assert state is not None
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(value, state[name])


def trained_seed(seed: int) -> int:
    from alpool.core.seeding import derive_seed

    return derive_seed(seed, "member", 0)


def test_split_mode_picks_the_best_validation_epoch(episode: EpisodeFactory) -> None:
    ds = load_dataset("digits")
    data = episode(ds, np.arange(40), val=np.arange(40, 240), train=TRAIN)
    trained = FRAMEWORKS.create("supervised").train(data)
    assert 0 <= trained.val_accuracy <= 1 and trained.info["validation"] == "split"


def test_labeled_kfold_stops_at_the_chosen_epoch_using_labeled_images_only(episode: EpisodeFactory) -> None:
    ds = load_dataset("digits")
    data = episode(ds, np.arange(30), val=np.arange(30, 230), train=TRAIN)
    data.validation, data.folds = "labeled-kfold", 3
    trained = FRAMEWORKS.create("supervised").train(data)
    info = trained.info
    assert info["kfold_folds"] == 3 and sum(info["kfold_held_out"]) == 30  # folds of the 30 labeled only
    assert 0 <= info["kfold_epoch"] < TRAIN.epochs and info["best_epoch"] == info["kfold_epoch"]
    steps_per_epoch = math.ceil(30 / 16)
    assert info["steps"] == (info["kfold_epoch"] + 1) * steps_per_epoch  # stopped after the chosen epoch
    assert trained.val_accuracy == info["kfold_accuracy"]


class Flat(nn.Module):
    """An encoder whose embedding is the image's pixels in [0, 1] (what ``stored`` holds)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_linear_probe_kfold_and_none(episode: EpisodeFactory) -> None:
    ds = load_dataset("digits")
    stored = ds.train_x.flatten(1).float().numpy() / 255.0  # pixels as the embeddings
    probe = LinearProbe(build_params(LinearProbe.Params, {"embeddings": "pixels", "epochs": 20}, "probe"),
                        lambda data, task: Flat())
    data = episode(ds, np.arange(40), val=np.arange(40, 240), embeddings=lambda task: stored)
    data.validation, data.folds = "labeled-kfold", 4
    kfold = probe.train(data)
    assert kfold.info["kfold_folds"] == 4 and sum(kfold.info["kfold_held_out"]) == 40
    assert kfold.val_accuracy == kfold.info["kfold_accuracy"]
    data.validation = "none"
    none = probe.train(data)
    assert math.isnan(none.val_accuracy) and none.info["best_epoch"] == 19
