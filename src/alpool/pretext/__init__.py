"""Pretext tasks (``alpool pretrain --task NAME``): vae, simclr, scan, proxy, precomputed, torchvision."""

from alpool.pretext import external, proxy, scan, simclr, vae  # noqa: F401  (registers)
from alpool.pretext.base import (
    TASKS,
    PretextTask,
    PretrainArtifacts,
    PretrainContext,
    PretrainOutput,
    make_task,
)

__all__ = [
    "TASKS",
    "PretextTask",
    "PretrainArtifacts",
    "PretrainContext",
    "PretrainOutput",
    "make_task",
]
