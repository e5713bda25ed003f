"""Evaluation frameworks of ``al-run``: how labels become a classifier."""

import importlib

from alpool.frameworks import supervised  # noqa: F401  (registers)
from alpool.frameworks.base import FRAMEWORKS, EpisodeData, Framework, TrainedModel, make_framework

for _module in ("linear_probe", "semi_supervised"):
    try:
        importlib.import_module(f"alpool.frameworks.{_module}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"alpool.frameworks.{_module}":
            raise

__all__ = ["FRAMEWORKS", "EpisodeData", "Framework", "TrainedModel", "make_framework"]
