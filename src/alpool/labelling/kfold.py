"""An honest quality estimate without a test set: stratified k-fold cross-validation on the labels.

Reusable by anything that trains on a labelled subset (``alpool next`` here; ``al-run``'s
``labeled-kfold`` validation can share it): give the labelled indices, their class ids, and a
function that trains on some indices and returns predicted probabilities for others.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TrainPredict = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
"""``(train_indices, eval_indices, fold) -> [len(eval), K]`` probabilities."""


def stratified_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return a fold id ``[n]`` in ``0 .. k-1``: each class's members permuted and dealt round-robin.

    The deal continues across classes (a class of 2 with k = 5 fills folds 3 and 4 after a class of
    3 filled 0 to 2), so folds stay near-equal in size even when every class is small.
    """
    fold = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        fold[members] = (offset + np.arange(len(members))) % k
        offset += len(members)
    return fold


def kfold_estimate(indices: np.ndarray, labels: np.ndarray, k: int, train_predict: TrainPredict,
                   rng: np.random.Generator) -> dict[str, object]:
    """Return mean/std accuracy and balanced accuracy over ``k`` stratified folds.

    Args:
        indices: ``[n]`` int64 labelled dataset indices.
        labels: ``[n]`` int64 class ids of ``indices``.
        k: folds; lowered to ``n`` when fewer images are labelled (leave-one-out).
        train_predict: trains on the given indices, predicts the held-out ones.
        rng: generator of the fold assignment.

    Returns:
        ``folds``, ``accuracy`` (of the pooled out-of-fold predictions), ``accuracy_std`` (over the
        folds), ``balanced_accuracy`` (mean recall over the classes, pooled), ``per_fold``, ``n``.
    """
    k = int(min(k, len(indices)))
    if k < 2:
        raise ValueError("k-fold needs at least 2 folds and 2 labelled images")
    fold = stratified_folds(labels, k, rng)
    predicted = np.empty(len(indices), dtype=np.int64)
    per_fold = []
    for f in range(k):
        held = fold == f
        proba = train_predict(indices[~held], indices[held], f)  # [n_held, K]
        predicted[held] = proba.argmax(1)
        per_fold.append(float((predicted[held] == labels[held]).mean()))
    recalls = [float((predicted[labels == c] == c).mean()) for c in np.unique(labels)]
    return {
        "method": f"{k}-fold cross-validation on the labelled images",
        "folds": k,
        "n": int(len(indices)),
        "accuracy": float((predicted == labels).mean()),  # pooled out-of-fold predictions
        "accuracy_std": float(np.std(per_fold)),
        "balanced_accuracy": float(np.mean(recalls)),
        "per_fold": per_fold,
    }
