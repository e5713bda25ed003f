"""``typicality``: 1 / mean Euclidean distance to the k nearest neighbours in embedding space.

Definition (METHODS.md "Scorers", after TypiClust [TC]): for every train image ``i`` with
embedding ``x_i`` of a pretrain step, ``typicality_i = 1 / (mean_{j in kNN(i)} ||x_i - x_j|| + eps)``
over its ``k`` nearest *other* images (the image itself is excluded; a duplicate of it is not).
Unlike the typiclust selector, neighbours are searched in the whole train split, not inside a
cluster. The distance is Euclidean, not squared (the reference code squared it, which changes the
order).

Computation: :func:`alpool.ops.distances.knn_mean_distance` (the helper the typiclust
selector uses) on the scoring step's device, in row blocks of ``chunk_rows x N`` distances and a
top-k per block (faiss's exact search on the CPU when installed), so memory is linear in N.
It works in float32: float64 embeddings are accepted and
centred (mean accumulated in float64, subtracted) before the cast, which leaves distances unchanged but keeps
the ``|a|^2 + |b|^2 - 2ab`` form accurate when the embeddings sit far from the origin.

Duplicates: an image with ``k`` exact copies has mean distance 0, and ``1 / 0`` would be ``inf``.
``eps = 1e-6 x`` the median of the mean distances (``1e-12`` if that is 0) keeps every score
finite while keeping the score scale-free: multiplying the embeddings by ``c`` divides every score
by ``c`` exactly.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from alpool.core.errors import ConfigError
from alpool.core.params import Params
from alpool.ops.device import Device
from alpool.ops.distances import CHUNK_ELEMENTS, knn_mean_distance, l2_normalize
from alpool.scorers import SCORERS
from alpool.scorers.base import Scorer, ScoringContext

RELATIVE_EPS = 1e-6  # eps = RELATIVE_EPS x median mean-kNN distance
ABSOLUTE_EPS = 1e-12  # used when the median mean-kNN distance is 0


class TypicalityParams(Params):
    """Options of the ``typicality`` scorer."""

    task: str = Field("simclr", description="pretrain step whose embeddings are used (simclr, vae, ...)")
    k: int = Field(20, gt=0, description="nearest neighbours, the image itself excluded")
    normalize: bool = Field(False, description="L2-normalise the embeddings first (as typiclust does)")
    chunk_rows: int | None = Field(
        None, gt=0, description="rows per distance block (memory: chunk_rows x N floats); "
        "default: blocks of 2^24 distances (64 MiB)"
    )


def typicality_scores(x: np.ndarray, k: int, chunk_rows: int | None = None,
                      device: Device = None) -> np.ndarray:
    """Return ``[n]`` float64 ``1 / (mean distance to the k nearest others + eps)``.

    Args:
        x: ``[n, d]`` embeddings (float32 or float64).
        k: neighbours per point, ``1 <= k < n``.
        chunk_rows: rows per distance block (``None``: 2^24 distances per block).
        device: where the distances are computed (the scoring step's device).

    Raises:
        ConfigError: ``k`` is not below the number of points.
    """
    n = len(x)
    if not 1 <= k < n:
        raise ConfigError(f"typicality k={k} needs at least k + 1 = {k + 1} images but the "
                          f"embeddings have {n}; lower --param k (at most {max(n - 1, 0)})")
    x = np.asarray(x)
    mean = x.mean(axis=0, dtype=np.float64).astype(x.dtype)  # [d], accumulated in float64
    centred = np.asarray(x - mean, dtype=np.float32)  # [n, d]: one copy in the input's dtype
    chunk = CHUNK_ELEMENTS if chunk_rows is None else chunk_rows * n
    mean_distance = knn_mean_distance(centred, k, chunk, device)  # [n] float64
    median = float(np.median(mean_distance))
    eps = RELATIVE_EPS * median if median > 0 else ABSOLUTE_EPS
    return 1.0 / (mean_distance + eps)


@SCORERS.register("typicality")
class Typicality(Scorer):
    """Score dense-region images high: typicality on a pretrain step's embeddings."""

    Params = TypicalityParams
    params: TypicalityParams
    requires = ("simclr",)

    def score(self, ctx: ScoringContext) -> np.ndarray:
        """Return ``[N]`` float64 typicality of every train image."""
        p = self.params
        x = np.asarray(ctx.pretrain(p.task).array("embeddings"))
        if x.ndim != 2:
            raise ConfigError(f"pretrain step {p.task!r}: embeddings have shape {x.shape}, "
                              "expected [N, D]; re-run alpool pretrain")
        if p.normalize:
            x = l2_normalize(x)
        return typicality_scores(x, p.k, p.chunk_rows, ctx.device)
