"""The cold bench end to end on digits: random pools per label ratio, one training each, --corr.

``init-pool --strategy random --budget-ratio R --count M`` draws M pools per ratio,
``al-run --episodes 0`` trains once on each, and ``analyze --corr`` correlates pool properties
(mean vae-loss score, class coverage, class entropy) with their test accuracy per ratio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alpool.core.config import (
    ALRunConfig,
    AnalyzeConfig,
    InitPoolConfig,
    PretrainConfig,
    RankConfig,
    TrainConfig,
)
from alpool.rundir.context import open_run
from alpool.rundir.run_dir import RunDir
from alpool.stages import al_run, analyze, init_pool, pretrain, rank

RATIOS = (0.02, 0.05)
COUNT = 3
TRAIN = TrainConfig(epochs=1, batch_size=32, lr=0.05, min_steps=10, crop_padding=0, flip=False)


def test_random_pools_per_ratio_train_once_and_feed_the_correlation(tmp_path: Path) -> None:
    root = tmp_path / "run"
    pretrain.run(PretrainConfig(task="vae", dataset="digits", params={"epochs": 1, "latent_dim": 4}), root)
    rank.run(RankConfig(scorer="vae-loss"), root)
    pool = open_run(root).pool
    for ratio in RATIOS:
        init_pool.run(InitPoolConfig(strategy="random", budget_ratio=ratio, count=COUNT), root)

    run = RunDir(root)
    for ratio in RATIOS:
        budget = round(ratio * len(pool))
        members = [run.step("pools", f"random-r{ratio:g}-{i:03d}") for i in range(COUNT)]
        drawn = [m.read_array("indices.npy") for m in members]
        for indices, member in zip(drawn, members, strict=True):
            summary = member.manifest().summary
            assert summary["group"] == f"random-r{ratio:g}" and summary["budget"] == budget
            assert len(np.unique(indices)) == budget and np.isin(indices, pool).all()
        assert len({tuple(np.sort(d)) for d in drawn}) == COUNT  # a seed per member

    al_run.run(ALRunConfig(queries=["random"], episodes=0, trials=1, train=TRAIN, name="bench"), root)
    results = pd.read_csv(root / "al" / "bench" / "results.csv")
    assert len(results) == COUNT * len(RATIOS) and (results["episode"] == 0).all()
    sizes = results.set_index("pool")["n_labeled"]
    for ratio in RATIOS:
        assert (sizes.filter(like=f"-r{ratio:g}-") == round(ratio * len(pool))).all()

    analyze.run(AnalyzeConfig(curves=False, corr=True), root)
    corr = pd.read_csv(root / "analysis" / "report" / "correlation.csv")
    assert sorted(corr["n_labeled"].unique()) == [round(r * len(pool)) for r in RATIOS]
    assert (corr["n_pools"] == COUNT).all()
    vae = corr[(corr["feature"] == "score:vae-loss") & (corr["metric"] == "test_accuracy")]
    assert len(vae) == len(RATIOS) and vae["pearson_r"].between(-1, 1).all()
