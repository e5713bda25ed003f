"""One batched inference loop: eval-time passes of a model over images, on the run's device."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from alpool.data.augment import to_float


def autocast(device: torch.device, enabled: bool = True) -> Any:
    """Return bfloat16 autocast on CUDA, a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def batch_slices(n: int, batch_size: int) -> list[torch.Tensor]:
    """Split ``range(n)`` into consecutive batches, never leaving a last batch of one."""
    parts = list(torch.arange(n).split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2] = torch.cat(parts[-2:])
        parts.pop()
    return parts


@torch.no_grad()
def infer(fn: Callable[[torch.Tensor], torch.Tensor | tuple[torch.Tensor, ...]], images: torch.Tensor,
          device: torch.device, batch_size: int,
          prepare: Callable[[torch.Tensor], torch.Tensor] = to_float) -> tuple[torch.Tensor, ...]:
    """Run ``fn`` over ``images`` in batches and return its outputs, concatenated, float32 on the CPU.

    Each batch is moved to ``device``, turned into model input by ``prepare`` (uint8 -> [0, 1]
    float by default) and passed to ``fn`` under bfloat16 autocast on CUDA. The caller sets the
    model's mode (``training.eval_mode``). ``fn`` may return one tensor or a tuple of tensors.
    """
    outs: list[list[torch.Tensor]] = []
    for idx in batch_slices(len(images), batch_size):
        xb = prepare(images[idx.to(images.device)].to(device))
        with autocast(device):
            result = fn(xb)
        parts = result if isinstance(result, tuple) else (result,)
        if not outs:
            outs = [[] for _ in parts]
        for store, part in zip(outs, parts, strict=True):
            store.append(part.float().cpu())
    return tuple(torch.cat(store) for store in outs)


def in_chunks(indices: np.ndarray, chunk_size: int,
              fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to consecutive chunks of ``indices`` and concatenate the results."""
    parts = [fn(indices[i:i + chunk_size]) for i in range(0, len(indices), chunk_size)]
    return np.concatenate(parts) if parts else np.empty(0)
