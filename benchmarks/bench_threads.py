"""The thread policy on this machine: the same digits training with 1, 2 threads and the policy.

Builds a digits run in a temporary folder (a 1-epoch VAE step creates it, then a random pool of
100), then trains ``alpool al-run --pool random-100 --episodes 0 --trials 1 --epochs E`` once per
setting, through the command line as a user would, and prints the wall time and the thread count
the step manifest recorded. On a busy machine more threads than idle cores is much slower (the
issue measured 703-957 s with 2 threads against 76-81 s with 1 on a busy 2-core machine).

    python benchmarks/bench_threads.py [--epochs 30] [--settings 1,2,policy]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def alpool(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run ``alpool ARGS -q`` in ``cwd`` and return its wall seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alpool", *args, "-q"], cwd=cwd, env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    """Print one line per thread setting: wall time, recorded threads and their source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--settings", default="1,2,policy", help="comma-separated thread counts or 'policy'")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ALPOOL_THREADS")}
    print(f"load average {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        alpool(["pretrain", "--task", "vae", "digits", "--param", "epochs=1"], cwd, env)
        alpool(["init-pool", "--strategy", "random", "--budget", "100"], cwd, env)
        for setting in args.settings.split(","):
            flags = [] if setting == "policy" else ["--threads", setting]
            name = f"threads-{setting}"
            seconds = alpool(["al-run", "--pool", "random-100", "--episodes", "0", "--trials", "1",
                              "--epochs", str(args.epochs), "--name", name, *flags], cwd, env)
            manifest = json.loads((cwd / "runs" / "digits" / "al" / name / "manifest.json").read_text())
            environment, final = manifest["environment"], manifest["summary"]["final_accuracy"]
            print(f"{setting:>7}: {seconds:6.1f} s wall, {environment['torch_threads']} thread(s) "
                  f"({environment['threads_source']}), final accuracy {max(final.values()):.3f}")


if __name__ == "__main__":
    main()
