"""NT-Xent, its per-image version and the in-batch positive probability (SimCLR, [CS] dynamics).

All functions take L2-normalised embeddings; the temperature divides the cosine similarity
exactly once. (The original code divided cumulatively, so tau 0.05 acted as 0.001.)
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def pair_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the ``[2n, 2n]`` similarity logits of two views (self-similarity masked) and targets.

    Row ``i`` is view ``i`` of ``cat(z1, z2)``; its positive is ``i + n`` (mod ``2n``), the other
    ``2n - 2`` views are its negatives.
    """
    n = z1.shape[0]
    z = torch.cat([z1, z2]).float()
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return logits, targets


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return the mean NT-Xent loss of a batch of positive pairs ``(z1[i], z2[i])``."""
    logits, targets = pair_logits(z1, z2, temperature)
    return F.cross_entropy(logits, targets)


@torch.no_grad()
def positive_probability(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return ``[n]``: the softmax probability of each image's positive view among the ``2n - 1``
    other views of the batch, at ``temperature``, averaged over the image's two views [CS]."""
    n = z1.shape[0]
    logits, targets = pair_logits(z1, z2, temperature)
    p = torch.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    return 0.5 * (p[:n] + p[n:])


@torch.no_grad()
def per_image_nt_xent(views: torch.Tensor, negatives: torch.Tensor, temperature: float,
                      same_image: torch.Tensor | None = None) -> torch.Tensor:
    """Return the NT-Xent loss of each image against shared negatives, averaged over view pairs.

    This is the fixed per-sample SimCLR loss: the original scored each image as a batch of one
    pair, whose loss is always 0.

    Args:
        views: ``[V, n, d]`` L2-normalised embeddings of ``V >= 2`` views of ``n`` images.
        negatives: ``[m, d]`` L2-normalised embeddings of other images (one view each).
        temperature: the NT-Xent temperature (applied once).
        same_image: optional ``[n, m]`` bool, True where a negative is a view of the image
            itself; those are left out of the denominator.

    Returns:
        ``[n]``: mean over ordered view pairs ``(a, b)``, ``a != b``, of
        ``-log(exp(s_ab) / (exp(s_ab) + sum_neg exp(s_a,neg)))`` with ``s = cos / temperature``.
    """
    n_views = views.shape[0]
    if n_views < 2:
        raise ValueError(f"per-image NT-Xent needs at least 2 views, got {n_views}")
    views = views.float()
    negative_logits = torch.einsum("vnd,md->vnm", views, negatives.float()) / temperature  # [V, n, m]
    if same_image is not None:
        negative_logits = negative_logits.masked_fill(same_image[None].to(views.device), float("-inf"))
    negative_lse = torch.logsumexp(negative_logits, dim=2)  # [V, n]
    total = torch.zeros(views.shape[1], device=views.device)
    for a in range(n_views):
        for b in range(n_views):
            if a != b:
                positive = (views[a] * views[b]).sum(dim=1) / temperature
                total += torch.logaddexp(positive, negative_lse[a]) - positive
    return total / (n_views * (n_views - 1))
