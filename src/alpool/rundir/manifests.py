"""The manifests of a run directory: ``run.json`` and each step's ``manifest.json``, with migrations.

Every manifest carries ``schema_version``; :func:`read_model` migrates older versions through the
:data:`MIGRATIONS` chain (one registered function per version step) and refuses newer ones.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alpool.core.config import VAL_FRACTION, ValFraction
from alpool.core.errors import CorruptFileError, SchemaError
from alpool.core.version import __version__

SCHEMA_VERSION = 2  # 2: step manifests record their warnings
StepKind = Literal["pretrain", "scores", "pools", "al", "analysis", "labels", "exports"]
RUN_MANIFEST = "run.json"  # <run>/run.json: the run's identity and steps index
RUN_LOCK = ".run.lock"  # <run>/.run.lock: held while run.json's index is updated
STEP_KINDS: tuple[str, ...] = ("pretrain", "scores", "pools", "al", "analysis", "labels", "exports")

def now_iso() -> str:
    """Return the current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def environment(thread_counts: list[int] | None = None) -> dict[str, str]:
    """Describe the software and hardware a step ran on, with its torch threads per process.

    ``thread_counts`` lists every count the step's processes used; more than one is recorded as
    ``torch_threads_mixed`` (a resumed step whose numbers are not bitwise reproducible).
    """
    import torch

    from alpool.rundir.step_process import current

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cuda": str(torch.cuda.is_available()),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    env.update(current())
    if thread_counts and len(thread_counts) > 1:
        env["torch_threads_mixed"] = ",".join(map(str, thread_counts))
    return env


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetRecord(_Model):
    """What the run directory remembers of its dataset."""

    spec: str
    fingerprint: str
    n_train: int
    n_test: int
    n_classes: int
    image_shape: tuple[int, int, int]
    classes: list[str]
    data_dir: str | None = None


class StepRef(_Model):
    """An entry of the run's steps index."""

    kind: str
    name: str
    finished_at: str


class RunManifest(_Model):
    """``run.json``: the run directory's identity."""

    schema_version: int = SCHEMA_VERSION
    alpool_version: str = __version__
    kind: Literal["run"] = "run"
    dataset: DatasetRecord
    seed: int
    val_fraction: ValFraction = VAL_FRACTION
    created_at: str = Field(default_factory=now_iso)
    steps: list[StepRef] = Field(default_factory=list)


class StepManifest(_Model):
    """``<kind>/<name>/manifest.json``: a finished step."""

    schema_version: int = SCHEMA_VERSION
    alpool_version: str = __version__
    kind: StepKind
    name: str
    status: Literal["complete"] = "complete"
    config: dict[str, Any]
    dataset_fingerprint: str
    inputs: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    oracle: bool = False
    started_at: str
    finished_at: str = Field(default_factory=now_iso)
    seconds: float
    environment: dict[str, str] = Field(default_factory=environment)
    summary: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)  # said through reporting.warning (older manifests: none)


# -- migrations -------------------------------------------------------------------------------

Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Migration] = {}
"""``MIGRATIONS[v]`` turns a manifest dict of schema ``v`` into schema ``v + 1``."""


def migration(from_version: int) -> Callable[[Migration], Migration]:
    """Register a named function that migrates manifests from ``from_version``."""

    def decorator(func: Migration) -> Migration:
        MIGRATIONS[from_version] = func
        return func

    return decorator


@migration(0)
def _v0_add_schema_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 0 (pre-release) had no ``alpool_version``; version 1 requires it."""
    data = dict(data)
    data.setdefault("alpool_version", "0.0.0")
    return data


@migration(1)
def _v1_add_step_warnings(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 step manifests recorded no warnings; version 2 lists them (none known: ``[]``)."""
    data = dict(data)
    if data.get("kind") != "run":
        data.setdefault("warnings", [])
    return data


def migrate(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Bring a manifest dict up to :data:`SCHEMA_VERSION` or refuse a newer one."""
    version = data.get("schema_version", 0)
    if not isinstance(version, int):
        raise SchemaError(f"{path}: schema_version {version!r} is not an integer; the file is corrupt")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path} has schema version {version}, newer than this alpool's {SCHEMA_VERSION} "
            f"(alpool {__version__}); upgrade alpool to read it"
        )
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise SchemaError(f"{path}: no migration from schema version {version}; redo the step")
        data = MIGRATIONS[version](data)
        version += 1
        data["schema_version"] = version
    return data


def read_model(path: Path, model: type[_Model]) -> Any:
    """Read, migrate and validate a JSON manifest."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path} is not valid JSON ({exc}); remove the folder and redo the step") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path} is not a JSON object; remove the folder and redo the step")
    data = migrate(data, path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise SchemaError(f"{path}: field {where!r}: {first['msg']}; remove the folder and redo the step") from None
