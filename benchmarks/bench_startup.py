"""Start-up time of the command line: ``alpool --help`` and ``alpool list datasets``.

Each command runs ``--repeats`` times in a fresh interpreter; printed are the best wall time, the
best CPU time (user + system of the child) and the peak memory. Help, list and argument errors
import no torch, scikit-learn, scipy or pandas (``tests/test_startup.py`` checks it); compare
against an older checkout by pointing ``--python-path`` at its ``src``.

    OMP_NUM_THREADS=1 python benchmarks/bench_startup.py [--repeats 5] [--python-path SRC]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["list", "datasets"], ["al-run", "--help"])


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Return wall seconds, CPU seconds and peak memory (MB) of one ``python -m alpool ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alpool", *args], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


def main() -> None:
    """Print the best-of-N start-up figures of each command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--python-path", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.python_path)}
    print(f"alpool from {args.python_path}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for command in COMMANDS:
        runs = [measure(command, env) for _ in range(args.repeats)]
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"alpool {' '.join(command):<16} wall {wall:5.2f} s  cpu {cpu:5.2f} s  peak rss <= {runs[-1][2]:.0f} MB")


if __name__ == "__main__":
    main()
