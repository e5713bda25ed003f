"""The names of the files inside step folders: the one place that spells them (DESIGN.md section 2).

Folders are handed out by :class:`alpool.rundir.run_dir.RunDir` (``run.step(kind, name)``); the files a
step writes into its folder are named here, so that a reader and a writer can never disagree.
"""

from __future__ import annotations

POOL_INDICES = "indices.npy"  # pools/<pool>/: int64 [B] train indices, in pick order
SELECTION_SCORES = "selection_scores.npy"  # pools/<pool>/: float64 [N], each candidate's score (NaN elsewhere)
SELECTOR_STATE = "selector_state.npz"  # pools/<next round>/ and AL episode folders: a query's state (DCoM's radii)
TO_LABEL = "to_label.csv"  # exports/<name>/: rank, index, path, score of the images to label
SCORES = "scores.npy"  # scores/<scorer>/: float64 [N], higher = pick first
SORTED_INDEX = "sorted_idx.npy"  # scores/<scorer>/: int64 [N] permutation, best first
EMBEDDINGS = "embeddings.npy"  # pretrain/<task>/: float32 [N, D]
MODEL = "model.pt"  # pretrain/<task>/: the versioned checkpoint (alpool.rundir.checkpoints)
REPORT_HTML = "report.html"  # analysis/<name>/: the report a person opens
PARTIAL_RESULTS = "results-partial.csv"  # al/<experiment>/: the finished trials of an unfinished run
RESULTS = "results.csv"  # al/<experiment>/: one row per trial x episode (alpool.al)
