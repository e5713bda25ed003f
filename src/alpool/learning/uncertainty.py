"""Per-sample uncertainty measures on predicted probabilities: higher = more uncertain = pick first.

Pure numpy functions shared by the proxy scorers (``alpool rank``) and the AL queries, so that a
scorer and the query of the same name compute the same number.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def entropy(proba: np.ndarray) -> np.ndarray:
    """Return the Shannon entropy (nats) of each row of ``proba`` ``[n, K]``."""
    p = np.clip(proba, EPS, 1.0)
    return -(proba * np.log(p)).sum(axis=-1)


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """Return ``1 - max_k p_k`` per row."""
    return 1.0 - proba.max(axis=-1)


def margin(proba: np.ndarray) -> np.ndarray:
    """Return ``-(p1 - p2)``: minus the gap between the two largest probabilities."""
    top2 = np.sort(proba, axis=-1)[..., -2:]
    return -(top2[..., 1] - top2[..., 0])


def bald(mc_proba: np.ndarray) -> np.ndarray:
    """Return the BALD mutual information ``H[mean_t p_t] - mean_t H[p_t]`` from ``[T, n, K]``."""
    return entropy(mc_proba.mean(axis=0)) - entropy(mc_proba).mean(axis=0)


def mean_entropy(mc_proba: np.ndarray) -> np.ndarray:
    """Return the entropy of the MC-dropout mean prediction (DBAL's max-entropy) from ``[T, n, K]``."""
    return entropy(mc_proba.mean(axis=0))


def consistency(aug_proba: np.ndarray) -> np.ndarray:
    """Return the sum over classes of the variance of the softmax over augmented passes ``[T, n, K]``."""
    return aug_proba.var(axis=0).sum(axis=-1)


def variation_ratio(member_proba: np.ndarray) -> np.ndarray:
    """Return ``1 - (count of the modal predicted class) / members`` from ``[M, n, K]``."""
    members, n, k = member_proba.shape
    votes = member_proba.argmax(axis=-1)  # [M, n]
    counts = np.zeros((n, k), dtype=np.int64)
    np.add.at(counts, (np.arange(n)[None, :].repeat(members, 0), votes), 1)
    return 1.0 - counts.max(axis=1) / members
