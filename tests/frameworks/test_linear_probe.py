"""Linear probe: learns separable embeddings, embeds the test split, serves every query."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest
import torch
from torch import nn

from alpool.core.errors import ConfigError, CorruptFileError
from alpool.core.params import build_params
from alpool.data.base import Dataset
from alpool.frameworks import FRAMEWORKS
from alpool.frameworks.embedding_classifier import EmbeddingClassifier
from alpool.frameworks.linear_probe import LinearProbe, build_encoder, embed_split
from alpool.frameworks.supervised import model_spec
from alpool.models import build_model

DIM = 4  # the embedding is the first DIM pixels of the first row of each 8x8 image


class PixelEncoder(nn.Module):
    """A fake pretext encoder: the first row's first DIM pixels, back in 0..255."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :DIM] * 255


def blob_embedding_dataset(n_per_class: int = 20, seed: int = 0) -> Dataset:
    """Three gaussian blobs (std 6) far apart (centres 40 / 128 / 216) written into the images."""
    rng = np.random.default_rng(seed)
    centres = np.array(
        [[40, 40, 216, 128], [128, 216, 40, 40], [216, 128, 128, 216]], dtype=np.float64
    )

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = np.repeat(np.arange(3), n)
        x = rng.integers(0, 256, size=(len(y), 1, 8, 8)).astype(np.uint8)
        x[:, 0, 0, :DIM] = np.clip(centres[y] + rng.normal(0, 6, (len(y), DIM)), 0, 255).astype(
            np.uint8
        )
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    tx, ty = split(n_per_class)
    vx, vy = split(10)
    return Dataset("embblobs", tx, ty, vx, vy, classes=("a", "b", "c"))


def stored(ds: Dataset) -> np.ndarray:
    return ds.train_x[:, 0, 0, :DIM].float().numpy()


def probe(**params) -> LinearProbe:  # type: ignore[no-untyped-def]
    return LinearProbe(
        build_params(LinearProbe.Params, params, "probe"), lambda data, task: PixelEncoder()
    )


@pytest.fixture
def emb() -> Dataset:
    return blob_embedding_dataset()


def episode_of(episode, ds: Dataset, labeled: list[int], **kw):  # type: ignore[no-untyped-def]
    return episode(ds, np.array(labeled), embeddings=lambda task: stored(ds), **kw)


def test_probe_learns_separable_embeddings_perfectly(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode_of(episode, emb, [0, 1, 20, 21, 40, 41], val=np.array([5, 25, 45]))
    trained = probe().train(data)
    assert (trained.test_proba.argmax(1) == emb.test_y.numpy()).all()
    assert trained.val_accuracy == 1.0
    clf = trained.classifier
    assert (
        clf.predict_proba(data.unlabeled).argmax(1) == emb.train_y.numpy()[data.unlabeled]
    ).all()


def test_mlp_head_learns_too(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    trained = probe(head="mlp", hidden=16, dropout=0.2).train(episode_of(episode, emb, [0, 20, 40]))
    assert (trained.test_proba.argmax(1) == emb.test_y.numpy()).mean() == 1.0
    assert np.isnan(trained.val_accuracy)


def test_standardize_uses_the_pool_statistics(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode_of(episode, emb, [0, 20, 40], val=np.array([1, 21, 41]))
    clf = probe().train(data).classifier
    pool = np.concatenate([data.labeled, data.unlabeled])
    feats = clf.features(pool)
    np.testing.assert_allclose(feats.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(feats.std(0), 1, atol=1e-3)
    raw = probe(standardize=False).train(data).classifier.features(pool)
    np.testing.assert_allclose(raw, stored(emb)[pool])


def test_probe_is_deterministic_and_records_its_task(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode_of(episode, emb, [0, 20, 40, 2])
    a, b = probe(dropout=0.3).train(data), probe(dropout=0.3).train(data)
    np.testing.assert_array_equal(a.test_proba, b.test_proba)
    assert a.info["embeddings"] == "simclr" and probe(embeddings="vae").uses_pretrain() == ["vae"]
    assert "linear-probe" in FRAMEWORKS


def test_test_split_is_embedded_once_per_trial(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def factory(data, task):  # type: ignore[no-untyped-def]
        calls.append(task)
        return PixelEncoder()

    framework = LinearProbe(LinearProbe.Params(), factory)
    for labeled in ([0, 20, 40], [0, 20, 40, 1, 21]):
        framework.train(episode_of(episode, emb, labeled))
    assert calls == ["simclr"]


def test_official_val_split_is_embedded(episode) -> None:  # type: ignore[no-untyped-def]
    base = blob_embedding_dataset()
    ds = Dataset(
        base.name,
        base.train_x,
        base.train_y,
        base.test_x,
        base.test_y,
        base.classes,
        val_x=base.test_x[::2],
        val_y=base.test_y[::2],
    )
    trained = probe().train(episode_of(episode, ds, [0, 20, 40]))
    assert trained.val_accuracy == 1.0


def test_mismatched_encoder_is_refused(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode(emb, np.array([0, 20, 40]), embeddings=lambda task: stored(emb) * 2)
    with pytest.raises(CorruptFileError, match="does not reproduce embeddings.npy"):
        probe().train(data)


def test_wrong_embedding_rows_are_refused(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode(emb, np.array([0, 20, 40]), embeddings=lambda task: stored(emb)[:10])
    with pytest.raises(CorruptFileError, match="expected \\[60, D\\]"):
        probe().train(data)


def test_embed_split_rebuilds_a_backbone_checkpoint(blobs: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    spec = model_spec(episode(blobs, np.array([0])))
    torch.manual_seed(7)
    model = build_model(spec).eval()
    checkpoint = {"spec": spec.model_dump(), "backbone": model.backbone.state_dict()}
    out = embed_split(checkpoint, blobs.test_x, torch.device("cpu"))
    with torch.no_grad():
        expected = model.features(blobs.test_x.float() / 255).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="no rebuildable encoder"):
        build_encoder({"state_dict": {}}, "vae")


def test_classifier_protocol_shapes(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    data = episode_of(episode, emb, [0, 20, 40, 1], train=episode(emb, np.array([0])).train)
    clf = probe(dropout=0.5).train(data).classifier
    assert isinstance(clf, EmbeddingClassifier) and clf.num_classes == 3
    idx = data.unlabeled[:7]
    g = torch.Generator().manual_seed(0)
    mc = clf.mc_predict_proba(idx, 5, g)
    assert mc.shape == (5, 7, 3) and not np.allclose(mc[0], mc[1])
    np.testing.assert_allclose(mc.sum(-1), 1, atol=1e-6)
    aug = clf.augmented_predict_proba(idx, 4, g)
    assert aug.shape == (4, 7, 3)
    assert clf.features(idx).shape == (7, DIM)
    grad = clf.grad_embedding(idx)
    assert grad.shape == (7, 3 * DIM) and grad.dtype == np.float32
    ens = clf.ensemble_predict_proba(idx, 3)
    assert ens.shape == (3, 7, 3) and not np.allclose(ens[0], ens[1])


def test_grad_embedding_known_answer(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    clf = probe().train(episode_of(episode, emb, [0, 20, 40])).classifier
    idx = np.array([3])
    p, f = clf.predict_proba(idx)[0], clf.features(idx)[0]
    residual = p.copy()
    residual[p.argmax()] -= 1
    np.testing.assert_allclose(clf.grad_embedding(idx)[0], np.outer(residual, f).ravel(), rtol=1e-5)


def test_mc_dropout_without_dropout_is_a_config_error(emb: Dataset, episode) -> None:  # type: ignore[no-untyped-def]
    clf = probe().train(episode_of(episode, emb, [0, 20, 40])).classifier
    with pytest.raises(ConfigError, match="dropout=0.5"):
        clf.mc_predict_proba(np.array([1, 2]), 3, torch.Generator())


def _selectors():  # type: ignore[no-untyped-def]
    """Import every selector module that exists and return the registry."""
    from alpool.selectors import base

    package = importlib.import_module("alpool.selectors")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"alpool.selectors.{module.name}")
    return base


class FakeInputs:
    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def embeddings(self, task: str) -> np.ndarray:
        return stored(self.ds)

    def images(self) -> torch.Tensor:
        return self.ds.train_x

    def labels(self) -> np.ndarray:
        return self.ds.train_y.numpy()


TINY_OPTIONS = {
    "epochs": 1,
    "passes": 2,
    "members": 2,
    "width": 4,
    "latent_dim": 2,
    "batch_size": 16,
}


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_every_classifier_query_works_on_the_probe_or_explains(
    emb: Dataset,
    episode,  # type: ignore[no-untyped-def]
    dropout: float,
) -> None:
    base = _selectors()
    queries = [e for e in base.SELECTORS.entries() if base.NEED_CLASSIFIER in e.obj.needs]
    if not queries:
        pytest.skip("no classifier query is registered yet")
    data = episode_of(episode, emb, [0, 20, 40, 1, 21], val=np.array([5, 25, 45]))
    clf = probe(dropout=dropout).train(data).classifier
    for entry in queries:
        options = {k: v for k, v in TINY_OPTIONS.items() if k in entry.obj.Params.model_fields}
        ctx = base.SelectionContext(
            n_total=emb.n_train,
            labeled=data.labeled,
            candidates=data.unlabeled,
            rng=np.random.default_rng(0),
            num_classes=3,
            inputs=FakeInputs(emb),
            classifier=clf,
        )
        try:
            selection = base.SELECTORS.create(entry.name, options)(ctx, 4)
        except ConfigError as exc:  # only MC dropout without dropout may refuse, saying what to do
            assert dropout == 0 and "dropout=0.5" in str(exc), (entry.name, str(exc))
            continue
        assert len(selection.indices) == 4, entry.name
