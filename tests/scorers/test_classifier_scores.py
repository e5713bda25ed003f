"""Scorers from the proxy classifier: known answers on hand-made probabilities, a trained tiny proxy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from alpool.core.errors import ConfigError, MissingStepError
from alpool.data.base import Dataset
from alpool.learning.uncertainty import bald, consistency
from alpool.pretext import TASKS, PretrainOutput
from alpool.scorers import SCORERS
from blob_data import make_blob_dataset
from fake_steps import MemoryArtifacts, make_context, scoring_context

CLASSIFIER_SCORERS = ("least-confidence", "entropy", "margin", "bald", "consistency", "coreset-distance", "vaal")
FAST_VAAL = {"epochs": 2, "batch_size": 16, "latent_dim": 4, "width": 8}


def _proba_context(proba: np.ndarray) -> tuple[Dataset, object]:
    data = make_blob_dataset(n_per_class=1, num_classes=len(proba))
    data = Dataset(data.name, data.train_x[: len(proba)], data.train_y[: len(proba)], data.test_x, data.test_y,
                   data.classes)
    return data, scoring_context(data, {"proxy": MemoryArtifacts("proxy", {"proba": proba})})


def test_point_estimates_on_hand_made_probabilities() -> None:
    proba = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.7, 0.2, 0.1]])
    _, ctx = _proba_context(proba)
    lc = SCORERS.create("least-confidence").score(ctx)
    ent = SCORERS.create("entropy").score(ctx)
    mar = SCORERS.create("margin").score(ctx)
    np.testing.assert_allclose(lc, [0.0, 2 / 3, 0.5, 0.3])
    np.testing.assert_allclose(ent, [0.0, np.log(3), np.log(2), -(0.7 * np.log(0.7) + 0.2 * np.log(0.2)
                                                                 + 0.1 * np.log(0.1))])
    np.testing.assert_allclose(mar, [-1.0, 0.0, 0.0, -0.5], atol=1e-12)
    assert lc.dtype == ent.dtype == mar.dtype == np.float64
    for name in CLASSIFIER_SCORERS:
        assert SCORERS.get(name).requires == ("proxy",)


def test_bald_and_consistency_on_hand_made_passes() -> None:
    agree = np.array([[[0.9, 0.1]], [[0.9, 0.1]], [[0.9, 0.1]]])  # [T=3, n=1, K=2]
    split = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # confident passes that disagree
    np.testing.assert_allclose(bald(agree), [0.0], atol=1e-12)
    np.testing.assert_allclose(bald(split), [np.log(2)], rtol=1e-9)
    np.testing.assert_allclose(consistency(agree), [0.0], atol=1e-12)
    np.testing.assert_allclose(consistency(split), [0.5])  # variance 0.25 per class, 2 classes


def test_a_step_without_proba_or_classifier_is_refused() -> None:
    data = make_blob_dataset()
    emb = np.zeros((data.n_train, 2), np.float32)
    ctx = scoring_context(data, {"simclr": MemoryArtifacts("simclr", {"embeddings": emb}, {"spec": {}})})
    with pytest.raises(MissingStepError, match="proba"):
        SCORERS.create("entropy", {"task": "simclr"}).score(ctx)
    with pytest.raises(ConfigError, match="holds no classifier"):
        SCORERS.create("bald", {"task": "simclr"}).score(ctx)
    with pytest.raises(ConfigError, match="records no labeled test images"):
        SCORERS.create("vaal", {**FAST_VAAL, "task": "simclr"}).score(ctx)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, PretrainOutput]:
    """A proxy trained 4 epochs on blobs; train image 0 is a copy of test image 0."""
    data = make_blob_dataset(n_per_class=30, n_test_per_class=20)
    train_x = data.train_x.clone()
    train_x[0] = data.test_x[0]
    data = Dataset(data.name, train_x, data.train_y, data.test_x, data.test_y, data.classes)
    params = {"epochs": 4, "batch_size": 16, "lr": 0.05, "crop_padding": 1, "flip": True}
    out = TASKS.create("proxy", params).run(make_context(data, tmp_path_factory.mktemp("proxy")))
    return data, out


def _ctx(trained: tuple[Dataset, PretrainOutput], seed: int = 0):  # type: ignore[no-untyped-def]
    data, out = trained
    return scoring_context(data, {"proxy": MemoryArtifacts("proxy", out.arrays, out.checkpoint)}, seed)


def test_bald_and_consistency_differ_from_entropy_on_a_trained_proxy(trained) -> None:  # type: ignore[no-untyped-def]
    ctx = _ctx(trained)
    n = trained[0].n_train
    ent = SCORERS.create("entropy").score(ctx)
    bald_scores = SCORERS.create("bald", {"chunk_size": 25}).score(ctx)
    cons = SCORERS.create("consistency", {"passes": 20}).score(ctx)
    for scores in (bald_scores, cons):
        assert scores.shape == (n,) and scores.dtype == np.float64 and np.isfinite(scores).all()
        assert scores.min() >= -1e-9 and scores.std() > 0
        assert spearmanr(scores, ent).statistic < 0.999
    np.testing.assert_array_equal(bald_scores, SCORERS.create("bald", {"chunk_size": 25}).score(_ctx(trained)))
    assert not np.array_equal(bald_scores, SCORERS.create("bald", {"chunk_size": 25}).score(_ctx(trained, seed=1)))


def test_coreset_distance_is_zero_for_a_copy_of_a_labeled_image(trained) -> None:  # type: ignore[no-untyped-def]
    scores = SCORERS.create("coreset-distance").score(_ctx(trained))
    assert scores.shape == (trained[0].n_train,) and scores.dtype == np.float64
    assert scores[0] == pytest.approx(0.0, abs=1e-3) and np.delete(scores, 0).min() > 1e-3


def test_vaal_gives_unlabeled_probabilities(trained) -> None:  # type: ignore[no-untyped-def]
    first = SCORERS.create("vaal", FAST_VAAL).score(_ctx(trained))
    assert first.shape == (trained[0].n_train,) and first.dtype == np.float64
    assert ((first >= 0) & (first <= 1)).all() and first.std() > 0
    np.testing.assert_allclose(first, SCORERS.create("vaal", FAST_VAAL).score(_ctx(trained)), rtol=1e-6)


def test_entropy_reads_the_stored_proba_of_the_rebuilt_model(trained) -> None:  # type: ignore[no-untyped-def]
    from alpool.learning.uncertainty import entropy
    from alpool.scorers.classifier_scores import load_proxy

    ctx = _ctx(trained)
    clf = load_proxy(ctx, "proxy").classifier
    fresh = clf.predict_proba(np.arange(trained[0].n_train))
    np.testing.assert_allclose(SCORERS.create("entropy").score(ctx), entropy(fresh), rtol=1e-4, atol=1e-6)
    assert torch.equal(clf.model.head.weight, trained[1].checkpoint["state_dict"]["head.weight"])
