"""Files written so that a crash never leaves half of one: atomic writes, hashes, ``.npy``, locks."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alpool.core import reporting
from alpool.core.errors import CorruptFileError, LockedError, NotWritableError

if TYPE_CHECKING:
    from filelock import BaseFileLock

LOCK_POLL_SECONDS = 0.1


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def temp_name(path: Path) -> Path:
    """Return this process's temporary name beside ``path`` (``.<name>.tmp-<pid>``, see :func:`remove_stale_temps`)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def replace_atomically(path: Path, fill: Callable[[Path], object], what: str = "write",
                       writable: Path | None = None) -> None:
    """Let ``fill`` write a temporary name beside ``path``, then rename it into place.

    Either the whole file arrives or none: a failure removes the temporary file and raises one line,
    ``cannot <what> <path> (reason); make <writable> writable ...`` (``writable``: the folder the user
    should fix; default ``path``'s folder).
    """
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fill(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise NotWritableError(f"cannot {what} {path} ({exc.strerror or type(exc).__name__}); make "
                               f"{writable or path.parent} writable (or free disk space) and run the command "
                               "again") from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, flush it to disk and rename it into place."""
    def fill(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    replace_atomically(path, fill)


def atomic_copy(source: Path, path: Path, writable: Path | None = None) -> None:
    """Copy ``source`` (with its metadata, as :func:`shutil.copy2`) to ``path`` through a temporary name."""
    replace_atomically(path, lambda tmp: shutil.copy2(source, tmp), "copy to", writable)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temporary files that killed processes left in ``folder`` (``.<name>.tmp-<pid>``, pid gone).

    Returns:
        The files removed. A temporary file of a live process (another command writing) is kept.
    """
    removed = []
    for tmp in folder.glob(".*.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    """Return whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


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


def read_hashed(path: Path) -> tuple[memoryview, str]:
    """Read a file once and return its bytes (a writable buffer) with their hex sha256.

    Raises:
        CorruptFileError: the file is missing.
    """
    try:
        with path.open("rb") as handle:
            data = bytearray(os.fstat(handle.fileno()).st_size)
            size = handle.readinto(data)
    except FileNotFoundError:
        raise CorruptFileError(f"{path} is missing; redo the step that writes it") from None
    view = memoryview(data)[:size]
    return view, hashlib.sha256(view).hexdigest()


def array_from_buffer(view: memoryview, path: Path) -> np.ndarray:
    """Return the ``.npy`` array held in ``view`` (read from ``path``) as a writable view, without a copy.

    Raises:
        CorruptFileError: the bytes are not a readable ``.npy`` file (no pickled objects).
    """
    try:
        header = io.BytesIO(view[:min(len(view), 1 << 16)])
        version = np.lib.format.read_magic(header)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(header)
        if dtype.hasobject:
            raise ValueError("object arrays are not loaded (no pickles)")
        count = int(np.prod(shape, dtype=np.int64))
        flat = np.frombuffer(view, dtype=dtype, count=count, offset=header.tell())
    except (OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"{path} is not a readable .npy file ({exc}); redo the step with --force") from None
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


@contextmanager
def file_lock(path: Path, what: str, wait: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; wait up to ``wait`` seconds for it, then raise.

    Through ``filelock`` (``fcntl.flock`` on POSIX, ``msvcrt`` on Windows), so ``import alpool``
    works everywhere; the lock is released when the process dies.

    Args:
        path: the lock file (created).
        what: what the lock protects, for messages ("step scores/x").
        wait: seconds to wait for another process to release the lock (0: refuse at once). While
            waiting, one message says so through :mod:`alpool.core.reporting`.

    Raises:
        LockedError: the lock is still held after ``wait`` seconds.
        NotWritableError: the lock file cannot be created (e.g. a read-only run directory).
    """
    lock = _open_lock(path)
    _acquire(lock, path, what, wait)
    try:
        yield
    finally:
        lock.release()


def _not_writable(path: Path, exc: OSError) -> NotWritableError:
    """Return the error that says why the lock file cannot be made."""
    reason = exc.strerror or type(exc).__name__
    return NotWritableError(
        f"cannot create the lock file {path} ({reason}); alpool writes into the run directory: make "
        f"{path.parent} writable or copy the run directory somewhere writable and pass it as --run-dir"
    )


def _open_lock(path: Path) -> BaseFileLock:
    """Create a lock file (checked writable) and return its lock, not yet held."""
    from filelock import FileLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.open("a").close()
    except OSError as exc:
        raise _not_writable(path, exc) from None
    return FileLock(path)


def _acquire(lock: BaseFileLock, path: Path, what: str, wait: float) -> None:
    """Take the lock, polling until ``wait`` seconds have passed."""
    from filelock import Timeout

    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            lock.acquire(timeout=0)
            return
        except Timeout:
            if time.monotonic() >= deadline:
                waited = f" (waited {wait:g} s)" if wait > 0 else ""
                raise LockedError(
                    f"{what} is being written by another alpool process{waited} (lock {path}); "
                    "wait for it to finish, then run the command again"
                ) from None
            if not told:
                reporting.info(f"waiting up to {wait:g} s for another alpool process to release {path}")
                told = True
            time.sleep(min(LOCK_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        except OSError as exc:  # after Timeout, which is an OSError too
            raise _not_writable(path, exc) from None


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
