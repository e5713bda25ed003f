"""One AL episode on Fashion-MNIST-sized data: training data path, then scoring for the queries.

Data: the real Fashion-MNIST files when ``load_dataset("fashion-mnist")`` finds them, else random
60,000 x 1 x 28 x 28 uint8 images (speed does not depend on the content). Printed figures:

- train: images/s of the model's raw forward+backward+optimiser steps on ready float batches
  (no data path) against alpool's ``fit`` over the same ``--n-train`` images at the same batch size
  and optimiser (slicing device-resident uint8 tensors, batch crop/flip, uint8 -> float). The data
  path should cost under 10 % of the step time. The raw steps run in both memory layouts, NCHW and
  channels_last, because the layout alone changes the CPU speed of this model by ~20-35 % (a
  1-channel crop comes out channels_last, which then propagates): the gap to the faster layout is
  what alpool leaves on the table, the gap to the same layout is the data path.
- scoring: ``predict_proba`` over the unlabeled set (what entropy/margin/least-confidence score),
  against the raw eval forward at the same batch size; the real ``bald`` query (25 MC-dropout
  passes over ``--candidates`` images) and the ``coreset`` query (penultimate features + greedy
  k-center), each through the selector registry as ``al-run`` calls them.

Every figure is the best of ``--repeats`` runs, raw and alpool interleaved, so that other load on a
shared machine inflates neither side alone. With one CPU thread the clock is the process CPU time
(``--clock auto``), which other processes on the same cores barely change; otherwise wall time.
Defaults follow ``presets/fashion-mnist.toml``.

    python benchmarks/bench_training.py [--device cpu|cuda] [--threads 1] [--batch-size 20] [--width 16]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from alpool.core.config import TrainConfig
from alpool.core.errors import AlpoolError
from alpool.data import load_dataset
from alpool.learning.classifier import ModelClassifier
from alpool.learning.training import fit, make_optimizer, prepare, resolve_device
from alpool.models import ModelSpec, build_model
from alpool.ops.infer import autocast
from alpool.selectors import SELECTORS, SelectionContext

N_FASHION = 60_000


def fashion_sized(seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Return train images ``[60000, 1, 28, 28]`` uint8, labels ``[60000]`` and where they came from."""
    try:
        ds = load_dataset("fashion-mnist")
        return ds.train_x, ds.train_y, "fashion-mnist files"
    except AlpoolError:
        generator = torch.Generator().manual_seed(seed)
        x = torch.randint(0, 256, (N_FASHION, 1, 28, 28), dtype=torch.uint8, generator=generator)
        return x, torch.randint(0, 10, (N_FASHION,), generator=generator), "random uint8"


class Timer:
    """Best-of-N images/s with one clock (process CPU time or wall time) and device sync."""

    def __init__(self, device: torch.device, cpu_clock: bool) -> None:
        self.device = device
        self.clock: Callable[[], float] = time.process_time if cpu_clock else time.perf_counter

    def rate(self, images: int, repeats: int, fn: Callable[[], object]) -> float:
        """Return the best images/s of ``repeats`` calls of ``fn`` that each process ``images`` images."""
        best = float("inf")
        for _ in range(repeats):
            _sync(self.device)
            start = self.clock()
            fn()
            _sync(self.device)
            best = min(best, self.clock() - start)
        return images / best


def raw_train_steps(model: torch.nn.Module, cfg: TrainConfig, batches: list[torch.Tensor],
                    labels: list[torch.Tensor], device: torch.device) -> Callable[[], None]:
    """Return a function running forward+backward+optimiser steps over ready float batches.

    The batches hold the same images as the timed ``fit`` epoch, converted beforehand, so the two
    differ only by the data path. (One batch repeated would be memorised within a few hundred
    steps and would not time the same work.)
    """
    optimizer = make_optimizer(model, cfg)

    def run() -> None:
        model.train()
        for xb, yb in zip(batches, labels, strict=True):
            with autocast(device, cfg.amp):
                loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return run


def raw_forward(model: torch.nn.Module, batch: torch.Tensor, steps: int, device: torch.device) -> Callable[[], None]:
    """Return a function running ``steps`` eval forwards of one fixed float batch."""
    @torch.no_grad()
    def run() -> None:
        model.eval()
        for _ in range(steps):
            with autocast(device):
                model(batch)
    return run


def in_layout(model: torch.nn.Module, x: torch.Tensor, layout: torch.memory_format,
              device: torch.device) -> tuple[torch.nn.Module, torch.Tensor]:
    """Return ``model`` on ``device`` and float images ``x`` / 255, both in memory ``layout``."""
    return (prepare(model, device).to(memory_format=layout),
            (x.float() / 255).to(device).contiguous(memory_format=layout))


LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


def bench_train(args: argparse.Namespace, spec: ModelSpec, cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor,
                timer: Timer, device: torch.device) -> tuple[dict[str, float], float, torch.nn.Module]:
    """Return raw images/s per memory layout, alpool fit images/s, and the trained model."""
    n_train = args.n_train // args.batch_size * args.batch_size
    train_x, train_y = x[:n_train], y[:n_train]
    labels = list(train_y.to(device).split(args.batch_size))
    raw_steps = {}
    for name, layout in LAYOUTS.items():
        model, ready = in_layout(build_model(spec), train_x, layout, device)
        raw_steps[name] = raw_train_steps(model, cfg, list(ready.split(args.batch_size)), labels, device)
        raw_steps[name]()  # warm-up
    model = build_model(spec)
    fit(model, train_x[:args.batch_size * 2], train_y[:args.batch_size * 2], cfg, 0, device)  # warm-up
    raw = dict.fromkeys(LAYOUTS, 0.0)
    fit_rate = 0.0
    for _ in range(args.repeats):  # interleaved, best of each
        for name, step in raw_steps.items():
            raw[name] = max(raw[name], timer.rate(n_train, 1, step))
        fit_rate = max(fit_rate, timer.rate(n_train, 1, lambda: fit(model, train_x, train_y, cfg, 0, device)))
    return raw, fit_rate, model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--arch", default="small-cnn")
    parser.add_argument("--width", type=int, default=16, help="small-cnn width (preset: 16)")
    parser.add_argument("--batch-size", type=int, default=20, help="training batch (preset: 20)")
    parser.add_argument("--eval-batch-size", type=int, default=256, help="scoring batch (preset: 256)")
    parser.add_argument("--n-train", type=int, default=2000, help="images of each timed training epoch")
    parser.add_argument("--labeled", type=int, default=400, help="labeled images (the rest is scored)")
    parser.add_argument("--candidates", type=int, default=1000, help="bald/coreset candidate subset (preset)")
    parser.add_argument("--budget", type=int, default=100, help="images picked by the queries")
    parser.add_argument("--passes", type=int, default=25, help="bald MC-dropout passes")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many runs (full scoring pass: once)")
    parser.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                        help="auto: process CPU time with one CPU thread, else wall time")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cpu_clock = args.clock == "cpu" or (args.clock == "auto" and device.type == "cpu" and torch.get_num_threads() == 1)
    timer = Timer(device, cpu_clock)
    x, y, source = fashion_sized(0)
    cfg = TrainConfig(arch=args.arch, width=args.width, epochs=1, batch_size=args.batch_size,
                      eval_batch_size=args.eval_batch_size, crop_padding=2, flip=False)
    spec = ModelSpec(arch=args.arch, in_channels=1, image_size=28, num_classes=10, mean=(0.286,), std=(0.353,),
                     dropout=cfg.dropout, width=args.width)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    labeled, unlabeled = np.sort(order[:args.labeled]), np.sort(order[args.labeled:])
    raw, fit_rate, model = bench_train(args, spec, cfg, x, y, timer, device)

    # Scoring: raw eval forward vs predict_proba over the unlabeled set; then the real queries.
    eval_steps = max(1, 10_000 // args.eval_batch_size)
    raw_eval = {}
    for name, layout in LAYOUTS.items():
        eval_model, batch = in_layout(copy.deepcopy(model), x[:args.eval_batch_size], layout, device)
        raw_eval[name] = timer.rate(eval_steps * args.eval_batch_size, args.repeats,
                                    raw_forward(eval_model, batch, eval_steps, device))
    clf = ModelClassifier(prepare(model, device), x, device, cfg)
    proba_rate = timer.rate(len(unlabeled), 1, lambda: clf.predict_proba(unlabeled))
    candidates = np.sort(rng.choice(unlabeled, size=min(args.candidates, len(unlabeled)), replace=False))

    def query(name: str, params: dict[str, object]) -> Callable[[], object]:
        selector = SELECTORS.create(name, params)
        ctx = SelectionContext(n_total=len(x), labeled=labeled, candidates=candidates,
                               rng=np.random.default_rng(1), num_classes=10, classifier=clf, device=str(device))
        return lambda: selector(ctx, args.budget)

    bald_rate = timer.rate(len(candidates), args.repeats, query("bald", {"passes": args.passes}))
    coreset_rate = timer.rate(len(candidates), args.repeats, query("coreset", {}))

    print(f"device={device} threads={torch.get_num_threads()} clock={'cpu' if cpu_clock else 'wall'} "
          f"data={source} {tuple(x.shape)} arch={args.arch} width={args.width} batch={args.batch_size} "
          f"eval_batch={args.eval_batch_size}")
    n_train = args.n_train // args.batch_size * args.batch_size
    rows = [
        *((f"raw forward+backward+step, {name} (batches of {args.batch_size})", rate) for name, rate in raw.items()),
        (f"alpool fit ({n_train} images: slice + crop + step)", fit_rate),
        *((f"raw eval forward, {name} (batches of {args.eval_batch_size})", rate) for name, rate in raw_eval.items()),
        (f"alpool predict_proba over the {len(unlabeled):,} unlabeled", proba_rate),
        (f"bald query, {len(candidates):,} candidates x {args.passes} passes", bald_rate),
        ("  = MC forward passes (image-passes/s)", bald_rate * args.passes),
        (f"coreset query, {len(candidates):,} candidates + {len(labeled)} labeled", coreset_rate),
    ]
    print(f"{'measure':<66}{'images/s':>12}")
    for label, rate in rows:
        print(f"{label:<66}{rate:>12,.0f}")
    for what, alpool_rate, raws in (("training", fit_rate, raw), ("scoring", proba_rate, raw_eval)):
        gaps = ", ".join(f"{1 - alpool_rate / rate:.1%} vs {name}" for name, rate in raws.items())
        print(f"{what}: alpool costs {gaps} (data path target < 10%)")
    print(f"one episode's queries: predict_proba {len(unlabeled) / proba_rate:.1f} s over all unlabeled, "
          f"bald {len(candidates) / bald_rate:.1f} s, coreset {len(candidates) / coreset_rate:.1f} s")

if __name__ == "__main__":
    main()
