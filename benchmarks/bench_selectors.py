"""Selector geometry against the best peer implementations: time, memory, growth, agreement.

N x 512 float32 points drawn around 100 random centres and L2-normalised, budget 1,000, CPU.
For every method and N, alpool and its peer (``selector_peers.py``: faiss-cpu where installed,
else scikit-learn / numpy) run interleaved, each in a fresh interpreter so that its memory peak is
clean, ``--repeats`` times; the table shows the minimum CPU seconds (``--clock cpu``, all threads
of the process: robust on a shared machine; ``--clock wall`` for elapsed time) of each, the ratio alpool / peer,
the peak resident memory above the data (MiB), the growth exponent fitted to the minima over N
(time ~ N^e), and whether the outputs agree (same picks, same radius, same neighbour sets).

    python benchmarks/bench_selectors.py [--n 12500 25000 50000 100000] [--methods kcenter ...]
    nox -s bench -- selectors --n 2000 4000      (a small run)

Set OMP_NUM_THREADS / MKL_NUM_THREADS to fix the threads of both sides; the header prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from selector_peers import BUDGET, ENTRIES, agreement, peer_name  # noqa: E402

SIZES = (12_500, 25_000, 50_000, 100_000)


def clustered_embeddings(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    """Return ``[n, dim]`` float32 unit-norm points around ``centres`` random centres."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, dim), dtype=np.float32)
    spread = rng.uniform(0.3, 0.8, size=centres).astype(np.float32)
    which = rng.integers(0, centres, size=n)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= spread[which, None]
    x += means[which]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _status_kib(field: str) -> int | None:
    """Return a ``/proc/self/status`` memory field in KiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's resident-set high-water mark; return whether that worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def worker(method: str, side: str, n: int, dim: int, budget: int, out: str) -> dict[str, object]:
    """Run one side of one method; pickle its output to ``out``; return seconds and peak MiB."""
    import alpool.ops  # noqa: F401  (imports happen before the clock and the memory baseline)
    import alpool.select_api  # noqa: F401
    import alpool.selectors  # noqa: F401

    x = clustered_embeddings(n, dim, 100, seed=0)
    ours, peer, _ = ENTRIES[method]
    fn = ours if side == "alpool" else peer
    base = _status_kib("VmRSS")
    exact = _reset_peak() and base is not None
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(x, budget)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = ((_status_kib("VmHWM") or 0) - (base or 0)) / 1024 if exact else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_bytes(pickle.dumps(result))
    return {"seconds": seconds, "cpu": cpu, "peak_mib": peak}


def run_isolated(method: str, side: str, n: int, args: argparse.Namespace, out: Path) -> dict[str, float]:
    """Run :func:`worker` in a fresh interpreter and return its measurements."""
    command = [sys.executable, __file__, "--worker", method, side, str(out), "--n", str(n),
               "--dim", str(args.dim), "--budget", str(args.budget)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method}/{side} at N={n} failed: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(method: str, n: int, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    """Return min seconds, max peak and the agreement of both sides, interleaved repeats."""
    best = {"alpool": float("inf"), "peer": float("inf")}
    peak = {"alpool": 0.0, "peer": 0.0}
    outputs = {}
    for rep in range(args.repeats):
        sides = ("alpool", "peer") if rep % 2 == 0 else ("peer", "alpool")
        for side in sides:
            out = tmp / f"{method}-{side}-{n}.pkl"
            m = run_isolated(method, side, n, args, out)
            best[side] = min(best[side], m["cpu" if args.clock == "cpu" else "seconds"])
            peak[side] = max(peak[side], m["peak_mib"])
            outputs[side] = pickle.loads(out.read_bytes())
    return {"method": method, "n": n, "alpool": best["alpool"], "peer": best["peer"],
            "ratio": best["alpool"] / best["peer"], "peak_alpool": peak["alpool"],
            "peak_peer": peak["peer"], "agree": agreement(method, outputs["alpool"], outputs["peer"])}


def growth(rows: list[dict[str, object]], side: str) -> float:
    """Return the exponent e of a least-squares fit time ~ N^e (nan with one size)."""
    if len(rows) < 2:
        return float("nan")
    n = np.log([float(r["n"]) for r in rows])  # type: ignore[arg-type]
    t = np.log([max(float(r[side]), 1e-6) for r in rows])  # type: ignore[arg-type]
    return float(np.polyfit(n, t, 1)[0])


def main() -> None:
    """Print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=list(SIZES), help="pool sizes")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs; the minimum counts")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: CPU seconds of the process, all threads (robust on a shared machine); wall")
    parser.add_argument("--methods", nargs="+", default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, side, out = args.worker
        print(json.dumps(worker(method, side, args.n[0], args.dim, args.budget, out)))
        return
    threads = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"selectors: N x {args.dim} float32 (100 centres, L2-normalised), budget {args.budget}, CPU, "
          f"min of {args.repeats} interleaved, {args.clock} seconds; peer: {peer_name()}; threads {threads}")
    print(f"{'method':<10} {'N':>7} {'alpool s':>9} {'peer s':>8} {'ratio':>6} "
          f"{'alpool MiB':>10} {'peer MiB':>9}  agreement")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            rows = []
            for n in args.n:
                r = measure(method, n, args, Path(tmp))
                rows.append(r)
                print(f"{method:<10} {n:>7} {r['alpool']:>9.2f} {r['peer']:>8.2f} {r['ratio']:>6.2f} "
                      f"{r['peak_alpool']:>10.0f} {r['peak_peer']:>9.0f}  {r['agree']}", flush=True)
            print(f"{method:<10} growth exponent: alpool {growth(rows, 'alpool'):.2f}, "
                  f"peer {growth(rows, 'peer'):.2f}  ({ENTRIES[method][2]})", flush=True)


if __name__ == "__main__":
    main()
