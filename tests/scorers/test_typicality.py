"""The ``typicality`` scorer: known answers, brute force, chunking, duplicates, options."""

from __future__ import annotations

import numpy as np
import pytest

from alpool.core.errors import ConfigError, MissingStepError
from alpool.data.base import Dataset
from alpool.scorers import SCORERS
from alpool.scorers.typicality import typicality_scores
from blob_data import make_blob_dataset
from fake_steps import MemoryArtifacts, scoring_context


def _data(n: int) -> Dataset:
    """A blob dataset with exactly ``n`` train images."""
    data = make_blob_dataset(n_per_class=n)
    return Dataset(data.name, data.train_x[:n], data.train_y[:n], data.test_x, data.test_y, data.classes)


def _blob_with_centre() -> tuple[np.ndarray, int]:
    """A point at the origin and 5 hexagons of radius 0.2 j^2 around it (density falls outward).

    With k = 6 the centre's neighbours are the inner hexagon (mean distance 0.2); an inner hexagon
    point has the centre and two neighbours at 0.2 but the rest farther (mean 0.28); outer rings
    are sparser still. Returns the points and the centre's row.
    """
    angles = np.arange(6) * np.pi / 3
    rings = [0.2 * j**2 * np.stack([np.cos(angles + j), np.sin(angles + j)], 1) for j in range(1, 6)]
    return np.concatenate([np.zeros((1, 2)), *rings]).astype(np.float32), 0


def _brute_force(x: np.ndarray, k: int) -> np.ndarray:
    d = np.sqrt(((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, :k].mean(1)


def test_the_centre_of_a_dense_blob_is_most_typical() -> None:
    x, centre = _blob_with_centre()
    ctx = scoring_context(_data(len(x)), {"simclr": MemoryArtifacts("simclr", {"embeddings": x})})
    scores = SCORERS.create("typicality", {"k": 6}).score(ctx)
    assert scores.dtype == np.float64 and scores.shape == (len(x),)
    assert scores.argmax() == centre
    np.testing.assert_allclose(scores[centre], 1 / 0.2, rtol=1e-4)
    ring_means = scores[1:].reshape(5, 6).mean(1)
    assert (np.diff(ring_means) < 0).all()  # sparser rings are less typical
    assert SCORERS.get("typicality").requires == ("simclr",)


def test_matches_brute_force_and_chunking_changes_nothing() -> None:
    x = np.random.default_rng(1).normal(size=(57, 6)).astype(np.float32) * 3 + 40  # far from origin
    expected = 1.0 / _brute_force(x, 5)
    whole = typicality_scores(x, 5)
    np.testing.assert_allclose(whole, expected, rtol=1e-4)
    for rows in (1, 4, 56, 57, 1000):
        np.testing.assert_allclose(typicality_scores(x, 5, chunk_rows=rows), whole, rtol=1e-6)


def test_float64_input_and_scale_invariance() -> None:
    x = np.random.default_rng(2).normal(size=(40, 4))
    np.testing.assert_allclose(typicality_scores(x, 3), 1.0 / _brute_force(x, 3), rtol=1e-4)
    np.testing.assert_allclose(typicality_scores(10 * x, 3), typicality_scores(x, 3) / 10, rtol=1e-5)


def test_duplicates_stay_finite_and_rank_first() -> None:
    x = np.random.default_rng(3).normal(size=(30, 3)).astype(np.float32)
    x[5] = x[6] = x[7] = x[8]  # four copies: with k = 3 their mean distance is 0
    scores = typicality_scores(x, 3)
    assert np.isfinite(scores).all()
    assert set(np.argsort(-scores)[:4].tolist()) == {5, 6, 7, 8}


def test_k_is_validated() -> None:
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="k=5 needs at least k \\+ 1 = 6 images"):
        typicality_scores(x, 5)
    with pytest.raises(ConfigError, match="k=0"):
        SCORERS.create("typicality", {"k": 0})


def test_reads_any_step_and_normalises_on_request() -> None:
    x, centre = _blob_with_centre()
    data = _data(len(x))
    ctx = scoring_context(data, {"vae": MemoryArtifacts("vae", {"embeddings": x})})
    vae_scores = SCORERS.create("typicality", {"task": "vae", "k": 6}).score(ctx)
    assert vae_scores.argmax() == centre
    with pytest.raises(MissingStepError):
        SCORERS.create("typicality").score(ctx)
    scaled = x * np.linspace(1, 50, len(x), dtype=np.float32)[:, None]  # norms differ, directions kept
    ctx = scoring_context(data, {"vae": MemoryArtifacts("vae", {"embeddings": scaled})})
    plain = SCORERS.create("typicality", {"task": "vae", "k": 6, "normalize": True}).score(ctx)
    ctx = scoring_context(data, {"vae": MemoryArtifacts("vae", {"embeddings": x})})
    again = SCORERS.create("typicality", {"task": "vae", "k": 6, "normalize": True}).score(ctx)
    np.testing.assert_allclose(plain, again, rtol=1e-4)
