"""The ``model.pt`` of a pretrain step: one typed, versioned file format, and a reader of older files.

In memory a checkpoint is the dict a pretext task returns: ``spec`` (the network's spec as a JSON
dict), ``encoder`` (how the embedding function is rebuilt: ``backbone``, the default when absent, =
``build_model(spec)``'s backbone on normalised images; ``vae-mean`` = the VAE's latent mean;
``none``) and tensors (``backbone``, ``state_dict``, ...). On disk (format version 1) it is::

    {"alpool_checkpoint": {"format": "alpool-model", "version": 1, "task": ..., "encoder": ...,
                           "spec": {...}},
     "weights": {every other entry}}

read with ``torch.load(weights_only=True)``. Files written before this format (version 0: the
task's dict as it was) are read too: their encoder kind is inferred once, here, from the entries
they hold (a ``spec`` with ``latent_dim`` is a VAE). Newer versions are refused.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from alpool.core.atomic_files import atomic_write_bytes
from alpool.core.errors import CorruptFileError, SchemaError

CHECKPOINT_VERSION = 1
HEADER = "alpool_checkpoint"
EncoderKind = Literal["backbone", "vae-mean", "none"]


class CheckpointHeader(BaseModel):
    """What a ``model.pt`` holds, readable without knowing the task that wrote it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["alpool-model"] = "alpool-model"
    version: int = CHECKPOINT_VERSION
    task: str
    encoder: EncoderKind
    spec: dict[str, Any]


def encoder_kind(checkpoint: dict[str, Any]) -> EncoderKind:
    """Return how the embedding function of an in-memory checkpoint is rebuilt (``backbone`` by default)."""
    kind = checkpoint.get("encoder", "backbone")
    if kind not in ("backbone", "vae-mean", "none"):
        raise CorruptFileError(f"checkpoint encoder {kind!r} is not one of backbone, vae-mean, none")
    return kind  # type: ignore[no-any-return]


def save_checkpoint(path: Path, task: str, checkpoint: dict[str, Any]) -> CheckpointHeader:
    """Write a task's checkpoint dict to ``path`` atomically in the current format."""
    import torch

    header = CheckpointHeader(task=task, encoder=encoder_kind(checkpoint), spec=dict(checkpoint.get("spec") or {}))
    weights = {k: v for k, v in checkpoint.items() if k not in ("spec", "encoder")}
    buffer = io.BytesIO()
    torch.save({HEADER: header.model_dump(mode="json"), "weights": weights}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return header


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read ``model.pt`` (any version) into the in-memory checkpoint dict.

    Raises:
        CorruptFileError: the file is not a readable checkpoint.
        SchemaError: it was written by a newer alpool.
    """
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise CorruptFileError(f"{path} is not a readable checkpoint ({exc}); redo the pretrain step with --force") \
            from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path} is not a checkpoint dict; redo the pretrain step with --force")
    if HEADER not in data:
        return _from_version_0(data)
    header = _header(data[HEADER], path)
    return {**data["weights"], "spec": header.spec, "encoder": header.encoder}


def _header(raw: Any, path: Path) -> CheckpointHeader:
    """Validate a stored header, refusing newer versions with a clear message."""
    version = raw.get("version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > CHECKPOINT_VERSION:
        raise SchemaError(f"{path} has checkpoint version {version}, newer than this alpool's "
                          f"{CHECKPOINT_VERSION}; upgrade alpool to read it")
    try:
        return CheckpointHeader.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CorruptFileError(f"{path}: checkpoint header field {'.'.join(map(str, first['loc']))!r}: "
                               f"{first['msg']}; redo the pretrain step with --force") from None


def _from_version_0(data: dict[str, Any]) -> dict[str, Any]:
    """Return a checkpoint written before the versioned format, with its encoder kind filled in."""
    spec = data.get("spec")
    if data.get("encoder") == "vae-mean" or (isinstance(spec, dict) and "latent_dim" in spec):
        kind: EncoderKind = "vae-mean"
    elif "spec" in data and "backbone" in data:
        kind = "backbone"
    else:
        kind = "none"
    return {**data, "encoder": kind}
