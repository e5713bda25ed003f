"""Explicit, derived randomness: every random choice gets a generator made from named keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def derive_seed(seed: int, *keys: object) -> int:
    """Return a 63-bit seed derived from ``seed`` and any keys (trial, episode, purpose...)."""
    text = "/".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def numpy_rng(seed: int, *keys: object) -> np.random.Generator:
    """Return a numpy Generator for ``seed`` and keys."""
    return np.random.default_rng(derive_seed(seed, *keys))


def torch_generator(seed: int, *keys: object) -> torch.Generator:
    """Return a CPU torch Generator for ``seed`` and keys."""
    generator = torch.Generator()
    generator.manual_seed(derive_seed(seed, *keys))
    return generator


@contextmanager
def torch_seeded(seed: int, *keys: object) -> Iterator[None]:
    """Seed torch's global RNGs (model init, dropout) inside the block and restore them after."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed(seed, *keys))
        yield
