"""Run an alpool command that kills itself with SIGKILL at its k-th file write (a real kill -9 at a known moment).

Usage: ``python tests/kill_driver.py ARGS...`` with ``ALPOOL_KILL_AT=k`` and ``ALPOOL_KILL_MODE``:

- ``after``: the k-th file is in place, the process dies before anything else;
- ``torn``: the k-th file's temporary copy is half written and not renamed (a kill inside the write).

``ALPOOL_KILL_AT=0`` never kills; ``ALPOOL_WRITES_FILE`` then receives the number of writes, so a
test knows the moments a command has. Every file alpool writes goes through
``alpool.core.atomic_files.atomic_write_bytes``, which this wraps before the CLI is imported.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path

from alpool.core import atomic_files

KILL_AT = int(os.environ.get("ALPOOL_KILL_AT", "0"))
MODE = os.environ.get("ALPOOL_KILL_MODE", "after")
writes = 0
original = atomic_files.atomic_write_bytes


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def counting_write(path: Path, data: bytes) -> None:
    """Write as alpool does, dying at the chosen write."""
    global writes
    writes += 1
    if writes == KILL_AT and MODE == "torn":
        tmp = atomic_files.temp_name(path)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data[: len(data) // 2])
        _die()
    original(path, data)
    if writes == KILL_AT:
        _die()


def _report() -> None:
    target = os.environ.get("ALPOOL_WRITES_FILE")
    if target:
        Path(target).write_text(str(writes))


atomic_files.atomic_write_bytes = counting_write
atexit.register(_report)

from alpool.cli import app  # noqa: E402  (after the patch: modules bind the wrapped function)

if __name__ == "__main__":
    sys.argv[0] = "alpool"
    app()
