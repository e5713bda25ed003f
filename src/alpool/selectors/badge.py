"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on last-layer gradient embeddings.

A candidate's gradient embedding is the gradient of the cross-entropy loss at its *predicted*
label with respect to the last linear layer (``Classifier.grad_embedding``): its norm grows with
uncertainty and its direction encodes what the model would learn. k-means++ seeding picks the
largest-norm point first, then samples each next point with probability proportional to its squared
distance to the nearest point picked so far, so the batch is both uncertain and diverse.
The seeding is :func:`alpool.ops.kmeans.kmeanspp` (shared with k-means), on ``ctx.device`` with one
matrix-vector product per pick (numpy on the CPU, torch on CUDA); memory grows
linearly with the candidates (the embedding itself is ``[n, K * D]`` float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from alpool.core.params import Params
from alpool.ops.infer import in_chunks
from alpool.ops.kmeans import kmeanspp
from alpool.ops.ranking import rank_top
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_CLASSIFIER, Selection, SelectionContext, Selector


class BadgeParams(Params):
    """Options of BADGE."""

    chunk_size: int = Field(4096, gt=0, description="rows per chunk when embedding candidates and "
                            "updating distances")


def row_norms(emb: torch.Tensor, chunk_size: int) -> np.ndarray:
    """Return the Euclidean norm of each row ``[n]`` float64, computed in chunks of rows."""
    parts = [torch.linalg.vector_norm(emb[i:i + chunk_size].double(), dim=1)
             for i in range(0, emb.shape[0], chunk_size)]
    return torch.cat(parts).cpu().numpy()


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
        first = int(rank_top(norms, 1, ctx.rng)[0])  # the largest gradient norm
        picks, gaps = kmeanspp(emb, budget, ctx.rng, first, chunk_rows=p.chunk_size)
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
