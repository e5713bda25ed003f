"""Selector speed and memory: TypiClust, ProbCover and core-set on clustered random embeddings.

N x 512 float32 embeddings (default N = 25,000 and 50,000) drawn around 100 random centres, budget
1,000, CPU. Each (method, N) runs in its own subprocess so that its memory peak is clean: the
peak is the resident-set high-water mark *above* the memory held once the embeddings exist (the
kernel's peak counter is reset after building them; where that is impossible the whole-process
``ru_maxrss`` is shown instead). Memory should grow linearly with N: compare the two sizes.

    python benchmarks/bench_selectors.py [--n 25000 50000] [--budget 1000] [--methods typiclust ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

METHODS = ("typiclust", "probcover", "coreset")


def clustered_embeddings(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    """Return ``[n, dim]`` float32 points around ``centres`` random centres (no big temporaries)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((centres, dim), dtype=np.float32)
    spread = rng.uniform(0.3, 0.8, size=centres).astype(np.float32)
    which = rng.integers(0, centres, size=n)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= spread[which, None]
    x += means[which]
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


def worker(method: str, n: int, dim: int, budget: int, centres: int) -> dict[str, object]:
    """Run one selection and return its seconds, memory peak and method info."""
    from alpool.selectors import SelectionContext, make_selector

    x = clustered_embeddings(n, dim, centres, seed=0)

    class Inputs:
        def embeddings(self, task: str) -> np.ndarray:
            return x

    ctx = SelectionContext(n_total=n, labeled=np.empty(0, dtype=np.int64),
                           candidates=np.arange(n, dtype=np.int64), rng=np.random.default_rng(0),
                           num_classes=10, inputs=Inputs())  # type: ignore[arg-type]
    selector = make_selector(method, {})
    base_kib = _status_kib("VmRSS")
    exact = _reset_peak() and base_kib is not None
    start = time.perf_counter()
    selection = selector(ctx, budget)
    seconds = time.perf_counter() - start
    if exact:
        peak_mib = ((_status_kib("VmHWM") or 0) - (base_kib or 0)) / 1024
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keep = ("n_clusters", "algorithm", "delta", "mean_degree", "coverage", "radius_after",
            "fallback_picks")
    info = {k: v for k, v in selection.info.items() if k in keep}
    return {"method": method, "n": n, "seconds": seconds, "peak_mib": peak_mib, "peak_exact": exact,
            "data_mib": x.nbytes / 2**20, "info": info}


def run_isolated(method: str, n: int, args: argparse.Namespace) -> dict[str, object]:
    """Run :func:`worker` in a fresh interpreter and return its result."""
    command = [sys.executable, __file__, "--worker", method, "--n", str(n), "--dim", str(args.dim),
               "--budget", str(args.budget), "--centres", str(args.centres)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"method": method, "n": n, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_row(result: dict[str, object]) -> str:
    """Return one table line."""
    if "error" in result:
        return f"{result['method']:<10} {result['n']:>7}  failed: {result['error']}"
    mark = "" if result["peak_exact"] else " (ru_maxrss)"
    info = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in result["info"].items())
    return (f"{result['method']:<10} {result['n']:>7} {result['seconds']:>9.1f} "
            f"{result['peak_mib']:>10.0f}{mark} {result['data_mib']:>9.0f}  {info}")


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[25_000, 50_000], help="pool sizes")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--centres", type=int, default=100, help="clusters of the synthetic data")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.n[0], args.dim, args.budget, args.centres)))
        return
    print(f"selectors on N x {args.dim} float32 clustered embeddings ({args.centres} centres), "
          f"budget {args.budget}, CPU")
    print(f"{'method':<10} {'N':>7} {'seconds':>9} {'peak MiB':>10} {'data MiB':>9}  details")
    for method in args.methods:
        for n in args.n:
            print(format_row(run_isolated(method, n, args)), flush=True)


if __name__ == "__main__":
    main()
