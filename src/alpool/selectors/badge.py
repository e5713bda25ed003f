"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on last-layer gradient embeddings.

A candidate's gradient embedding is the gradient of the cross-entropy loss at its *predicted*
label with respect to the last linear layer (``Classifier.grad_embedding``): its norm grows with
uncertainty and its direction encodes what the model would learn. k-means++ seeding picks the
largest-norm point first, then samples each next point with probability proportional to its squared
distance to the nearest point picked so far, so the batch is both uncertain and diverse.
Distances are updated on ``ctx.device`` with one matrix-vector product per row chunk; memory grows
linearly with the candidates (the embedding itself is ``[n, K * D]`` float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from alpool.params import Params
from alpool.selectors.base import NEED_CLASSIFIER, SELECTORS, Selection, SelectionContext, Selector
from alpool.selectors.uncertainty_queries import in_chunks, rank_top


class BadgeParams(Params):
    """Options of BADGE."""

    chunk_size: int = Field(4096, gt=0, description="rows per chunk when embedding candidates and "
                            "updating distances")


def kmeanspp_seeding(emb: torch.Tensor, norms: np.ndarray, budget: int, rng: np.random.Generator,
                     chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``budget`` rows of ``emb`` by k-means++ seeding, starting at the largest norm.

    Args:
        emb: ``[n, d]`` float32 embeddings (any device).
        norms: ``[n]`` Euclidean norms of the rows (the first pick is the largest).
        budget: number of rows to pick (at most ``n``).
        rng: generator of the D^2 sampling and of ties.
        chunk_size: rows per chunk of the distance update.

    Returns:
        The picked positions int64 ``[budget]`` in pick order, and the squared distance of each
        pick to the nearest earlier pick when it was drawn (``[budget]``, ``inf`` for the first).
    """
    n = emb.shape[0]
    sq_norms = torch.as_tensor(norms**2, dtype=emb.dtype, device=emb.device)  # [n]
    picks, gaps = [int(rank_top(norms, 1, rng)[0])], [float("inf")]
    taken = np.zeros(n, dtype=bool)  # [n]
    d2 = np.full(n, np.inf)  # [n] squared distance to the nearest pick
    while True:
        taken[picks[-1]] = True
        d2 = np.minimum(d2, squared_distances(emb, sq_norms, picks[-1], chunk_size))
        d2[taken] = 0.0
        if len(picks) == budget:
            break
        pick = sample_d2(d2, taken, rng)
        picks.append(pick)
        gaps.append(float(d2[pick]))
    return np.asarray(picks, dtype=np.int64), np.asarray(gaps)


def squared_distances(emb: torch.Tensor, sq_norms: torch.Tensor, center: int,
                      chunk_size: int) -> np.ndarray:
    """Return ``||emb_i - emb_center||^2`` ``[n]`` float64 as ``|x|^2 + |c|^2 - 2 x.c`` in chunks.

    One matrix-vector product per chunk (no ``[chunk, d]`` temporary); rounding is clamped at 0.
    """
    c = emb[center]  # [d]
    parts = [sq_norms[i:i + chunk_size] + sq_norms[center] - 2 * (emb[i:i + chunk_size] @ c)
             for i in range(0, emb.shape[0], chunk_size)]
    return torch.cat(parts).clamp_min_(0).double().cpu().numpy()  # one transfer per pick


def row_norms(emb: torch.Tensor, chunk_size: int) -> np.ndarray:
    """Return the Euclidean norm of each row ``[n]`` float64, computed in chunks of rows."""
    parts = [torch.linalg.vector_norm(emb[i:i + chunk_size].double(), dim=1)
             for i in range(0, emb.shape[0], chunk_size)]
    return torch.cat(parts).cpu().numpy()


def sample_d2(d2: np.ndarray, taken: np.ndarray, rng: np.random.Generator) -> int:
    """Draw an untaken position with probability proportional to ``d2`` (``d2[taken]`` is 0).

    When every untaken distance is 0 (exact duplicates of picked points) the draw is uniform
    among the untaken positions.
    """
    total = float(d2.sum())
    if total > 0 and np.isfinite(total):
        cumulative = np.cumsum(d2)  # [n]
        pick = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
        pick = min(pick, len(d2) - 1)
        if not taken[pick] and d2[pick] > 0:
            return pick
        positive = np.flatnonzero(~taken & (d2 > 0))  # floating-point edge of the cumulative sum
        if len(positive):
            return int(positive[np.argmax(d2[positive])])
    return int(rng.choice(np.flatnonzero(~taken)))


@SELECTORS.register("badge")
class Badge(Selector):
    """Diverse, uncertain batches: k-means++ seeding on the classifier's gradient embeddings."""

    Params = BadgeParams
    needs = frozenset({NEED_CLASSIFIER})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Embed the candidates, seed ``budget`` centres, and return them in pick order."""
        clf = ctx.require_classifier()
        p: BadgeParams = self.params  # type: ignore[assignment]
        emb_np = in_chunks(ctx.candidates, p.chunk_size,
                           lambda idx: clf.grad_embedding(idx).astype(np.float32))  # [n, K*D]
        emb = torch.from_numpy(np.ascontiguousarray(emb_np)).to(ctx.device)
        norms = row_norms(emb, p.chunk_size)  # [n]
        picks, gaps = kmeanspp_seeding(emb, norms, budget, ctx.rng, p.chunk_size)
        info = badge_info(norms, picks, gaps)
        return Selection(ctx.candidates[picks].astype(np.int64), norms, info)


def badge_info(norms: np.ndarray, picks: np.ndarray, gaps: np.ndarray) -> dict[str, Any]:
    """Return gradient-norm and spread summaries of a BADGE batch."""
    finite = gaps[np.isfinite(gaps)]
    return {
        "grad_norm_mean": float(norms.mean()),
        "picked_grad_norm_mean": float(norms[picks].mean()),
        "pick_sq_distance_mean": float(finite.mean()) if len(finite) else float("nan"),
    }
