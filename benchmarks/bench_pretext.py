"""Pretext and scoring speed: typicality, embedding extraction, pretraining throughput.

(a) ``typicality`` scorer maths on N x 512 float32 clustered embeddings (default N = 50,000, 100
    centres, k = 20), CPU: seconds and memory peak above the embeddings.
(b) embedding extraction (``alpool.learning.training.embed``): images/s of the small-cnn and resnet18
    backbones on random 32 x 32 x 3 uint8 images.
(c) pretraining: images/s of every registered task (``TASKS.names()``) for ``--epochs`` epochs on
    random 32 x 32 x 3 images (``proxy`` trains on a test split of the same size). The time is the
    whole ``task.run`` (training *and* the final scoring passes), so images/s = N x epochs /
    seconds understates the pure training speed. simclr (hence scan) and proxy use ``--arch``
    (default small-cnn: resnet18 pretraining is GPU work, ``--arch resnet18 --device cuda``).
    Tasks that need upstream steps (``scan`` needs ``simclr``) get them from a short untimed run
    in the same process.

Every measurement runs in its own subprocess, so its memory peak is clean: the peak is the
resident-set high-water mark above the memory held once the inputs exist (the helpers of
``bench_selectors.py``; where the counter cannot be reset, the whole-process ``ru_maxrss``).

    python benchmarks/bench_pretext.py [--parts typicality embed pretrain] [--typicality-n 50000]
        [--embed-n 500] [--pretrain-n 1000] [--epochs 1] [--arch small-cnn] [--device cpu]
        [--tasks vae simclr ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_selectors import _reset_peak, _status_kib, clustered_embeddings

PARTS = ("typicality", "embed", "pretrain")
EMBED_ARCHS = ("small-cnn", "resnet18")
# Short-run options per task (speed only: what the models learn does not matter). The contrastive
# backbone is ``--arch`` (scan inherits simclr's); the per-image simclr loss uses fewer negatives.
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    "vae": {"batch_size": 200},
    "simclr": {"batch_size": 256, "loss_views": 2, "loss_negatives": 512},
    "scan": {"batch_size": 128},
    "proxy": {"batch_size": 96},
}
ARCH_TASKS = ("simclr", "proxy")  # tasks with an ``arch`` option set from --arch


class Peak:
    """Measure seconds and the memory peak of a block (above the memory at its start)."""

    def __enter__(self) -> Peak:
        self.base_kib = _status_kib("VmRSS")
        self.exact = _reset_peak() and self.base_kib is not None
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
        if self.exact:
            self.peak_mib = ((_status_kib("VmHWM") or 0) - (self.base_kib or 0)) / 1024
        else:
            self.peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def typicality_worker(n: int, dim: int, k: int, centres: int) -> dict[str, Any]:
    """Time the typicality scores of ``n`` clustered points."""
    from alpool.scorers.typicality import typicality_scores

    x = clustered_embeddings(n, dim, centres, seed=0)
    with Peak() as peak:
        scores = typicality_scores(x, k)
    return {"what": f"typicality k={k}", "n": n, "seconds": peak.seconds, "peak_mib": peak.peak_mib,
            "exact": peak.exact, "detail": f"data {x.nbytes / 2**20:.0f} MiB, finite {bool(np.isfinite(scores).all())}"}


def random_images(n: int, seed: int) -> torch.Tensor:
    """Return ``[n, 3, 32, 32]`` random uint8 images."""
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def embed_worker(arch: str, n: int, device: str) -> dict[str, Any]:
    """Time backbone feature extraction of ``n`` images (after a warm-up batch)."""
    from alpool.learning.training import embed, prepare, resolve_device
    from alpool.models import ModelSpec, build_model

    dev = resolve_device(device)
    spec = ModelSpec(arch=arch, in_channels=3, image_size=32, num_classes=10, mean=(0.5,) * 3, std=(0.25,) * 3)
    model = prepare(build_model(spec), dev)
    x = random_images(n, seed=1)
    embed(model, x[:64], dev, 256)
    with Peak() as peak:
        feats = embed(model, x, dev, 256)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    return {"what": f"embed {arch}", "n": n, "seconds": peak.seconds, "peak_mib": peak.peak_mib,
            "exact": peak.exact, "rate": n / peak.seconds, "detail": f"{feats.shape[1]}-d features, {dev}"}


class _Step:
    """A finished pretrain step held in memory (upstream of another task)."""

    def __init__(self, name: str, arrays: dict[str, np.ndarray], checkpoint: dict[str, Any],
                 summary: dict[str, Any]) -> None:
        self.name, self.arrays, self.ckpt, self.info = name, arrays, checkpoint, summary

    def array(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def checkpoint(self) -> dict[str, Any]:
        return self.ckpt

    def summary(self) -> dict[str, Any]:
        return self.info


def pretrain_worker(task: str, n: int, epochs: int, device: str, arch: str) -> dict[str, Any]:
    """Time ``task.run`` on ``n`` random images for ``epochs`` epochs (upstream steps untimed)."""
    from alpool.data.base import Dataset
    from alpool.learning.training import resolve_device
    from alpool.pretext import TASKS, PretrainContext

    dev = resolve_device(device)
    labels = torch.arange(n) % 10
    data = Dataset("random", random_images(n, 2), labels, random_images(n, 3), labels.clone(),
                   tuple(f"c{i}" for i in range(10)))
    steps: dict[str, _Step] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-pretext-"))

    def context(name: str) -> PretrainContext:
        return PretrainContext(dataset=data, pool=np.arange(n, dtype=np.int64), val=np.empty(0, np.int64),
                               device=dev, seed=0, workdir=workdir / name, upstream=lambda t: steps[t])

    def options(name: str, count: int) -> dict[str, Any]:
        chosen = {"arch": arch} if name in ARCH_TASKS else {}
        return {**TASK_OPTIONS.get(name, {}), **chosen, "epochs": count}

    for upstream in TASKS.get(task).requires:
        out = TASKS.create(upstream, options(upstream, 1)).run(context(upstream))
        steps[upstream] = _Step(upstream, out.arrays, out.checkpoint, out.summary)
    runner = TASKS.create(task, options(task, epochs))
    with Peak() as peak:
        out = runner.run(context(task))
    spec = out.checkpoint.get("spec")
    arch = spec.get("arch", "-") if isinstance(spec, dict) else "-"
    return {"what": f"pretrain {task}", "n": n, "seconds": peak.seconds, "peak_mib": peak.peak_mib,
            "exact": peak.exact, "rate": n * epochs / peak.seconds,
            "detail": f"{epochs} epoch(s), arch {arch}, {dev}, includes scoring passes"}


def run_isolated(kind: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one worker in a fresh interpreter and return its JSON result."""
    command = [sys.executable, __file__, "--worker", kind, name, "--typicality-n", str(args.typicality_n),
               "--dim", str(args.dim), "--k", str(args.k), "--centres", str(args.centres),
               "--embed-n", str(args.embed_n), "--pretrain-n", str(args.pretrain_n),
               "--epochs", str(args.epochs), "--device", args.device, "--arch", args.arch]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"what": f"{kind} {name}", "error": last}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def format_row(result: dict[str, Any]) -> str:
    """Return one table line."""
    if "error" in result:
        return f"{result['what']:<22} failed: {result['error']}"
    mark = "" if result["exact"] else " (ru_maxrss)"
    rate = f"{result['rate']:>10.0f}" if "rate" in result else f"{'-':>10}"
    return (f"{result['what']:<22} {result['n']:>7} {result['seconds']:>9.2f} {rate} "
            f"{result['peak_mib']:>9.0f}{mark}  {result['detail']}")


def worker(kind: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Dispatch one measurement (in the worker process)."""
    workers = {
        "typicality": lambda: typicality_worker(args.typicality_n, args.dim, args.k, args.centres),
        "embed": lambda: embed_worker(name, args.embed_n, args.device),
        "pretrain": lambda: pretrain_worker(name, args.pretrain_n, args.epochs, args.device, args.arch),
    }
    return workers[kind]()


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--typicality-n", type=int, default=50_000, help="points of the typicality run")
    parser.add_argument("--dim", type=int, default=512, help="embedding size of the typicality run")
    parser.add_argument("--k", type=int, default=20, help="typicality neighbours")
    parser.add_argument("--centres", type=int, default=100, help="clusters of the synthetic embeddings")
    parser.add_argument("--embed-n", type=int, default=500, help="images embedded per backbone")
    parser.add_argument("--pretrain-n", type=int, default=1000, help="random images per pretext task")
    parser.add_argument("--arch", default="small-cnn", help="backbone of simclr (and so scan) and proxy")
    parser.add_argument("--epochs", type=int, default=1, help="pretraining epochs per task")
    parser.add_argument("--tasks", nargs="+", default=None, help="pretext tasks (default: every registered)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (typicality always runs on CPU)")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args)))
        return
    from alpool.pretext import TASKS

    print(f"pretext / scoring benchmark, device {args.device}, torch threads {torch.get_num_threads()}")
    print(f"{'measurement':<22} {'N':>7} {'seconds':>9} {'images/s':>10} {'peak MiB':>9}  details")
    plan: list[tuple[str, str]] = []
    if "typicality" in args.parts:
        plan.append(("typicality", "scores"))
    if "embed" in args.parts:
        plan += [("embed", arch) for arch in EMBED_ARCHS]
    if "pretrain" in args.parts:
        plan += [("pretrain", task) for task in (args.tasks or TASKS.names())]
    for kind, name in plan:
        print(format_row(run_isolated(kind, name, args)), flush=True)


if __name__ == "__main__":
    main()
