"""Evaluation frameworks of ``al-run``: how labels become a classifier.

Each framework is declared here; its module is imported when it is first built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alpool.core.registry import ClassRegistry, lazy_exports

if TYPE_CHECKING:
    from alpool.frameworks.base import EpisodeData, Framework, TrainedModel

__all__ = ["FRAMEWORKS", "EpisodeData", "Framework", "TrainedModel"]

FRAMEWORKS: ClassRegistry[Framework] = ClassRegistry("framework")
FRAMEWORKS.declare("linear-probe", "alpool.frameworks.linear_probe",
                   "train a linear/MLP head on frozen pretext embeddings (embeddings=simclr)")
FRAMEWORKS.declare("semi-supervised", "alpool.frameworks.semi_supervised",
                   "FixMatch on labeled + unlabeled pool images (flexmatch=true: FlexMatch)")
FRAMEWORKS.declare("supervised", "alpool.frameworks.supervised",
                   "train the classifier on the labeled set only (fresh each episode)")


__getattr__ = lazy_exports(__name__, {
    "EpisodeData": "alpool.frameworks.base",
    "Framework": "alpool.frameworks.base",
    "TrainedModel": "alpool.frameworks.base"})
