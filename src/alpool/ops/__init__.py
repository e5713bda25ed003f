"""Shared numerics under the selectors and scorers: distances, kNN, k-means, k-center, radius graphs.

Everything here runs on the run's device (``device="auto"``: CUDA when the run uses it, the CPU
otherwise) and gives the same picks on both up to float ties. How it reaches the speed of the best
implementations measured on the CPU (``benchmarks/bench_selectors.py``):

- Large distance work (k-means assignment, kNN, radius graphs, the ProbCover purity pass) is done in
  row blocks of at most ``CHUNK_ELEMENTS`` distances with one BLAS matrix product per block
  (:func:`~alpool.ops.distances.matmul_t`: numpy's OpenBLAS on the CPU, which took 0.6x the CPU
  time of torch's MKL on AMD EPYC, the BLAS faiss-cpu uses too; cuBLAS on CUDA), so memory stays
  linear in N and the time is that of the GEMM. The radius graph compares ``a.y - |y|^2 / 2``
  with a per-row bound (two passes over a block after the product, not five).
- Loops with one step per pick (k-center, k-means++ seeding, per-cluster typicality) run on numpy
  arrays on the CPU: each small torch op opens an OpenMP region that costs 10-28 ms on a busy
  2-core machine, which was most of the old run time. On CUDA the same steps are torch ops.
- k-means uses random initial centres and Lloyd iterations for many clusters (what faiss does; on
  hundreds of clusters it reaches an equal or lower error than k-means++ in a fraction of the time)
  and k-means++ seeding on a subsample for few clusters, where its quality matters and it is cheap;
  ``n_init`` restarts keep the lowest inertia.
- faiss-cpu is a dependency used for one kernel only: exact kNN on the CPU, where torch's
  GEMM-then-``topk`` measured 1.2-1.6x faiss's fused search (1.62x at 50,000 x 512). Where faiss
  cannot be installed, the torch route runs instead (same neighbour sets up to ties). The
  other kernels match or beat faiss with torch/numpy (k-means stops when no label moves; the
  ProbCover pass computes radius and graph together), run unchanged on CUDA, and keep one
  implementation whose picks do not depend on an optional binary package. The benchmark uses
  faiss-cpu (when installed) as the peer to compare against.
"""

from __future__ import annotations

from alpool.ops.device import as_tensor, resolve_device
from alpool.ops.distances import (
    CHUNK_ELEMENTS,
    knn,
    knn_mean_distance,
    l2_normalize,
    min_distances,
    nearest_other_label_distance,
    squared_distances,
)
from alpool.ops.graph import Graph, GraphTooLarge, radius_graph
from alpool.ops.herding import dense_greedy, greedy_herding, sparse_kernel
from alpool.ops.kcenter import k_center
from alpool.ops.kmeans import Clustering, kmeans, kmeanspp
from alpool.ops.ranking import rank_top

__all__ = [
    "CHUNK_ELEMENTS", "Clustering", "Graph", "GraphTooLarge", "as_tensor", "dense_greedy", "greedy_herding",
    "k_center", "kmeans",
    "kmeanspp", "knn", "knn_mean_distance", "l2_normalize", "min_distances",
    "nearest_other_label_distance", "radius_graph", "rank_top", "resolve_device", "sparse_kernel",
    "squared_distances",
]
