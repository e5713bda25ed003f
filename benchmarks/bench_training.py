"""Training data path: images/s of alpool's fit against the raw forward+backward of the same model.

Fashion-MNIST-sized data (60,000 x 1 x 28 x 28 uint8, random content: speed does not depend on it).
The data path (slicing device-resident tensors, batch augmentation, uint8 -> float) should cost under
10% of the step time. Also prints scoring (predict_proba) images/s.

    python benchmarks/bench_training.py [--device cpu|cuda] [--arch small-cnn] [--n 20000]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from alpool.config import TrainConfig
from alpool.models import ModelSpec, build_model
from alpool.training import autocast, fit, predict_proba, prepare, resolve_device


def raw_images_per_second(model: torch.nn.Module, batch: torch.Tensor, labels: torch.Tensor, steps: int,
                          device: torch.device) -> float:
    """Return images/s of forward+backward+SGD step on one fixed float batch (no data path)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for _ in range(2):  # warm-up
        with autocast(device):
            loss = F.cross_entropy(model(batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        with autocast(device):
            loss = F.cross_entropy(model(batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * len(batch) / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arch", default="small-cnn")
    parser.add_argument("--n", type=int, default=12000, help="train images")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()
    device = resolve_device(args.device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.n, args.channels, args.size, args.size), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 10, (args.n,), generator=generator)
    spec = ModelSpec(arch=args.arch, in_channels=args.channels, image_size=args.size, num_classes=10,
                     mean=(0.5,) * args.channels, std=(0.25,) * args.channels)
    cfg = TrainConfig(arch=args.arch, epochs=1, batch_size=args.batch_size, crop_padding=2, flip=True)

    model = prepare(build_model(spec), device)
    batch = (x[: args.batch_size].float() / 255).to(device)
    if device.type == "cuda":
        batch = batch.contiguous(memory_format=torch.channels_last)
    steps = max(5, args.n // args.batch_size)
    raw = raw_images_per_second(model, batch, y[: args.batch_size].to(device), steps, device)

    model = build_model(spec)
    fit(model, x[: args.batch_size * 2], y[: args.batch_size * 2], cfg, 0, device)  # warm-up
    _sync(device)
    start = time.perf_counter()
    fit(model, x, y, cfg, 0, device)
    _sync(device)
    alpool_rate = args.n / (time.perf_counter() - start)

    start = time.perf_counter()
    predict_proba(model, x, device, 1024)
    score_rate = args.n / (time.perf_counter() - start)

    overhead = 1 - alpool_rate / raw
    print(f"device={device} arch={args.arch} n={args.n} batch={args.batch_size} image={args.channels}x{args.size}x{args.size}")
    print(f"{'measure':<42}{'images/s':>12}")
    print(f"{'raw forward+backward (fixed batch)':<42}{raw:>12,.0f}")
    print(f"{'alpool fit (slice + crop/flip + step)':<42}{alpool_rate:>12,.0f}")
    print(f"{'alpool predict_proba (scoring)':<42}{score_rate:>12,.0f}")
    print(f"data path overhead: {overhead:.1%} (target < 10%)")


if __name__ == "__main__":
    main()
