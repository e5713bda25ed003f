"""Every scorer through the rank stage on digits: files, hashes of what it read, oracle marking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alpool.core.config import InitPoolConfig, PretrainConfig, RankConfig
from alpool.scorers import SCORERS
from alpool.stages import init_pool, pretrain, rank

TINY = {
    "vae": {"epochs": 1, "latent_dim": 4},
    "simclr": {"epochs": 2, "batch_size": 256, "width": 8, "hidden_dim": 32, "projection_dim": 16,
               "loss_negatives": 64, "loss_views": 2},
    "scan": {"epochs": 1, "heads": 2, "neighbours": 5, "batch_size": 256},
    "proxy": {"epochs": 2, "width": 8, "batch_size": 64},
}
FAST_SCORERS = {"bald": {"passes": 3}, "consistency": {"passes": 3}, "vaal": {"epochs": 1, "latent_dim": 4, "width": 8}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rank") / "run"
    for task, params in TINY.items():
        pretrain.run(PretrainConfig(task=task, dataset="digits", params=params), root)
    return root


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


@pytest.mark.parametrize("scorer", SCORERS.names())
def test_every_scorer_writes_sorted_scores_and_records_its_inputs(run_dir: Path, scorer: str) -> None:
    params = {k: v for k, v in FAST_SCORERS.get(scorer, {}).items() if k in SCORERS.get(scorer).Params.model_fields}
    rank.run(RankConfig(scorer=scorer, params=params), run_dir)
    folder = run_dir / "scores" / scorer
    scores, order = np.load(folder / "scores.npy"), np.load(folder / "sorted_idx.npy")
    assert scores.shape == (1437,) and np.isfinite(scores).all() and scores.std() > 0
    assert (np.diff(scores[order]) <= 0).all()
    assert (folder / "histogram.png").read_bytes()[:4] == b"\x89PNG"
    record = manifest(folder)
    used = [name for name in record["inputs"] if name.startswith("pretrain/")]
    assert used and all(len(record["inputs"][name]) == 64 for name in used)  # sha256 of each file read
    proxy_based = any(name.startswith("pretrain/proxy/") for name in used)
    assert record["oracle"] == proxy_based


def test_ascending_order_is_the_reverse_in_an_easy_folder(run_dir: Path) -> None:
    rank.run(RankConfig(scorer="simclr-loss", ascending=True), run_dir)
    if not (run_dir / "scores" / "simclr-loss").exists():  # when this test runs alone
        rank.run(RankConfig(scorer="simclr-loss"), run_dir)
    hard = np.load(run_dir / "scores" / "simclr-loss" / "scores.npy")
    easy = np.load(run_dir / "scores" / "simclr-loss-easy" / "scores.npy")
    np.testing.assert_array_equal(easy, -hard)


def test_pretrain_steps_write_loss_curves_and_scan_reports_agreement(run_dir: Path) -> None:
    for task in TINY:
        assert (run_dir / "pretrain" / task / "loss.png").exists() or task == "proxy"
        assert not (run_dir / "pretrain" / task / "checkpoint.pt").exists()
    assert {"nmi_eval_only", "acc_eval_only"} <= set(manifest(run_dir / "pretrain" / "scan")["summary"])
    assert manifest(run_dir / "pretrain" / "proxy")["oracle"] is True


def test_typiclust_pool_on_simclr_embeddings(run_dir: Path) -> None:
    init_pool.run(InitPoolConfig(strategy="typiclust", budget=20, params={"embeddings": "simclr"}), run_dir)
    pools = [p for p in (run_dir / "pools").iterdir() if p.name.startswith("typiclust")]
    indices = np.load(pools[0] / "indices.npy")
    assert len(np.unique(indices)) == 20


def test_probcover_pools_report_coverage_and_share_the_cached_graph(run_dir: Path) -> None:
    init_pool.run(InitPoolConfig(strategy="probcover", budget=10, count=2, name="pc",
                                 params={"embeddings": "simclr"}), run_dir)
    infos = [manifest(run_dir / "pools" / f"pc-00{i}")["summary"]["info"] for i in (0, 1)]
    assert (infos[0]["graph_cache"], infos[1]["graph_cache"]) == ("miss", "hit")
    assert infos[1]["radius_cache"] == "hit" and infos[0]["delta"] == infos[1]["delta"]
    assert 0 < infos[0]["coverage"] <= 1 and "low_coverage" in infos[0]
    assert list((run_dir / "cache" / "probcover").glob("*.npz"))
    init_pool.run(InitPoolConfig(strategy="dcom", budget=10, params={"embeddings": "simclr"}), run_dir)
    assert manifest(run_dir / "pools" / "dcom-10")["summary"]["info"]["mode"] == "initial"
