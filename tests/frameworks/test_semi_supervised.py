"""FixMatch / FlexMatch: pseudo-label masks, class-wise thresholds, training, --init."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alpool.core.errors import ConfigError
from alpool.data.base import Dataset
from alpool.frameworks import FRAMEWORKS
from alpool.frameworks.semi_supervised import (
    FlexMatchState,
    IndexStream,
    class_threshold_mask,
    convex_map,
    fixmatch_lr,
    fixmatch_mask,
    flexmatch_thresholds,
)
from alpool.frameworks.supervised import model_spec
from alpool.learning.classifier import ModelClassifier
from alpool.models import build_model

TINY = {"steps": 40, "batch_size": 8, "mu": 2, "eval_every": 10}


def test_fixmatch_mask_respects_the_threshold() -> None:
    proba = torch.tensor([[0.96, 0.04], [0.05, 0.95], [0.94, 0.06], [0.5, 0.5]])
    mask, pseudo = fixmatch_mask(proba, 0.95)
    assert mask.tolist() == [True, True, False, False]
    assert pseudo[:3].tolist() == [0, 1, 0]


def test_fixmatch_mask_from_logits_at_the_boundary() -> None:
    logits = torch.tensor([[math.log(19.0), 0.0], [math.log(18.0), 0.0]], dtype=torch.float64)
    mask, _ = fixmatch_mask(torch.softmax(logits, 1), 0.95 - 1e-9)  # p = 0.95 and 0.947
    assert mask.tolist() == [True, False]


def test_convex_map_known_values() -> None:
    x = torch.tensor([0.0, 0.5, 1.0])
    np.testing.assert_allclose(convex_map(x).numpy(), [0.0, 1 / 3, 1.0])


def test_flexmatch_thresholds_with_and_without_warmup() -> None:
    counts = torch.tensor([10, 5, 0])
    # warm-up, few unused: beta = counts / 10
    np.testing.assert_allclose(
        flexmatch_thresholds(counts, 4, 0.9, True).numpy(), [0.9, 0.9 / 3, 0.0], rtol=1e-6
    )
    # warm-up, many unused: beta = counts / 20 = [0.5, 0.25, 0]
    np.testing.assert_allclose(
        flexmatch_thresholds(counts, 20, 0.9, True).numpy(),
        [0.9 / 3, 0.9 * 0.25 / 1.75, 0.0],
        rtol=1e-6,
    )
    # no warm-up: unused ignored
    np.testing.assert_allclose(
        flexmatch_thresholds(counts, 20, 0.9, False).numpy(), [0.9, 0.3, 0.0], rtol=1e-6
    )
    # nothing confident yet: thresholds 0
    assert flexmatch_thresholds(torch.zeros(3, dtype=torch.int64), 50, 0.9, True).tolist() == [
        0,
        0,
        0,
    ]


def test_class_threshold_mask_uses_the_predicted_class_threshold() -> None:
    proba = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    thresholds = torch.tensor([0.8, 0.5, 0.6])
    mask, pseudo = class_threshold_mask(proba, thresholds)
    assert pseudo.tolist() == [0, 1, 2] and mask.tolist() == [False, True, True]


def test_flexmatch_state_counts_the_latest_confident_prediction() -> None:
    state = FlexMatchState(5, 2)
    state.update(
        torch.tensor([0, 1, 2]), torch.tensor([[0.99, 0.01], [0.02, 0.98], [0.6, 0.4]]), 0.95
    )
    assert state.selected.tolist() == [0, 1, -1, -1, -1]
    state.update(
        torch.tensor([0]), torch.tensor([[0.01, 0.99]]), 0.95
    )  # image 0 now confidently class 1
    assert state.selected.tolist() == [1, 1, -1, -1, -1]
    # sigma = [0, 2], unused = 3 -> warm-up beta = [0, 2/3]
    np.testing.assert_allclose(
        state.thresholds(0.95, True).numpy(), [0.0, 0.95 * (2 / 3) / (2 - 2 / 3)], rtol=1e-6
    )


def test_index_stream_visits_every_index_once_per_pass() -> None:
    stream = IndexStream(5, torch.Generator().manual_seed(0))
    taken = torch.cat([stream.take(3), stream.take(3), stream.take(4)])
    assert sorted(taken[:5].tolist()) == list(range(5)) and sorted(taken[5:].tolist()) == list(
        range(5)
    )


def test_fixmatch_lr_schedule() -> None:
    assert fixmatch_lr(0, 100) == 1.0
    assert fixmatch_lr(100, 100) == pytest.approx(math.cos(7 * math.pi / 16))


def test_tiny_fixmatch_run_lowers_its_loss(blobs: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    framework = FRAMEWORKS.create("semi-supervised", {**TINY, "tau": 0.7})
    labeled = np.array([0, 1, 20, 21, 40, 41])
    trained = framework.train(episode(blobs, labeled, val=np.array([5, 25, 45, 6, 26, 46])))
    history = trained.info["history"]
    assert len(history) == 4 and history[-1]["loss"] < history[0]["loss"]
    # the supervised part falls fast; the unlabeled part counts more images as the mask rate grows
    assert history[-1]["loss_x"] < 0.7 * history[0]["loss_x"]
    assert 0 < history[0]["mask_rate"] < history[-1]["mask_rate"]
    assert isinstance(trained.classifier, ModelClassifier)
    assert trained.test_proba.shape == (30, 3)
    np.testing.assert_allclose(trained.test_proba.sum(1), 1, atol=1e-6)
    assert 0 <= trained.val_accuracy <= 1 and trained.info["best_step"] in (10, 20, 30, 40)


def test_flexmatch_run_and_determinism(blobs: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    params = {**TINY, "steps": 6, "eval_every": 3, "flexmatch": True}
    data = episode(blobs, np.array([0, 20, 40]))
    outs = [FRAMEWORKS.create("semi-supervised", params).train(data) for _ in range(2)]
    np.testing.assert_allclose(outs[0].test_proba, outs[1].test_proba)
    assert np.isnan(outs[0].val_accuracy)  # no validation -> last weights
    assert outs[0].info["best_step"] == -1


def test_runs_without_unlabeled_images(blobs: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode(blobs, np.arange(blobs.n_train))
    trained = FRAMEWORKS.create("semi-supervised", {**TINY, "steps": 3}).train(data)
    assert trained.info["history"][-1]["loss_u"] == 0.0


def test_init_loads_the_pretrained_backbone(blobs: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    probe = episode(blobs, np.array([0, 20, 40]))
    torch.manual_seed(1234)  # a different init than the framework's seeded one
    pretrained = build_model(model_spec(probe)).backbone.state_dict()
    data = episode(blobs, np.array([0, 20, 40]), checkpoint=lambda task: {"backbone": pretrained})
    framework = FRAMEWORKS.create("semi-supervised", {"init": "simclr"})
    assert framework.uses_pretrain() == ["simclr"]
    model = framework.build(data)  # type: ignore[attr-defined]
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, pretrained[key])
    fresh = FRAMEWORKS.create("semi-supervised").build(data)  # type: ignore[attr-defined]
    conv = next(k for k in pretrained if k.endswith("weight") and pretrained[k].ndim == 4)
    assert not torch.equal(fresh.backbone.state_dict()[conv], pretrained[conv])


def test_init_without_backbone_is_a_config_error(blobs: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode(blobs, np.array([0, 20, 40]), checkpoint=lambda task: {"state_dict": {}})
    with pytest.raises(ConfigError, match="no backbone"):
        FRAMEWORKS.create("semi-supervised", {"init": "vae"}).build(data)  # type: ignore[attr-defined]


def test_options_are_validated() -> None:
    assert "semi-supervised" in FRAMEWORKS
    with pytest.raises(ConfigError, match="tau"):
        FRAMEWORKS.create("semi-supervised", {"tau": 1.5})
    with pytest.raises(ConfigError, match="no option 'thresh'"):
        FRAMEWORKS.create("semi-supervised", {"thresh": 0.9})
