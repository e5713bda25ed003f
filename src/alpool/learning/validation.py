"""How an episode's weights are chosen: ``al-run --validation split|none|labeled-kfold``.

- ``split`` (the default, the paper presets): the run's held-out validation images (10 % of the
  train split, or the dataset's official val split) pick the best epoch. A low-budget study would
  not have those labels, so this flatters every method at 10-100 labels.
- ``none``: a fixed schedule, the weights of the last epoch (what TypiClust [TC] and ProbCover [PC]
  report). ``val_accuracy`` is NaN.
- ``labeled-kfold``: k-fold cross-validation on the labeled pool only, used for early stopping.
  The labeled set is split into k stratified folds (:func:`labeled_folds`); for each fold a model
  is trained on the other k-1 folds with the episode's full schedule and scored on the held-out
  fold after every epoch. The epoch with the best mean held-out accuracy (ties: the later one) is
  chosen (:func:`choose_epoch`), and the final model is trained on all labeled images with the
  same schedule and stopped after that epoch. ``val_accuracy`` is that mean held-out accuracy, an
  estimate that uses no image outside the labeled pool. It costs k + 1 trainings per episode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from alpool.core.errors import ConfigError
from alpool.core.seeding import numpy_rng

FoldCurve = Callable[[np.ndarray, np.ndarray], Sequence[float]]  # (fit positions, held-out positions) -> acc per epoch


def labeled_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split positions ``0..n-1`` of a labeled set into ``min(k, n)`` stratified folds.

    Within each class the order is random; positions are dealt to the folds in turn, class after
    class, so every fold gets each class's share (± 1).

    Args:
        labels: int labels ``[n]`` of the labeled images (positions, not dataset indices).
        k: wanted number of folds (>= 2).
        rng: generator of the shuffle.

    Returns:
        One ``(fit, held_out)`` pair of sorted int64 position arrays per fold; the held-out parts
        partition ``0..n-1``.
    """
    n = len(labels)
    folds = min(k, n)
    if folds < 2:
        raise ConfigError(f"--validation labeled-kfold needs at least 2 labeled images, got {n}; "
                          "use --validation none for a pool this small")
    order = rng.permutation(n)
    order = order[np.argsort(np.asarray(labels)[order], kind="stable")]  # grouped by class, random within
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % folds
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(folds)]


def choose_epoch(curves: Sequence[Sequence[float]]) -> tuple[int, float]:
    """Return the epoch with the best mean held-out accuracy over folds (ties: the later) and that mean."""
    mean = np.asarray(curves, dtype=float).mean(axis=0)  # [epochs]
    best = len(mean) - 1 - int(np.argmax(mean[::-1]))
    return best, float(mean[best])


@dataclass(frozen=True)
class KFoldChoice:
    """What :func:`kfold_stop_epoch` chose: the epoch to stop after and its mean held-out accuracy."""

    epoch: int
    accuracy: float
    folds: int
    held_out_sizes: tuple[int, ...]

    def info(self) -> dict[str, object]:
        """Return the fields recorded in an episode's ``train_info``."""
        return {"validation": "labeled-kfold", "kfold_epoch": self.epoch, "kfold_accuracy": self.accuracy,
                "kfold_folds": self.folds, "kfold_held_out": list(self.held_out_sizes)}


def kfold_stop_epoch(labels: np.ndarray, folds: int, seed: int, fold_curve: FoldCurve) -> KFoldChoice:
    """Choose the epoch to stop after by k-fold cross-validation on a labeled set only.

    Args:
        labels: labels ``[n]`` of the labeled images.
        folds: wanted number of folds (capped at ``n``).
        seed: the episode's seed (the fold split derives from it).
        fold_curve: trains on the positions of its first argument and returns the accuracy on the
            positions of its second after every epoch.

    Returns:
        The chosen epoch, its mean held-out accuracy, and the fold sizes.
    """
    splits = labeled_folds(labels, folds, numpy_rng(seed, "labeled-kfold"))
    curves = [list(fold_curve(fit, held)) for fit, held in splits]
    epoch, accuracy = choose_epoch(curves)
    return KFoldChoice(epoch, accuracy, len(splits), tuple(len(held) for _, held in splits))
