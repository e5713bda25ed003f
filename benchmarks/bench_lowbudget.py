"""A low-budget cold-start study on Fashion-MNIST that runs on a laptop CPU.

Random vs TypiClust vs ProbCover vs DCoM vs MaxHerding initial pools at 10, 20 and 50 labels (and
``maxherding-all``: MaxHerding's kernel on every point, ``subsample=false``, the reference its seeded
sample is measured against),
``--count`` pools per strategy, each trained once (``al-run --episodes 0``) with a linear probe on
the run's own VAE embeddings and ``--validation none`` (fixed schedule, last epoch: no held-out
labels a real study would lack). Prints per strategy and budget the test accuracy (mean +- std
over pools), the classes covered, how many of the pools differ (a selector that ignores the seed
gives one pool ``--count`` times), the wall time of every step, and the linear probe's per-trial
time with a cold test-split cache and a warm one.

Every step is resumable: with ``--run-dir`` a rerun keeps the finished pretrain, pools and
per-strategy experiments (``al/bench-<strategy>``) and computes only what is missing.

By default the train split is all 60,000 images; ``--subsample N`` uses a stratified, seeded
subsample (registered in this process as the dataset ``fashion-mnist-sub:N``); the test split is
always the full 10,000 images. Needs the Fashion-MNIST IDX files (``apt-get install
dataset-fashion-mnist`` puts them where the loader looks, or ``--data-dir``).

    OMP_NUM_THREADS=2 python benchmarks/bench_lowbudget.py --threads 2 [--subsample 0] [--count 5]
    nox -s bench -- lowbudget --threads 2 --run-dir runs/lowbudget
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alpool.core.config import ALRunConfig, InitPoolConfig, PretrainConfig
from alpool.core.errors import AlreadyFinishedError
from alpool.core.seeding import numpy_rng
from alpool.data import DATASETS, load_dataset
from alpool.data.base import Dataset, DataSource
from alpool.stages import al_run, init_pool, pretrain

VAE = {"embeddings": "vae"}
# row of the table -> (selector, its params); maxherding-all is MaxHerding's kernel on every point
# (subsample=false), the default before the sample, kept as the reference it is measured against
STRATEGIES: dict[str, tuple[str, dict[str, object]]] = {
    "random": ("random", {}), "typiclust": ("typiclust", VAE), "probcover": ("probcover", VAE),
    "dcom": ("dcom", VAE), "maxherding": ("maxherding", VAE),
    "maxherding-all": ("maxherding", {**VAE, "subsample": False}),
}


def _subsample(source: DataSource) -> Dataset:
    """Fashion-MNIST with a stratified seeded subsample of ``arg`` train images (full test split)."""
    full = load_dataset("fashion-mnist", source.root)
    n = int(source.arg or 10000)
    labels = full.train_y.numpy()
    rng = numpy_rng(0, "subsample")
    per_class = n // full.num_classes
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == k), per_class, replace=False)
                                   for k in range(full.num_classes)]))
    return full.subset_train(keep, name="fashion-mnist-sub")


def main() -> None:
    """Run the study and print its table and timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsample", type=int, default=0, help="train images (0: all 60,000)")
    parser.add_argument("--vae-epochs", type=int, default=5)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--count", type=int, default=5, help="pools per strategy and budget")
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    DATASETS.add("fashion-mnist-sub", _subsample, "Fashion-MNIST, stratified train subsample (benchmark)")
    spec = f"fashion-mnist-sub:{args.subsample}" if args.subsample else "fashion-mnist"
    root = args.run_dir or Path(tempfile.mkdtemp(prefix="alpool-lowbudget-")) / "run"
    clock: dict[str, float] = {}
    started = time.perf_counter()
    with contextlib.suppress(AlreadyFinishedError):  # a resumed study keeps every finished step
        pretrain.run(PretrainConfig(task="vae", dataset=spec, data_dir=args.data_dir,
                                    params={"epochs": args.vae_epochs, "latent_dim": args.latent_dim}), root)
    clock["pretrain vae"] = time.perf_counter() - started
    for strategy in args.strategies:
        t0 = time.perf_counter()
        for budget in args.budgets:
            selector, params = STRATEGIES[strategy]
            with contextlib.suppress(AlreadyFinishedError):
                init_pool.run(InitPoolConfig(strategy=selector, budget=budget, count=args.count,
                                             params=params, name=f"{strategy}{budget}"), root)
        clock[f"init-pool {strategy}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with contextlib.suppress(AlreadyFinishedError):
            al_run.run(ALRunConfig(pools=[f"{strategy}{b}-*" for b in args.budgets], episodes=0, trials=1,
                                   framework="linear-probe", framework_params={"embeddings": "vae"},
                                   validation="none", name=f"bench-{strategy}"), root)
        clock[f"al-run {strategy}"] = time.perf_counter() - t0
    clock["total"] = time.perf_counter() - started
    report(root, clock, args)


def report(root: Path, clock: dict[str, float], args: argparse.Namespace) -> None:
    """Print the accuracy table, the step times and the probe's per-trial times."""
    results = pd.concat([pd.read_csv(root / "al" / f"bench-{s}" / "results.csv").assign(strategy=s)
                         for s in args.strategies])
    results["distinct"] = [pool_key(root, pool) for pool in results["pool"]]
    table = results.groupby(["n_labeled", "strategy"], sort=False).agg(
        pools=("pool", "nunique"), distinct=("distinct", "nunique"), acc_mean=("test_accuracy", "mean"),
        acc_std=("test_accuracy", "std"), classes_mean=("n_classes_covered", "mean"),
        classes_min=("n_classes_covered", "min")).sort_index(level=0, sort_remaining=False)
    print(f"\nFashion-MNIST ({args.subsample or 60000} train images, 10,000 test), VAE {args.vae_epochs} epochs "
          f"latent {args.latent_dim}, linear probe, --validation none, {args.threads} thread(s)")
    print("| labels | strategy | pools (distinct) | test accuracy | classes covered (min) |")
    print("|---:|---|---:|---:|---:|")
    for (n, strategy), row in table.iterrows():
        print(f"| {n} | {strategy} | {int(row.pools)} ({int(row.distinct)}) | {row.acc_mean:.3f} +- "
              f"{row.acc_std:.3f} | {row.classes_mean:.1f} ({int(row.classes_min)}) |")
    print("\nwall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in clock.items()))
    first = json.loads((root / "al" / f"bench-{args.strategies[0]}" / "manifest.json").read_text())
    ran = {pool: i for i, pool in enumerate(first["config"]["pools"])}  # the order its trials ran in
    mine = results[results["pool"].isin(list(ran))]
    order = mine.sort_values("pool", key=lambda p: p.map(ran))["seconds_train"].to_numpy()
    print(f"linear probe per trial (s): first trial (embeds the test split: the time of every trial "
          f"before the cache) {order[0]:.2f}; later trials (cache hit) median {np.median(order[1:]):.2f}, "
          f"max {order[1:].max():.2f}")


def pool_key(root: Path, pool: str) -> bytes:
    """Return a pool's indices as bytes (pools with the same picks have the same key)."""
    return np.sort(np.load(root / "pools" / pool / "indices.npy")).tobytes()


if __name__ == "__main__":
    main()
