"""k-means centres: the candidate nearest each of B k-means centroids."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from alpool.core.params import Params
from alpool.ops.device import as_tensor
from alpool.ops.distances import l2_normalize, row_blocks
from alpool.ops.kmeans import kmeans
from alpool.selectors import SELECTORS
from alpool.selectors.base import NEED_EMBEDDINGS, Selection, SelectionContext, Selector
from alpool.selectors.common import embeddings_of


class KMeansCentersParams(Params):
    """Options of kmeans-centers."""

    embeddings: str = Field("simclr", description="pretrain task whose embeddings k-means clusters")
    normalize: bool = Field(True, description="L2-normalise the embeddings before k-means")


@SELECTORS.register("kmeans-centers")
class KMeansCentersSelector(Selector):
    """Cluster the candidates into ``B`` k-means clusters and take the member nearest each centroid.

    The pick of a cluster is its own member closest to its centroid, which makes the ``B`` picks
    distinct by construction. A cluster left empty by k-means (possible with duplicate points) is
    replaced by the not-yet-picked candidate nearest its centroid. Candidate scores are minus the
    distance to the own centroid (higher = more central).
    """

    Params = KMeansCentersParams
    params: KMeansCentersParams
    needs = frozenset({NEED_EMBEDDINGS})

    def select(self, ctx: SelectionContext, budget: int) -> Selection:
        """Cluster into ``budget`` groups and return each group's most central member."""
        x = embeddings_of(ctx, self.params.embeddings, ctx.candidates)  # [n_cand, D]
        x = l2_normalize(x, inplace=True) if self.params.normalize else x
        result = kmeans(x, budget, ctx.rng, ctx.device)
        dist = own_center_distance(x, result.centers, result.labels, ctx.device)  # [n_cand]
        order = np.lexsort((dist, result.labels))  # by cluster, nearest first
        first = np.unique(result.labels[order], return_index=True)[1]
        picks = order[first]
        empty = np.setdiff1d(np.arange(budget), result.labels)
        for c in empty:  # rare: nearest free candidate of an empty cluster's centroid
            free = np.setdiff1d(np.arange(len(x)), picks)
            gap = np.linalg.norm(x[free] - result.centers[c], axis=1)
            picks = np.append(picks, free[np.argmin(gap)])
        info = {"algorithm": result.algorithm, "k": budget, "empty_clusters": len(empty),
                "mean_center_distance": float(dist[picks].mean())}
        return Selection(ctx.candidates[picks].astype(np.int64), -dist, info)


def own_center_distance(x: np.ndarray, centers: np.ndarray, labels: np.ndarray,
                        device: str = "cpu") -> np.ndarray:
    """Return ``[n]`` the Euclidean distance of each row to the centre of its own cluster."""
    xt, ct = as_tensor(x, device), as_tensor(centers, device)
    lab = torch.from_numpy(labels).to(xt.device)
    out = torch.empty(len(xt), device=xt.device)
    for rows in row_blocks(len(xt), xt.shape[1]):
        out[rows] = (xt[rows] - ct[lab[rows]]).norm(dim=1)
    return out.cpu().numpy().astype(np.float64)
