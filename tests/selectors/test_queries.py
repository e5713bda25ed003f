"""AL queries with a classifier: known answers on hand-made predictions, then a real small CNN."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from alpool.core.config import TrainConfig
from alpool.core.errors import ConfigError
from alpool.data.base import Dataset
from alpool.learning.classifier import ModelClassifier
from alpool.learning.training import fit
from alpool.models import ModelSpec, build_model
from alpool.selectors import SELECTORS, badge, uncertainty_queries, vaal  # noqa: F401  (register)
from alpool.selectors.base import NEED_CLASSIFIER, NEED_IMAGES, Selection, SelectionContext

QUERIES = ["least-confidence", "entropy", "margin", "dbal", "bald", "consistency",
           "ensemble-variation-ratio", "badge", "vaal"]
CONFIDENT = [0.97, 0.01, 0.01, 0.01]


class FakeClassifier:
    """The Classifier protocol on fixed arrays indexed by dataset index."""

    def __init__(self, proba: np.ndarray, passes: np.ndarray | None = None,
                 members: np.ndarray | None = None, grads: np.ndarray | None = None) -> None:
        self.proba = proba  # [N, K]
        self.passes = passes if passes is not None else proba[None].repeat(4, 0)  # [T, N, K]
        self.members = members if members is not None else proba[None].repeat(3, 0)  # [M, N, K]
        self.grads = grads if grads is not None else proba  # [N, D]
        self.num_classes = proba.shape[1]

    def predict_proba(self, indices: np.ndarray) -> np.ndarray:
        return self.proba[indices]

    def mc_predict_proba(self, indices: np.ndarray, passes: int,
                         generator: torch.Generator) -> np.ndarray:
        return self.passes[:passes, indices]

    def augmented_predict_proba(self, indices: np.ndarray, passes: int,
                                generator: torch.Generator) -> np.ndarray:
        return self.passes[:passes, indices]

    def features(self, indices: np.ndarray) -> np.ndarray:
        return self.grads[indices]

    def grad_embedding(self, indices: np.ndarray) -> np.ndarray:
        return self.grads[indices]

    def ensemble_predict_proba(self, indices: np.ndarray, members: int) -> np.ndarray:
        return self.members[:members, indices]


class FakeInputs:
    """Inputs that only provide the train images."""

    def __init__(self, images: torch.Tensor) -> None:
        self._images = images

    def images(self) -> torch.Tensor:
        return self._images


def context(clf: Any, n: int, labeled: list[int], seed: int = 0, **kw: Any) -> SelectionContext:
    candidates = np.setdiff1d(np.arange(n), labeled).astype(np.int64)
    return SelectionContext(n_total=n, labeled=np.asarray(labeled, dtype=np.int64),
                            candidates=candidates, rng=np.random.default_rng(seed),
                            num_classes=clf.num_classes if clf else 3, classifier=clf, **kw)


def run(name: str, ctx: SelectionContext, budget: int, **params: Any) -> Selection:
    return SELECTORS.create(name, params)(ctx, budget)


# Rows (dataset index): 0 labeled, 1 two-way tie (margin 0), 2 lowest max, 3 flattest, 4-7 sure.
ROWS = np.array([
    [0.25, 0.25, 0.25, 0.25],
    [0.50, 0.50, 0.00, 0.00],
    [0.36, 0.34, 0.30, 0.00],
    [0.40, 0.20, 0.20, 0.20],
    CONFIDENT, CONFIDENT, [0.9, 0.05, 0.03, 0.02], CONFIDENT,
])


@pytest.mark.parametrize(("name", "expected"),
                         [("margin", 1), ("least-confidence", 2), ("entropy", 3)])
def test_single_pass_queries_pick_their_known_answer(name: str, expected: int) -> None:
    sel = run(name, context(FakeClassifier(ROWS), 8, [0]), 1)
    assert sel.indices.tolist() == [expected]
    assert sel.candidate_scores.shape == (7,)
    assert np.argmax(sel.candidate_scores) == expected - 1  # aligned with candidates 1..7


def mc_rows() -> np.ndarray:
    """Passes [4, 6, 4]: 1 disagrees confidently (BALD), 2 is flat in every pass (DBAL)."""
    passes = np.tile(np.array(CONFIDENT), (4, 6, 1))
    passes[:, 1] = [[0.98, 0.01, 0.005, 0.005], [0.01, 0.98, 0.005, 0.005]] * 2
    passes[:, 2] = 0.25
    passes[:, 3] = [[0.7, 0.3, 0, 0], [0.6, 0.4, 0, 0]] * 2  # a little of both
    return passes


def test_bald_picks_confident_disagreement_and_dbal_the_flat_mean() -> None:
    passes = mc_rows()
    clf = FakeClassifier(passes.mean(0), passes=passes)
    assert run("bald", context(clf, 6, [0]), 1, passes=4).indices.tolist() == [1]
    assert run("dbal", context(clf, 6, [0]), 1, passes=4).indices.tolist() == [2]
    bald_scores = run("bald", context(clf, 6, [0]), 1, passes=4).candidate_scores
    assert bald_scores[1] == pytest.approx(0.0, abs=1e-9)  # flat in every pass: no information


def test_consistency_picks_the_row_that_changes_under_augmentation() -> None:
    passes = mc_rows()
    passes[:, 2] = CONFIDENT  # only rows 1 (strongly) and 3 (a bit) vary
    clf = FakeClassifier(passes.mean(0), passes=passes)
    sel = run("consistency", context(clf, 6, [0]), 2, passes=4)
    assert sel.indices.tolist() == [1, 3]


def test_mc_queries_give_the_same_scores_in_chunks() -> None:
    passes = mc_rows()
    clf = FakeClassifier(passes.mean(0), passes=passes)
    whole = run("bald", context(clf, 6, [0]), 2, passes=4).candidate_scores
    chunked = run("bald", context(clf, 6, [0]), 2, passes=4, chunk_size=2).candidate_scores
    np.testing.assert_allclose(chunked, whole)


def test_variation_ratio_picks_what_the_members_disagree_on() -> None:
    members = np.tile(np.array(CONFIDENT), (3, 6, 1))
    members[1, 2] = [0.1, 0.8, 0.05, 0.05]  # votes 0, 1, 0 -> 1/3
    members[1, 4] = [0.1, 0.8, 0.05, 0.05]
    members[2, 4] = [0.1, 0.05, 0.8, 0.05]  # votes 0, 1, 2 -> 2/3
    clf = FakeClassifier(members[0], members=members)
    sel = run("ensemble-variation-ratio", context(clf, 6, [0]), 2)
    assert sel.indices.tolist() == [4, 2]
    np.testing.assert_allclose(sel.candidate_scores, [0, 1 / 3, 0, 2 / 3, 0])


def test_ties_are_broken_by_the_seed() -> None:
    clf = FakeClassifier(np.full((40, 4), 0.25))
    picks = {tuple(run("entropy", context(clf, 40, [0], seed=s), 3).indices) for s in range(6)}
    assert len(picks) > 1
    again = run("entropy", context(clf, 40, [0], seed=3), 3).indices
    np.testing.assert_array_equal(again, run("entropy", context(clf, 40, [0], seed=3), 3).indices)


def badge_groups() -> tuple[FakeClassifier, np.ndarray]:
    """Four groups of 20 gradient embeddings: A (norm 11), B, C (norm 10, far from A), D (~0)."""
    rng = np.random.default_rng(0)
    centres = np.array([[11.0, 0.0], [0.0, 10.0], [-10.0, 0.0], [0.0, 0.0]])
    grads = np.repeat(centres, 20, axis=0) + rng.normal(0, 0.01, (80, 2))
    group = np.repeat(np.arange(4), 20)
    return FakeClassifier(np.full((80, 3), 1 / 3), grads=grads.astype(np.float32)), group


def test_badge_starts_at_the_largest_gradient_and_spreads_out() -> None:
    clf, group = badge_groups()
    for seed in range(5):
        sel = run("badge", context(clf, 80, [], seed=seed), 3)
        assert group[sel.indices[0]] == 0  # largest gradient norm first
        assert len(set(group[sel.indices])) == 3  # never two from one tight group
        norms = np.linalg.norm(clf.grads, axis=1)
        np.testing.assert_allclose(sel.candidate_scores, norms, rtol=1e-5)


def test_badge_samples_proportionally_to_squared_distance() -> None:
    clf, group = badge_groups()
    second = np.array([group[run("badge", context(clf, 80, [], seed=s), 2).indices[1]]
                       for s in range(300)])
    share = np.bincount(second, minlength=4) / len(second)
    # D^2 from A: B 20*221, C 20*441, D 20*121 -> 0.28, 0.56, 0.15; A itself ~0
    assert share[0] == 0 and share[2] > share[1] > share[3] > 0.05


def test_badge_returns_budget_unique_picks_even_for_identical_embeddings() -> None:
    clf = FakeClassifier(np.full((12, 3), 1 / 3), grads=np.ones((12, 5), dtype=np.float32))
    sel = run("badge", context(clf, 12, [0, 5]), 10)
    assert sorted(sel.indices.tolist()) == [i for i in range(12) if i not in (0, 5)]


def test_queries_are_registered_with_their_needs() -> None:
    for name in QUERIES:
        assert name in SELECTORS and NEED_CLASSIFIER in SELECTORS.get(name).needs
    assert NEED_IMAGES in SELECTORS.get("vaal").needs
    assert SELECTORS.create("bald").params.passes == 25  # type: ignore[attr-defined]
    assert SELECTORS.create("consistency").params.passes == 50  # type: ignore[attr-defined]
    assert SELECTORS.create("ensemble-variation-ratio").params.members == 3  # type: ignore[attr-defined]
    defaults = SELECTORS.create("vaal").params
    assert (defaults.epochs, defaults.lr, defaults.latent_dim) == (100, 5e-4, 32)  # type: ignore[attr-defined]


def test_bad_options_and_missing_classifier_are_user_errors() -> None:
    with pytest.raises(ConfigError, match="passes"):
        SELECTORS.create("bald", {"passes": 1})
    with pytest.raises(ConfigError, match="no option"):
        SELECTORS.create("entropy", {"passes": 3})
    with pytest.raises(ConfigError, match="al-run --query"):
        run("margin", context(None, 8, [0]), 1)
    clf = FakeClassifier(ROWS)
    with pytest.raises(ConfigError, match="labeled set"):
        images = FakeInputs(torch.zeros(8, 1, 8, 8, dtype=torch.uint8))
        run("vaal", context(clf, 8, [], inputs=images), 1)


# ---- a real trained small CNN ---------------------------------------------------------------

CFG = TrainConfig(epochs=60, batch_size=16, lr=0.05, crop_padding=1, flip=False, dropout=0.5,
                  width=8)
LABELED = np.array([0, 1, 2, 20, 21, 22, 40, 41, 42], dtype=np.int64)


def train_model(ds: Dataset, seed: int, epochs: int = CFG.epochs) -> torch.nn.Module:
    mean, std = ds.channel_stats()
    c, h, _ = ds.image_shape
    spec = ModelSpec(arch="small-cnn", in_channels=c, image_size=h, num_classes=ds.num_classes,
                     mean=mean, std=std, dropout=CFG.dropout, width=CFG.width)
    torch.manual_seed(seed)
    model = build_model(spec)
    idx = torch.as_tensor(LABELED)
    cfg = CFG.model_copy(update={"epochs": epochs})
    fit(model, ds.train_x[idx], ds.train_y[idx], cfg, seed, torch.device("cpu"))
    return model


_TRAINED: dict[str, tuple[Dataset, ModelClassifier]] = {}


@pytest.fixture
def trained(blobs: Dataset) -> tuple[Dataset, ModelClassifier]:
    """The blobs (3 classes x 20 images of 8 x 8) and a CNN trained on 3 per class, built once."""
    if "blobs" not in _TRAINED:  # blobs is the same seeded data in every test
        clf = ModelClassifier(train_model(blobs, 0), blobs.train_x, torch.device("cpu"), CFG,
                              ensemble=lambda member: train_model(blobs, member, epochs=10))
        _TRAINED["blobs"] = (blobs, clf)
    return _TRAINED["blobs"]


def real_context(trained: tuple[Dataset, ModelClassifier], seed: int) -> SelectionContext:
    ds, clf = trained
    return context(clf, ds.n_train, LABELED.tolist(), seed=seed, inputs=FakeInputs(ds.train_x))


def bn_state(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t.clone() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
            for t in (m.running_mean, m.running_var, m.num_batches_tracked)]


def test_mc_dropout_varies_predictions_and_keeps_batchnorm_in_eval(trained: Any) -> None:
    _, clf = trained
    idx = np.arange(9, 30)
    before = bn_state(clf.model)
    mc = clf.mc_predict_proba(idx, 6, torch.Generator().manual_seed(0))
    aug = clf.augmented_predict_proba(idx, 6, torch.Generator().manual_seed(0))
    assert np.abs(mc[0] - mc[1]).max() > 1e-3  # dropout really on
    assert np.abs(aug[0] - aug[1]).max() > 1e-3
    for b, a in zip(before, bn_state(clf.model), strict=True):
        torch.testing.assert_close(a, b)  # BN running stats untouched
    np.testing.assert_array_equal(clf.predict_proba(idx), clf.predict_proba(idx))  # no dropout
    again = clf.mc_predict_proba(idx, 6, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(mc, again)


def test_mc_dropout_shortcut_equals_full_passes(trained: Any, monkeypatch: Any) -> None:
    """Features once + dropout/head per pass (the shortcut) draws the same masks as full passes."""
    import alpool.learning.classifier as classifier

    _, clf = trained
    idx = np.arange(0, 30)
    fast = clf.mc_predict_proba(idx, 20, torch.Generator().manual_seed(1))
    monkeypatch.setattr(classifier, "_dropout_only_before_head", lambda model: False)
    full = clf.mc_predict_proba(idx, 20, torch.Generator().manual_seed(1))
    np.testing.assert_allclose(fast, full, rtol=1e-5, atol=1e-6)


def test_bald_and_consistency_rank_differently_from_entropy(trained: Any) -> None:
    ctx = real_context(trained, 0)
    ent = run("entropy", ctx, 5).candidate_scores
    for name in ("bald", "consistency"):
        scores = run(name, real_context(trained, 0), 5, passes=10).candidate_scores
        assert (scores >= -1e-9).all()
        assert spearmanr(scores, ent).statistic < 0.99, name
        assert not np.array_equal(np.argsort(scores), np.argsort(ent))


SMALL = {"dbal": {"passes": 5}, "bald": {"passes": 5}, "consistency": {"passes": 5},
         "vaal": {"epochs": 2, "batch_size": 16, "width": 8}}


@pytest.mark.parametrize("name", QUERIES)
def test_every_query_keeps_the_contract_on_a_real_model(trained: Any, name: str) -> None:
    budget = 6
    first = run(name, real_context(trained, 7), budget, **SMALL.get(name, {}))
    again = run(name, real_context(trained, 7), budget, **SMALL.get(name, {}))
    ctx = real_context(trained, 7)
    assert first.indices.dtype == np.int64 and len(np.unique(first.indices)) == budget
    assert not np.isin(first.indices, LABELED).any()
    assert np.isin(first.indices, ctx.candidates).all()
    assert first.candidate_scores.shape == (len(ctx.candidates),)
    assert np.isfinite(first.candidate_scores).all()
    np.testing.assert_array_equal(first.indices, again.indices)
    np.testing.assert_array_equal(first.candidate_scores, again.candidate_scores)


@pytest.mark.parametrize("seed", [0, 1])
def test_vaal_discriminator_learns_an_easy_split(blobs: Dataset, seed: int) -> None:
    labels = blobs.train_y.numpy()
    labeled = np.flatnonzero(labels == 0)[:10]  # class 0
    others = np.flatnonzero(labels == 1)[:10]
    candidates = np.concatenate([np.flatnonzero(labels == 0)[10:], others])  # 10 + 10
    ctx = SelectionContext(n_total=blobs.n_train, labeled=labeled, candidates=candidates,
                           rng=np.random.default_rng(seed), num_classes=3,
                           inputs=FakeInputs(blobs.train_x),
                           classifier=FakeClassifier(np.full((blobs.n_train, 3), 1 / 3)))
    sel = run("vaal", ctx, 5, epochs=15, batch_size=8, width=8)
    losses = sel.info["disc_loss"]  # the VAE fights back, so it falls slowly (0.67 -> 0.61)
    assert len(losses) == 15 and losses[-1] < 0.95 * losses[0]
    assert (labels[sel.indices] == 1).all()  # least like the labeled class (chance: 1.6%)
