"""Files written so that a crash never leaves half of one: atomic writes, hashes, ``.npy``, locks."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from alpool.errors import CorruptFileError, LockedError


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    atomic_write_bytes(path, text.encode())


def atomic_save_array(path: Path, array: np.ndarray) -> None:
    """Save a ``.npy`` file atomically (no pickled objects)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def load_array(path: Path) -> np.ndarray:
    """Load a ``.npy`` file or raise a clear error."""
    if not path.exists():
        raise CorruptFileError(f"{path} is missing; redo the step that writes it")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"{path} is not a readable .npy file ({exc}); redo the step with --force") from None


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``path`` or raise :class:`LockedError`.

    Through ``filelock`` (``fcntl`` on POSIX, ``msvcrt`` on Windows), so ``import alpool`` works
    everywhere; the lock is released when the process dies.
    """
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise LockedError(
            f"{what} is being written by another alpool process (lock {path}); wait for it to finish"
        ) from None
    try:
        yield
    finally:
        lock.release()


def save_state(path: Path, state: dict) -> None:
    """Write a torch-saveable ``state`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path, key: dict) -> dict | None:
    """Return the state saved at ``path`` if its ``key`` entry equals ``key``; else ``None``.

    A missing, torn or foreign file gives ``None``: the caller starts over.
    """
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError):
        return None
    return state if isinstance(state, dict) and state.get("key") == key else None
