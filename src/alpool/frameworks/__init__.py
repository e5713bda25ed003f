"""Evaluation frameworks of ``al-run``: how labels become a classifier.

Each framework is declared here; its module is imported when it is first built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alpool.registry import ClassRegistry, lazy_exports

if TYPE_CHECKING:
    from alpool.frameworks.base import EpisodeData, Framework, TrainedModel

__all__ = ["FRAMEWORKS", "EpisodeData", "Framework", "TrainedModel", "make_framework"]

FRAMEWORKS: ClassRegistry[Framework] = ClassRegistry("framework")
FRAMEWORKS.declare("linear-probe", "alpool.frameworks.linear_probe",
                   "train a linear/MLP head on frozen pretext embeddings (embeddings=simclr)")
FRAMEWORKS.declare("semi-supervised", "alpool.frameworks.semi_supervised",
                   "FixMatch on labeled + unlabeled pool images (flexmatch=true: FlexMatch)")
FRAMEWORKS.declare("supervised", "alpool.frameworks.supervised",
                   "train the classifier on the labeled set only (fresh each episode)")


def make_framework(name: str, params: Mapping[str, Any] | None = None) -> Framework:
    """Build a registered framework (kept for callers of the old name; prefer ``FRAMEWORKS.create``)."""
    return FRAMEWORKS.create(name, params)


__getattr__ = lazy_exports(__name__, {
    "EpisodeData": "alpool.frameworks.base",
    "Framework": "alpool.frameworks.base",
    "TrainedModel": "alpool.frameworks.base"})
