"""Helpers shared by the pretext tasks: validation hold-out, resume checkpoints, weight copies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alpool.core import reporting
from alpool.core.atomic_files import load_state, save_state
from alpool.core.seeding import numpy_rng
from alpool.pretext.base import PretrainContext

RESUME_FILE = "checkpoint.pt"


def holdout_split(
    ctx: PretrainContext, fraction: float, key: str, min_pool: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(train, val)`` train indices for a task's own early stopping.

    Uses the run's validation indices ``ctx.val`` when there are any; otherwise holds out
    ``fraction`` of ``ctx.pool`` (seeded by ``key``), or nothing for pools under ``min_pool``.
    """
    pool = np.asarray(ctx.pool, dtype=np.int64)
    if len(ctx.val):
        return pool, np.asarray(ctx.val, dtype=np.int64)
    n_val = int(round(fraction * len(pool)))
    if len(pool) < min_pool or n_val == 0:
        return pool, np.empty(0, dtype=np.int64)
    order = numpy_rng(ctx.seed, key, "holdout").permutation(len(pool))
    return np.sort(pool[order[n_val:]]), np.sort(pool[order[:n_val]])


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Return a detached CPU copy of ``model.state_dict()``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def resume_key(task: str, params: Any, seed: int, n_train: int) -> dict[str, Any]:
    """Return what a resume checkpoint must match to be reused (task, options, seed, data size)."""
    return {
        "task": task,
        "params": params.model_dump(mode="json"),
        "seed": seed,
        "n_train": n_train,
    }


def load_resume(workdir: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """Return the state in ``workdir/checkpoint.pt`` if it was made with ``key``, else ``None``."""
    return load_state(Path(workdir) / RESUME_FILE, key)


def save_resume(workdir: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``workdir/checkpoint.pt`` atomically (temporary name, then rename)."""
    save_state(Path(workdir) / RESUME_FILE, state)


def generator_state(generator: torch.Generator) -> torch.Tensor:
    """Return a copy of a generator's state (saveable)."""
    return generator.get_state().clone()


def snapshot(objects: dict[str, Any]) -> dict[str, Any]:
    """Return the saveable state of modules, optimisers and generators, by name."""
    out: dict[str, Any] = {}
    for name, obj in objects.items():
        if isinstance(obj, nn.Module):
            out[name] = cpu_state(obj)
        elif isinstance(obj, torch.Generator):
            out[name] = generator_state(obj)
        else:
            out[name] = obj.state_dict()
    return out


def restore(objects: dict[str, Any], state: dict[str, Any]) -> None:
    """Load what :func:`snapshot` saved back into the same objects."""
    for name, obj in objects.items():
        if isinstance(obj, torch.Generator):
            obj.set_state(state[name])
        else:
            obj.load_state_dict(state[name])


def run_epochs(name: str, workdir: Path, key: dict[str, Any], stateful: dict[str, Any], epochs: int,
               one_epoch: Callable[[int, list[dict[str, Any]]], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``one_epoch(epoch, history)`` for every epoch not yet done; return the full history.

    Resumes from ``workdir/checkpoint.pt`` when it was made with ``key`` (restoring ``stateful``:
    modules, optimisers, generators, anything with ``state_dict``), and saves it after every
    epoch, so a killed run continues where it stopped and ends as an uninterrupted one.
    """
    history: list[dict[str, Any]] = []
    start = 0
    state = load_resume(workdir, key)
    if state is not None:
        restore(stateful, state)
        history, start = list(state["history"]), int(state["epoch"])
        reporting.info(f"{name}: resuming after epoch {start}")
    with reporting.task(f"pretrain {name}", epochs) as progress:
        progress.advance(start)
        for epoch in range(start, epochs):
            record = one_epoch(epoch, history)
            history.append({"epoch": float(epoch), **record})
            save_resume(workdir, {"key": key, "epoch": epoch + 1, "history": history, **snapshot(stateful)})
            progress.advance(status=f"loss {record['loss']:.3f}")
    return history
