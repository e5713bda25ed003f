"""The GPU protocol benchmark: training throughput, one [IP] CIFAR-10 AL episode, GPU selection.

Sized to finish in under 8 minutes on one GPU (``--device cuda``, the default when one is visible):

1. ResNet-18 at 32 px (the papers' classifier): training images/s of alpool's ``fit`` (device-resident
   uint8 batches, crop + flip on the device, bf16 autocast, channels_last) against a raw PyTorch
   loop over the same images as ready float batches (bf16 autocast, channels_last), batch 96. On the
   CPU (``--tiny``) both sides use alpool's CPU layout: NCHW, no autocast.
2. One [IP] CIFAR-10 AL episode on CIFAR-shaped random tensors: 5,000 labelled images trained for
   ``--epochs`` epochs (default 2), extrapolated linearly to the protocol's 200 epochs (stated in the
   output), then the query: ``predict_proba`` over the 45,000 unlabelled images (what the
   uncertainty queries score) and a core-set query on the penultimate features.
3. Selection at 50,000 x 512 on the GPU: typiclust, probcover (purity rule) and coreset, budget 1,000.
4. Peak GPU memory of the whole run.

``--tiny`` runs the same code at toy sizes on the CPU (the test suite calls it); its figures mean
nothing. Random images: throughput does not depend on content, accuracy is not reported.

    python benchmarks/bench_gpu.py [--device cuda] [--epochs 2]      nox -s bench -- gpu
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

import alpool
from alpool.core.config import TrainConfig
from alpool.learning.classifier import ModelClassifier
from alpool.learning.training import fit, make_optimizer, prepare, resolve_device
from alpool.models import ModelSpec, build_model
from alpool.ops.infer import autocast
from alpool.selectors import SELECTORS, SelectionContext

CIFAR_MEAN, CIFAR_STD = (0.491, 0.482, 0.447), (0.247, 0.244, 0.262)
PROTOCOL_EPOCHS = 200


@dataclass(frozen=True)
class Sizes:
    """How big each part runs."""

    throughput_images: int
    labeled: int
    pool: int
    select_n: int
    dim: int
    budget: int
    batch_size: int
    width: int


FULL = Sizes(throughput_images=9_600, labeled=5_000, pool=50_000, select_n=50_000, dim=512,
             budget=1_000, batch_size=96, width=64)
TINY = Sizes(throughput_images=32, labeled=32, pool=96, select_n=600, dim=16, budget=10,
             batch_size=16, width=4)


def sync(device: torch.device) -> None:
    """Wait for the device (timings of asynchronous CUDA work)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], object]) -> tuple[float, object]:
    """Return the wall seconds of ``fn()`` (device synchronised) and its result."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def cifar_like(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return random ``[n, 3, 32, 32]`` uint8 images and ``[n]`` labels in 0..9."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
            torch.randint(0, 10, (n,), generator=g))


def spec(width: int) -> ModelSpec:
    """Return the CIFAR-10 ResNet-18 spec."""
    return ModelSpec(arch="resnet18", in_channels=3, image_size=32, num_classes=10, mean=CIFAR_MEAN,
                     std=CIFAR_STD, dropout=0.5, width=width)


def train_config(sizes: Sizes, epochs: int) -> TrainConfig:
    """Return the [IP] training settings (SGD 0.025, Nesterov, wd 3e-4, cosine, batch 96)."""
    return TrainConfig(arch="resnet18", epochs=epochs, batch_size=sizes.batch_size, width=sizes.width)


def memory_format(device: torch.device) -> torch.memory_format:
    """Return alpool's input layout on ``device`` (as :func:`~alpool.learning.training.prepare` lays out models).

    channels_last on CUDA only: on the CPU it is not alpool's layout, and torch 2.14.1's fp32 conv
    backward in it segfaulted at width 4 (the ``--tiny`` model) on an AVX2-only AMD EPYC.
    """
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def raw_loop(sizes: Sizes, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    """Return images/s of a raw PyTorch training loop on ready float batches."""
    cfg = train_config(sizes, 1)
    model = prepare(build_model(spec(sizes.width)), device)  # alpool's layout: channels_last on CUDA only
    optimizer = make_optimizer(model, cfg)
    xb_all = (x.float() / 255).to(device).contiguous(memory_format=memory_format(device))
    yb_all = y.to(device)

    def epoch() -> None:
        model.train()
        for xb, yb in zip(xb_all.split(sizes.batch_size), yb_all.split(sizes.batch_size), strict=True):
            with autocast(device):
                loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    epoch()  # warm-up (cuDNN autotuning, allocator)
    seconds, _ = timed(device, epoch)
    return len(x) / seconds


def fit_rate(sizes: Sizes, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    """Return images/s of alpool's ``fit`` over the same images for one epoch."""
    cfg = train_config(sizes, 1)
    model = build_model(spec(sizes.width))
    fit(model, x[:sizes.batch_size * 2], y[:sizes.batch_size * 2], cfg, 0, device)  # warm-up
    seconds, _ = timed(device, lambda: fit(model, x, y, cfg, 0, device))
    return len(x) / seconds


def episode(sizes: Sizes, epochs: int, device: torch.device) -> dict[str, float]:
    """Return the seconds of one AL episode's parts (training measured at ``epochs``)."""
    x, y = cifar_like(sizes.pool, seed=1)
    labeled = np.arange(sizes.labeled)
    unlabeled = np.arange(sizes.labeled, sizes.pool)
    model = build_model(spec(sizes.width))
    cfg = train_config(sizes, epochs)
    train_s, _ = timed(device, lambda: fit(model, x[:sizes.labeled], y[:sizes.labeled], cfg, 0, device))
    clf = ModelClassifier(prepare(model, device), x, device, cfg)
    proba_s, _ = timed(device, lambda: clf.predict_proba(unlabeled))
    ctx = SelectionContext(n_total=sizes.pool, labeled=labeled, candidates=unlabeled,
                           rng=np.random.default_rng(0), num_classes=10, classifier=clf, device=str(device))
    coreset_s, _ = timed(device, lambda: SELECTORS.create("coreset", {})(ctx, sizes.budget))
    per_epoch = train_s / epochs
    return {"train_measured_s": train_s, "per_epoch_s": per_epoch,
            "train_200_s": per_epoch * PROTOCOL_EPOCHS, "predict_proba_s": proba_s,
            "coreset_query_s": coreset_s,
            "episode_200_s": per_epoch * PROTOCOL_EPOCHS + proba_s + coreset_s}


def selection(sizes: Sizes, device: torch.device) -> dict[str, float]:
    """Return the seconds of typiclust, probcover and coreset at ``select_n x dim`` on ``device``."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((100, sizes.dim)).astype(np.float32)
    x = centres[rng.integers(0, 100, sizes.select_n)]
    x += 0.5 * rng.standard_normal(x.shape).astype(np.float32)
    out = {}
    for strategy, params in (("typiclust", {}), ("probcover", {"pseudo_classes": 10, "max_mean_degree": 20_000}),
                             ("coreset", {})):
        seconds, _ = timed(device, lambda s=strategy, p=params: alpool.select(
            x, sizes.budget, strategy=s, device=str(device), **p))
        out[strategy] = seconds
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark, print its report and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=2, help="epochs measured (extrapolated to 200)")
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU (for the test suite)")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    device = torch.device("cpu") if args.tiny else resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    x, y = cifar_like(sizes.throughput_images, seed=0)
    raw, ours = raw_loop(sizes, x, y, device), fit_rate(sizes, x, y, device)
    ep = episode(sizes, args.epochs, device)
    sel = selection(sizes, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}{' (TINY mode: toy sizes, figures meaningless)' if args.tiny else ''}")
    layout = "bf16 autocast + channels_last" if memory_format(device) == torch.channels_last else "fp32, NCHW"
    print(f"ResNet-18 32px training, batch {sizes.batch_size}, {layout}:")
    print(f"  raw PyTorch loop  {raw:10,.0f} images/s")
    print(f"  alpool fit        {ours:10,.0f} images/s  ({ours / raw:.0%} of raw)")
    print(f"[IP] CIFAR-10 episode, {sizes.labeled:,} labelled of {sizes.pool:,} random CIFAR-shaped images:")
    print(f"  training {args.epochs} epochs measured: {ep['train_measured_s']:.1f} s "
          f"({ep['per_epoch_s']:.2f} s/epoch) -> {PROTOCOL_EPOCHS} epochs extrapolated linearly: "
          f"{ep['train_200_s'] / 60:.1f} min")
    print(f"  query: predict_proba over {sizes.pool - sizes.labeled:,} unlabelled {ep['predict_proba_s']:.1f} s, "
          f"coreset on features {ep['coreset_query_s']:.1f} s")
    print(f"  one episode at {PROTOCOL_EPOCHS} epochs: ~{ep['episode_200_s'] / 60:.1f} min (extrapolated)")
    print(f"selection at {sizes.select_n:,} x {sizes.dim}, budget {sizes.budget:,} on {device.type}: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in sel.items()))
    print(f"peak GPU memory: {peak:.2f} GiB")
    return {"raw_images_per_s": raw, "fit_images_per_s": ours, **ep, "selection_s": sel, "peak_gib": peak}


if __name__ == "__main__":
    main()
