"""NT-Xent, the per-image loss and the positive probability against direct computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from alpool.pretext.contrastive import nt_xent, per_image_nt_xent, positive_probability


def unit(rows: list[list[float]]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


Z1 = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
Z2 = unit([[0.9, 0.1, 0], [0.2, 0.8, 0.1], [0.3, 0, 0.7]])


def direct_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> tuple[float, list[float]]:
    """Loop over the 2n anchors: -log exp(s_pos) / sum_{k != i} exp(s_ik), s = cos / tau."""
    z = torch.cat([z1, z2])
    n2 = len(z)
    losses, probabilities = [], []
    for i in range(n2):
        positive = (i + n2 // 2) % n2
        denominator = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n2) if k != i)
        p = math.exp(float(z[i] @ z[positive]) / tau) / denominator
        losses.append(-math.log(p))
        probabilities.append(p)
    return sum(losses) / n2, probabilities


@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5])
def test_nt_xent_matches_a_direct_computation_with_the_temperature_applied_once(tau: float) -> None:
    expected, _ = direct_nt_xent(Z1, Z2, tau)
    assert float(nt_xent(Z1, Z2, tau)) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_positive_probability_is_the_softmax_of_the_positive_averaged_over_views() -> None:
    _, p = direct_nt_xent(Z1, Z2, 0.2)
    got = positive_probability(Z1, Z2, 0.2)
    expected = [(p[i] + p[i + 3]) / 2 for i in range(3)]
    assert got.tolist() == pytest.approx(expected, rel=1e-5)


def test_identical_views_far_from_the_rest_are_certain_at_a_low_temperature() -> None:
    p = positive_probability(Z1, Z1.clone(), 0.05)
    assert (p > 0.999).all()


def test_per_image_loss_matches_a_direct_computation_and_skips_the_image_itself() -> None:
    tau = 0.3
    views = torch.stack([Z1, Z2, unit([[1, 1, 0], [0, 1, 1], [1, 0, 1]])])  # [V=3, n=3, d]
    negatives = unit([[1, 0.1, 0], [0, 0, 1], [1, 1, 1], [-1, 0, 0]])
    same = torch.tensor([[True, False, False, False], [False] * 4, [False, True, False, False]])
    got = per_image_nt_xent(views, negatives, tau, same)
    for i in range(3):
        total = 0.0
        for a in range(3):
            for b in range(3):
                if a == b:
                    continue
                s_pos = float(views[a, i] @ views[b, i]) / tau
                negs = [float(views[a, i] @ negatives[m]) / tau for m in range(4) if not same[i, m]]
                total += -s_pos + math.log(math.exp(s_pos) + sum(math.exp(s) for s in negs))
        assert float(got[i]) == pytest.approx(total / 6, rel=1e-5)


def test_per_image_loss_is_not_the_zero_of_a_one_pair_batch() -> None:
    """The original scored each image as a batch of one pair: always 0. Ours has negatives."""
    assert float(nt_xent(Z1[:1], Z2[:1], 0.1)) == pytest.approx(0.0, abs=1e-6)
    loss = per_image_nt_xent(torch.stack([Z1, Z2]), Z2, 0.1)
    assert (loss > 0.01).all() and loss.std() > 0


def test_per_image_loss_needs_two_views() -> None:
    with pytest.raises(ValueError, match="at least 2 views"):
        per_image_nt_xent(Z1[None], Z2, 0.1)
