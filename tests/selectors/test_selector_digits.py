"""Issue check on real data: TypiClust and ProbCover cover more digit classes than random at B = 10.

SimCLR embeddings are not available in a unit test, so a label-free stand-in is used: a spectral
embedding (16 dimensions, 10-nearest-neighbour graph of the raw pixels; scikit-learn). Like a
self-supervised embedding it clusters the digits without seeing a label. Measured over seeds
0-9: random 6.2, typiclust 8.7, probcover 9.8 classes on average. (On 30-dimensional PCA of the
pixels typiclust still reaches 8.4, but ProbCover's purity rule picks a small delta there and
covers only 6.6, close to random: PCA of pixels is not a clustered embedding.)

Real SimCLR embeddings (``alpool pretrain --task simclr digits --epochs 100``, small CNN, seed 0;
5-NN accuracy of the embedding 0.89), seeds 0-9, B = 10, all 1,437 train images: random 6.2,
typiclust 9.3, probcover 7.5, coreset 7.7, kmeans-centers 8.8 classes. ProbCover's 95% purity rule
gives delta 0.20 there (mean degree 4.5, 12% of the points covered by 10 balls), so it acts like
a density pick; a given delta of 0.3-0.4 covers 9.0. On the 40-epoch VAE's embeddings (5-NN 0.76)
typiclust reaches 7.1 and probcover 4.8: the embedding, not the selector, limits both.
"""

from __future__ import annotations

import numpy as np
import pytest
from selector_inputs import ArrayInputs

from alpool.data import load_dataset
from alpool.selectors import SELECTORS, SelectionContext

SEEDS = range(10)
BUDGET = 10
MARGIN = 1.5  # classes above random, on average; measured margins are 2.5 and 3.6


@pytest.fixture(scope="module")
def digits_inputs() -> tuple[ArrayInputs, np.ndarray]:
    """The digits train split with a label-free spectral embedding as 'spectral' embeddings."""
    from sklearn.manifold import SpectralEmbedding

    dataset = load_dataset("digits")
    pixels = dataset.train_x.reshape(dataset.n_train, -1).float().numpy() / 255.0  # [1437, 64]
    embedding = SpectralEmbedding(
        n_components=16, affinity="nearest_neighbors", n_neighbors=10, random_state=0
    ).fit_transform(pixels)
    labels = dataset.train_y.numpy()
    return ArrayInputs(
        embeddings_by_task={"spectral": embedding.astype(np.float32)}, true_labels=labels
    ), labels


def mean_classes_covered(name: str, inputs: ArrayInputs, labels: np.ndarray) -> float:
    """Return the mean number of classes in the B = 10 pools of seeds 0-9."""
    params = {} if name == "random" else {"embeddings": "spectral"}
    covered = []
    for seed in SEEDS:
        ctx = SelectionContext(
            n_total=len(labels),
            labeled=np.empty(0, dtype=np.int64),
            candidates=np.arange(len(labels), dtype=np.int64),
            rng=np.random.default_rng(seed),
            num_classes=10,
            inputs=inputs,
        )
        covered.append(len(np.unique(labels[SELECTORS.create(name, params)(ctx, BUDGET).indices])))
    return float(np.mean(covered))


def test_typiclust_and_probcover_cover_more_classes_than_random(
    digits_inputs: tuple[ArrayInputs, np.ndarray],
) -> None:
    inputs, labels = digits_inputs
    assert len(labels) == 1437
    random = mean_classes_covered("random", inputs, labels)
    for name in ("typiclust", "probcover"):
        assert mean_classes_covered(name, inputs, labels) >= random + MARGIN, name
