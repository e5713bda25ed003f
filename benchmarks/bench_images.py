"""A photo folder through the labelling loop: wall time and peak memory of every command, before and after.

A folder of ``--n`` photo-sized JPEGs (``--width`` x ``--height``, smooth noise plus grain so they
weigh what camera JPEGs weigh) goes through the loop twice, each time in a fresh run directory:
once with the alpool found at ``--before`` (the ``src/`` of another checkout, e.g. made with
``git worktree add ../before REV``) and once with this checkout. Commands, in order:

    pretrain --task precomputed images:FOLDER --image-size S   (the first command: the run begins)
    init-pool --strategy random          export random-B        import-labels labels.csv
    next --budget 10 --folds 0 (linear probe on the precomputed embeddings)
    pretrain --task vae --epochs 1       (the first step that needs pixels)
    pretrain --task vae --epochs 1 --name vae-again   (a later step that needs pixels)

Each command runs in its own fresh interpreter under a small parent that reports the child's peak
resident memory (``getrusage(RUSAGE_CHILDREN)``). Set ``OMP_NUM_THREADS=1`` for comparable figures.

    OMP_NUM_THREADS=1 python benchmarks/bench_images.py [--n 200] [--width 4000 --height 3000]
        [--image-size 64] --before ../before/src [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MEASURE = ("import json, resource, subprocess, sys\n"
           "code = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
           "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
           "print(json.dumps({'rc': code.returncode, 'peak_mb': peak, 'err': code.stderr[-2000:]}))\n")


def make_photos(folder: Path, n: int, width: int, height: int) -> None:
    """Write ``n`` JPEGs of smooth noise with grain (kept between runs when the count and size match)."""
    from PIL import Image

    stamp = folder / ".made"
    if stamp.is_file() and stamp.read_text() == f"{n} {width} {height}":
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        smooth = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
        grain = rng.integers(-12, 13, (height, width, 3), dtype=np.int16)
        pixels = np.clip(np.asarray(smooth, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"IMG_{i:05d}.jpg", quality=90)
    stamp.write_text(f"{n} {width} {height}")


def run_command(src: Path, args: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``python -m alpool ARGS`` with ``src`` first on the path; return wall seconds and peak MB."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("ALPOOL_CACHE", None)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "alpool", *args, "-q"],
                         env=env, cwd=cwd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"alpool {' '.join(args)} failed ({src}): {result['err']}")
    return wall, result["peak_mb"]


def loop(src: Path, folder: Path, work: Path, size: int, budget: int) -> list[tuple[str, float, float]]:
    """Run the loop's commands in a fresh run directory; return ``(command, wall, peak MB)`` each."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    figures = []

    def step(label: str, *args: str) -> None:
        figures.append((label, *run_command(src, [*args, "--run-dir", str(run)], work)))

    step("pretrain precomputed (first)", "pretrain", "--task", "precomputed", "--param",
         f"file={work / 'emb.npy'}", f"images:{folder}", "--image-size", str(size))
    step("init-pool random", "init-pool", "--strategy", "random", "--budget", str(budget))
    step("export", "export", f"random-{budget}")
    with (run / "exports" / f"random-{budget}" / "to_label.csv").open() as handle:
        paths = [row["path"] for row in csv.DictReader(handle)]
    with (work / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows([p, ("cat", "dog")[i % 2]] for i, p in enumerate(paths))
    step("import-labels", "import-labels", str(work / "labels.csv"))
    step("next (linear probe)", "next", "--budget", "10", "--folds", "0")
    step("pretrain vae (first pixels)", "pretrain", "--task", "vae", "--epochs", "1")
    step("pretrain vae (later pixels)", "pretrain", "--task", "vae", "--epochs", "1", "--name", "vae-again")
    return figures


def main() -> None:
    """Print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of photos")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--before", type=Path, required=True,
                        help="src/ of another checkout to compare (git worktree add ../before REV)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "alpool-bench-images")
    args = parser.parse_args()
    after = Path(__file__).resolve().parents[1] / "src"
    folder = args.workdir / f"photos-{args.n}-{args.width}x{args.height}"
    started = time.perf_counter()
    make_photos(folder, args.n, args.width, args.height)
    megabytes = sum(p.stat().st_size for p in folder.glob("*.jpg")) / 2**20
    made = time.perf_counter() - started
    print(f"{args.n} JPEGs of {args.width}x{args.height} ({megabytes:.0f} MB) in {made:.0f} s; "
          f"--image-size {args.image_size}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    np.save(args.workdir / "emb.npy", np.random.default_rng(0).random((args.n, 32)).astype(np.float32))
    results = {}
    for label, src in (("before", args.before), ("after", after)):
        work = args.workdir / label
        work.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.workdir / "emb.npy", work / "emb.npy")
        results[label] = loop(src, folder, work, args.image_size, args.budget)
    print(f"{'command':<30} {'before s':>9} {'after s':>9} {'before MB':>10} {'after MB':>9}")
    for (name, wall0, mem0), (_, wall1, mem1) in zip(results["before"], results["after"], strict=True):
        print(f"{name:<30} {wall0:9.2f} {wall1:9.2f} {mem0:10.0f} {mem1:9.0f}")
    totals = [sum(r[1] for r in results[k]) for k in ("before", "after")]
    print(f"{'total':<30} {totals[0]:9.2f} {totals[1]:9.2f}")


if __name__ == "__main__":
    main()
