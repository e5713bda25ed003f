"""Where the geometry runs: resolve ``auto|cpu|cuda`` and move arrays there."""

from __future__ import annotations

import numpy as np
import torch

from alpool.core.errors import ConfigError

Device = str | torch.device | None


def resolve_device(device: Device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda[:i]`` (or a torch device, or None = cpu) into a torch device.

    Raises:
        ConfigError: CUDA was asked for but no GPU is visible.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, but no CUDA GPU is visible; use cpu or auto")
    return torch.device(device)


def as_tensor(x: np.ndarray | torch.Tensor, device: Device = None) -> torch.Tensor:
    """Return ``x`` as a contiguous float32 tensor on ``device`` (shares CPU memory when it can)."""
    if isinstance(x, torch.Tensor):
        return x.to(resolve_device(device), torch.float32).contiguous()
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    dev = resolve_device(device)
    return t if dev.type == "cpu" else t.to(dev)


def on_cpu(device: Device) -> bool:
    """Return whether ``device`` resolves to the CPU (per-pick loops then use numpy)."""
    return resolve_device(device).type == "cpu"


def to_numpy(t: torch.Tensor, dtype: type = np.float64) -> np.ndarray:
    """Return a tensor as a numpy array of ``dtype`` on the CPU."""
    return t.detach().cpu().numpy().astype(dtype, copy=False)
