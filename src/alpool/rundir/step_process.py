"""What a step folder records of the processes that worked on it: their torch threads and seconds.

The thread *policy* (how many threads a command uses) lives in :mod:`alpool.execution.threads`; this module is
the run directory's side: the count each process ran with, recorded in the step's manifest
(``environment.torch_threads``, ``threads_source``), and the one line said when a resumed step
would mix counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from alpool.core import reporting
from alpool.core.atomic_files import atomic_write_text

SOURCE_ENV = "ALPOOL_THREADS_SOURCE"  # where this process's thread count came from (execution.threads.apply)
PROCESS_FILE = ".process.json"  # in an unfinished step folder: earlier processes' seconds and thread counts


def current() -> dict[str, str]:
    """Return this process's thread count and its source, for a manifest's environment."""
    import torch

    return {"torch_threads": str(torch.get_num_threads()),
            "threads_source": os.environ.get(SOURCE_ENV, "torch default")}


def mixed_message(label: str, before: int, now: int) -> str:
    """Return the one line said when a resumed step would mix thread counts."""
    return (f"step {label} resumes with {now} torch thread(s) but started with {before}: its numbers will not be "
            f"bitwise identical to a run with one count (pass --threads {before} to match)")


def record_process(folder: Path, label: str, resume: bool, started: float) -> tuple[float, list[int]]:
    """Record this process in an unfinished step folder; return the earlier processes' seconds and thread counts.

    A step's ``seconds`` is the sum over the processes that worked on it: a killed process counts
    up to its last write in the folder (later work is redone). Resuming with another thread count
    is said in one line and the counts are kept for the manifest.
    """
    import torch

    path = folder / PROCESS_FILE
    earlier, counts = 0.0, []
    if resume and path.exists():
        try:
            data = json.loads(path.read_text())
            last_write = max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())
            earlier = float(data["seconds_before"]) + max(0.0, last_write - float(data["started"]))
            counts = [int(n) for n in data["threads"]]
        except (OSError, ValueError, KeyError, TypeError):
            earlier, counts = 0.0, []  # an unreadable record loses only the earlier time
    threads = torch.get_num_threads()
    if counts and threads not in counts:
        reporting.warning(mixed_message(label, counts[-1], threads))
    counts = [*counts, threads] if threads not in counts else counts
    atomic_write_text(path, json.dumps({"seconds_before": earlier, "started": started, "threads": counts}))
    return earlier, counts
