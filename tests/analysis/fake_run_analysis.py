"""A fake but schema-correct run directory for the analysis tests (no training involved).

Steps are written through ``RunDir.writing(...).finish()`` exactly like the real stages: a pretrain
step with embeddings, two scorers, strategy pools, many random "bench" pools per ratio, an AL
experiment with learning curves, a cold-bench experiment (episode 0 only), plus an unfinished
experiment and an unfinished pool. Metrics are synthetic: accuracy grows with log(labels), a pool's
mean ``vae-loss`` score raises it, and missing classes lower it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from alpool.core.atomic_files import atomic_save_array, atomic_write_text
from alpool.rundir.manifests import DatasetRecord
from alpool.rundir.run_dir import RunDir

RESULT_COLUMNS = [
    "experiment", "pool", "init_strategy", "query", "framework", "trial", "episode", "n_labeled",
    "test_accuracy", "test_macro_auc", "val_accuracy", "n_classes_covered", "seconds",
    "seconds_train", "seconds_query", "oracle",
]


@dataclass
class FakeRun:
    """The written run and what the tests need to check it."""

    run: RunDir
    labels: np.ndarray  # [N] int64
    bench_pools: list[str]
    strategy_pools: list[str]
    experiments: list[str]  # finished ones
    unfinished: list[str]  # "kind/name"


def _class_summary(indices: np.ndarray, labels: np.ndarray, k: int) -> dict[str, Any]:
    counts = np.bincount(labels[indices], minlength=k)
    return {"class_histogram": counts.tolist(), "n_classes_covered": int((counts > 0).sum()),
            "imbalance_ratio": float(counts.min() / counts.max())}


def _write_pool(run: RunDir, name: str, indices: np.ndarray, labels: np.ndarray, k: int,
                summary: dict[str, Any], oracle: bool = False) -> None:
    config = {"strategy": summary["strategy"], "seed": summary["seed"]}
    with run.writing("pools", name, config) as w:
        w.save_array("indices.npy", indices.astype(np.int64))
        w.finish({**summary, "budget": len(indices), **_class_summary(indices, labels, k)},
                 oracle=oracle)


def _accuracy(n: int, score: float, covered: int, k: int, rng: np.random.Generator,
              offset: float = 0.0) -> float:
    value = 0.25 + 0.09 * np.log(n) + 0.4 * score - 0.05 * (k - covered) + offset
    return float(np.clip(value + rng.normal(0, 0.015), 0.05, 0.99))


def _row(experiment: str, pool: str, strategy: str, query: str, trial: int, episode: int,
         n: int, acc: float, covered: int, rng: np.random.Generator) -> dict[str, Any]:
    return {"experiment": experiment, "pool": pool, "init_strategy": strategy, "query": query,
            "framework": "supervised", "trial": trial, "episode": episode, "n_labeled": n,
            "test_accuracy": acc, "test_macro_auc": min(0.999, 0.5 + acc / 2),
            "val_accuracy": acc + rng.normal(0, 0.01), "n_classes_covered": covered,
            "seconds": 0.5, "seconds_train": 0.4, "seconds_query": 0.1, "oracle": False}


def _write_experiment(run: RunDir, name: str, rows: list[dict[str, Any]],
                      files: dict[Path, dict[str, Any]], finish: bool = True) -> None:
    with run.writing("al", name, {"name": name, "seed": 0}, resume=True) as w:
        for folder, content in files.items():
            atomic_save_array(w.path / folder / "labeled.npy", content["labeled"])
            atomic_save_array(w.path / folder / "queried.npy", content["queried"])
            atomic_write_text(w.path / folder / "metrics.json", json.dumps(content["row"]))
        table = pd.DataFrame(rows)[RESULT_COLUMNS]
        if finish:
            w.write_text("results.csv", table.to_csv(index=False))
            w.finish({"alc": {}, "jobs": len(rows)})


def build_fake_run(root: Path, n_per_class: int = 40, k: int = 4, seed: int = 0,
                   bench_sizes: tuple[int, ...] = (8, 16, 32), bench_count: int = 6,
                   trials: int = 3, episodes: int = 3, step: int = 8,
                   class_names: list[str] | None = None) -> FakeRun:
    """Write the fake run directory under ``root`` and return its description."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per_class).astype(np.int64)  # [N]
    n = len(labels)
    record = DatasetRecord(spec="blobs", fingerprint="ab" * 32, n_train=n, n_test=10 * k,
                           n_classes=k, image_shape=(1, 8, 8),
                           classes=list(class_names or [f"class {i}" for i in range(k)]))
    run = RunDir.create(root, record, seed=seed)
    centers = rng.normal(0, 4, size=(k, 16))
    emb = (centers[labels] + rng.normal(0, 1, size=(n, 16))).astype(np.float32)  # [N, 16]
    with run.writing("pretrain", "simclr", {"task": "simclr", "seed": seed}) as w:
        w.save_array("embeddings.npy", emb)
        w.finish({"epochs": 1})
    vae = rng.uniform(0, 1, size=n)  # [N]
    scores = {"vae-loss": vae, "typicality": rng.uniform(0, 1, size=n)}
    for name, values in scores.items():
        with run.writing("scores", name, {"scorer": name, "seed": seed}) as w:
            w.save_array("scores.npy", values)
            w.save_array("sorted_idx.npy", np.argsort(-values, kind="stable"))
            w.finish({"scorer": name}, oracle=name == "typicality")
    budget = bench_sizes[1]
    strategy = {
        f"ranked-vae-loss-{budget}": (np.argsort(-vae)[:budget], "ranked", {"score": "vae-loss"}),
        f"kmeans-centers-{budget}": (_balanced(labels, k, budget, rng), "kmeans-centers", {}),
        f"random-{budget}": (rng.choice(n, budget, replace=False), "random", {}),
    }
    for name, (idx, strat, params) in strategy.items():
        _write_pool(run, name, idx, labels, k, {"strategy": strat, "params": params, "seed": seed})
    bench = []
    for size in bench_sizes:
        group = f"random-r{size / n:g}"
        for i in range(bench_count):
            name = f"{group}-{i:03d}"
            idx = rng.choice(n, size, replace=False)
            _write_pool(run, name, idx, labels, k, {"strategy": "random", "params": {}, "seed": i,
                                                    "group": group, "ratio": size / n})
            bench.append(name)
    run_dir_pool = run.root / "pools" / "unfinished-pool"
    atomic_save_array(run_dir_pool / "indices.npy", np.arange(5))
    _al_main(run, labels, vae, strategy, trials, episodes, step, k, rng)
    _al_bench(run, labels, vae, bench + list(strategy), k, rng)
    _al_main(run, labels, vae, strategy, 1, 1, step, k, rng, name="crashed", finish=False)
    return FakeRun(run, labels, bench, list(strategy), ["bench", "main"],
                   ["al/crashed", "pools/unfinished-pool"])


def _balanced(labels: np.ndarray, k: int, budget: int, rng: np.random.Generator) -> np.ndarray:
    per = budget // k
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), per, replace=False)
                           for c in range(k)])


def _al_main(run: RunDir, labels: np.ndarray, vae: np.ndarray, strategy: dict[str, Any],
             trials: int, episodes: int, step: int, k: int, rng: np.random.Generator,
             name: str = "main", finish: bool = True) -> None:
    rows, files = [], {}
    offsets = {"random": 0.0, "entropy": 0.03}
    for pool, (idx, strat, params) in strategy.items():
        label = f"{strat}({params['score']})" if "score" in params else strat
        for query, offset in offsets.items():
            for trial in range(trials):
                labeled = np.asarray(idx, dtype=np.int64)
                for episode in range(episodes + 1):
                    covered = len(np.unique(labels[labeled]))
                    acc = _accuracy(len(labeled), vae[labeled].mean() - 0.5, covered, k, rng,
                                    offset * episode)
                    row = _row(name, pool, label, query, trial, episode, len(labeled), acc,
                               covered, rng)
                    queried = _query(labels, labeled, step, query, rng, episode < episodes)
                    folder = Path(f"{pool}--{query}/trial-{trial}/episode-{episode}")
                    files[folder] = {"labeled": labeled, "queried": queried, "row": row}
                    rows.append(row)
                    labeled = np.concatenate([labeled, queried])
    _write_experiment(run, name, rows, files, finish)


def _query(labels: np.ndarray, labeled: np.ndarray, step: int, query: str,
           rng: np.random.Generator, active: bool) -> np.ndarray:
    if not active:
        return np.empty(0, dtype=np.int64)
    free = np.setdiff1d(np.arange(len(labels)), labeled)
    weights = np.where(labels[free] == 0, 4.0, 1.0) if query == "entropy" else np.ones(len(free))
    return rng.choice(free, step, replace=False, p=weights / weights.sum()).astype(np.int64)


def _al_bench(run: RunDir, labels: np.ndarray, vae: np.ndarray, pools: list[str], k: int,
              rng: np.random.Generator) -> None:
    rows, files = [], {}
    for pool in pools:
        step = run.step("pools", pool)
        idx = step.read_array("indices.npy")
        summary = step.manifest().summary
        label = f"{summary['strategy']}({summary['params']['score']})" \
            if "score" in summary["params"] else summary["strategy"]
        covered = len(np.unique(labels[idx]))
        acc = _accuracy(len(idx), 2 * (vae[idx].mean() - 0.5), covered, k, rng)
        row = _row("bench", pool, label, "random", 0, 0, len(idx), acc, covered, rng)
        files[Path(f"{pool}--random/trial-0/episode-0")] = {
            "labeled": idx, "queried": np.empty(0, dtype=np.int64), "row": row}
        rows.append(row)
    _write_experiment(run, "bench", rows, files)


def assert_png(data: bytes | Path, min_kb: float = 8.0, min_px: int = 400) -> None:
    """Fail unless ``data`` is a PNG of at least ``min_kb`` KB whose pixels are not all equal."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(raw) > min_kb * 1024, f"PNG of {len(raw)} bytes is suspiciously small"
    pixels = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=float)
    assert pixels.std() > 1.0, "the image is blank"
    assert min(pixels.shape) >= min_px, f"image {pixels.shape} is smaller than {min_px} pixels"
