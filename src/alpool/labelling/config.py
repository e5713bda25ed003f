"""Validated configs of ``alpool export``, ``alpool import-labels`` and ``alpool next``.

They live here rather than in :mod:`alpool.core.config` to keep the loop's options in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from alpool.core.config import Device, Frozen, TrainConfig


def step_name(value: str | None) -> str | None:
    """Refuse a ``--name`` that is not one folder name (a path, hidden, empty)."""
    if value is not None and (not value.strip() or value != value.strip() or value.startswith(".")
                              or any(c in value for c in "/\\\0")):
        raise ValueError(f"--name {value!r} must be one folder name (no slashes, not hidden, no spaces around it)")
    return value


class ExportConfig(Frozen):
    """``alpool export``: a pool or an AL query step as files to label."""

    source: str = Field(description="pool name, pools/NAME, or al/EXP/POOL--QUERY/trial-T/episode-E")
    name: str | None = None
    copy_to: Path | None = None
    url_prefix: str | None = Field(None, description="task URL prefix (default: the run's last one, else "
                                   "Label Studio's local-files URL of the image folder)")
    force: bool = False

    _name = field_validator("name")(step_name)


class ImportLabelsConfig(Frozen):
    """``alpool import-labels``: a CSV of ``path,label`` or ``index,label`` rows made by a person."""

    file: Path
    name: str | None = None
    classes: list[str] | None = Field(None, description="declared class list (first import; later ones may only add)")
    new_classes: list[str] = Field(default_factory=list, description="class names this import adds on purpose")
    by: str | None = Field(None, description="who labelled (recorded)")
    label_column: str = Field("label", min_length=1, description="the CSV column holding the labels")
    force: bool = False

    _name = field_validator("name")(step_name)


class NextConfig(Frozen):
    """``alpool next``: train on the imported labels, estimate quality, pick and export the next batch."""

    query: str = "entropy"
    query_params: dict[str, Any] = Field(default_factory=dict)
    budget: int = Field(gt=0)
    framework: str = "linear-probe"
    embeddings: str | None = Field(None, description="pretrain step used wherever an entry takes "
                                   "embeddings and none is given (default: the run's only pretrain step)")
    framework_params: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    folds: int = Field(5, ge=0, description="k of the k-fold estimate on the labels (0: none; 1 is refused)")
    holdout: Path | None = Field(None, description="a labelled CSV kept out of training, used to estimate quality")
    name: str | None = None
    copy_to: Path | None = None
    url_prefix: str | None = None
    seed: int = 0
    device: Device = "auto"
    force: bool = False

    _name = field_validator("name")(step_name)

    @field_validator("folds")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("--folds 1 would train on every label and test on none; give 0 (no estimate) "
                             "or 2 or more")
        return value
