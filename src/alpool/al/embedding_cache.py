"""Embeddings of the test (and official val) split, computed once per embedding step and reused.

A linear probe needs the test images embedded by the pretext encoder; without a cache every trial
re-embedded them (about 60 s per trial on Fashion-MNIST on a CPU, for a head that trains in under a
second). The cache lives in ``cache/split-embeddings/<model.pt sha256>-<device type>/<split>.npy``
of the run directory (:meth:`alpool.rundir.run_dir.RunDir.cache_dir`): keyed by the hash of the embedding
step's weights, so a re-run pretrain never meets stale rows, and by the device type, since CUDA
runs the encoder in bfloat16. Files are written atomically; a process also keeps what it loaded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from alpool.core.atomic_files import atomic_save_array, load_array
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_files import MODEL

_LOADED: dict[str, np.ndarray] = {}


class SplitEmbeddingCache:
    """``get(task, split, device, compute)``: the cached ``[M, D]`` embeddings, computed on a miss."""

    def __init__(self, run: RunDir) -> None:
        self.run = run

    def key(self, task: str, device: torch.device) -> str:
        """Return the cache key of a pretrain step's encoder: ``<model.pt sha256>-<device type>``."""
        sha = self.run.step("pretrain", task).manifest().outputs[MODEL]
        return f"{sha}-{device.type}"

    def get(self, task: str, split: str, device: torch.device, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Return the embeddings of ``split`` by ``task``'s encoder, from the cache or ``compute()``."""
        path = self.run.cache_dir("split-embeddings", self.key(task, device)) / f"{split}.npy"
        name = str(path)
        if name not in _LOADED:
            if path.exists():
                _LOADED[name] = load_array(path)
            else:
                _LOADED[name] = np.asarray(compute(), dtype=np.float32)
                atomic_save_array(path, _LOADED[name])
        return _LOADED[name]
