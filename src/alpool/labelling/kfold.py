"""An honest quality estimate without a test set: stratified k-fold cross-validation on the labels.

Reusable by anything that trains on a labelled subset (``alpool next`` here; ``al-run``'s
``labeled-kfold`` validation can share it): give the labelled indices, their class ids, and a
function that trains on some indices and returns predicted probabilities for others. The folds are
:func:`alpool.learning.validation.labeled_folds`, the same stratified deal as ``al-run --validation labeled-kfold``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alpool.learning.validation import labeled_folds

TrainPredict = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
"""``(train_indices, eval_indices, fold) -> [len(eval), K]`` probabilities."""


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
    splits = labeled_folds(labels, k, rng)  # the same stratified deal as al-run's labeled-kfold
    k = len(splits)
    predicted = np.empty(len(indices), dtype=np.int64)
    per_fold = []
    for f, (fit, held) in enumerate(splits):
        proba = train_predict(indices[fit], indices[held], f)  # [n_held, K]
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
