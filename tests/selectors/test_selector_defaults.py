"""Every selector runs with its defaults on the embeddings a pretrain step makes (a tiny VAE on digits).

Issue 21: DCoM's constant initial radius refused the VAE embeddings of Fashion-MNIST ("mean degree
above 2496"). Here each initial-pool selector runs through ``init-pool`` and each query through
``al-run`` with only the options that name its inputs (which embeddings, which scorer); nothing may
refuse. DCoM's radii travel between AL episodes in the episode folders.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alpool.core.config import ALRunConfig, InitPoolConfig, PretrainConfig, RankConfig, TrainConfig
from alpool.core.errors import AlpoolWarning
from alpool.rundir.trial_dirs import TrialFolder
from alpool.selectors import SELECTORS, init_pool_names
from alpool.stages import al_run, init_pool, pretrain, rank

FAST = TrainConfig(epochs=1, batch_size=32, lr=0.05, min_steps=5)
INPUTS = {"cluster-quota": {"clusters": "kmeans"}, "cluster-round-robin": {"score": "vae-loss"},
          "ranked": {"score": "vae-loss"}}  # inputs a digits run has (no SCAN clusters, no SimCLR scores)


def inputs_of(name: str) -> dict[str, Any]:
    """Return the options naming the run's inputs: the VAE's embeddings, its loss as the score."""
    fields = SELECTORS.get(name).Params.model_fields
    return {**({"embeddings": "vae"} if "embeddings" in fields else {}), **INPUTS.get(name, {})}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits run with a 2-epoch VAE (latent 8), its vae-loss scores and a random pool of 20."""
    root = tmp_path_factory.mktemp("defaults") / "run"
    pretrain.run(PretrainConfig(task="vae", dataset="digits", params={"epochs": 2, "latent_dim": 8}), root)
    rank.run(RankConfig(scorer="vae-loss"), root)
    init_pool.run(InitPoolConfig(strategy="random", budget=20, name="start"), root)
    return root


@pytest.mark.parametrize("name", init_pool_names())
def test_every_initial_pool_selector_runs_with_its_defaults(run_dir: Path, name: str) -> None:
    for budget in (10, 100):
        manifest = init_pool.run(InitPoolConfig(strategy=name, budget=budget, params=inputs_of(name),
                                                name=f"defaults-{name}-{budget}"), run_dir)[0]
        indices = np.load(run_dir / "pools" / manifest.name / "indices.npy")
        assert len(np.unique(indices)) == budget


def test_every_query_runs_with_its_defaults(run_dir: Path) -> None:
    queries = sorted(SELECTORS.names())
    params = {name: inputs_of(name) for name in queries if inputs_of(name)}
    params["vaal"] = {"epochs": 2}  # its only cost is time: 100 epochs are its default, not a refusal
    manifest = al_run.run(ALRunConfig(pools=["start"], queries=queries, query_params=params, episodes=1,
                                      step_budget=10, trials=1, train=FAST, validation="none",
                                      name="defaults"), run_dir)
    assert set(manifest.summary["final_accuracy"]) == {f"start|{q}" for q in queries}


def test_dcom_keeps_older_radii_across_episodes_and_resumes(run_dir: Path) -> None:
    config = ALRunConfig(pools=["start"], queries=["dcom"], query_params={"dcom": {"embeddings": "vae"}},
                         episodes=2, step_budget=10, trials=1, train=FAST, validation="none", name="dcom")
    al_run.run(config, run_dir)
    trial = TrialFolder(run_dir / "al" / "dcom", "start", "dcom", 0)
    first, second = trial.episode(0).selector_state(), trial.episode(1).selector_state()
    assert first is not None and second is not None
    assert len(first["indices"]) == 20 and len(second["indices"]) == 30
    kept = dict(zip(second["indices"].tolist(), second["radii"].tolist(), strict=True))
    assert all(kept[i] == r for i, r in zip(first["indices"].tolist(), first["radii"].tolist(), strict=True))
    assert trial.episode(1).row()["query_info"]["radii_kept"] == 20
    assert trial.episode(1).row()["query_info"]["centre_label"] == "annotated"
    before = (trial.episode(1).path / "queried.npy").read_bytes()
    (trial.episode(1).path / "metrics.json").unlink()  # resume: episode 1 is redone from episode 0's radii
    al_run.run(config.model_copy(update={"force": True}), run_dir)
    assert (trial.episode(1).path / "queried.npy").read_bytes() == before
    assert trial.episode(1).row()["query_info"]["radii_kept"] == 20  # read back from episode 0's folder


def test_a_narrow_pool_is_named_before_the_training_settings(run_dir: Path) -> None:
    with pytest.warns(AlpoolWarning) as said:  # the one warning route (reporting.warning)
        pools = init_pool.run(InitPoolConfig(strategy="probcover", budget=10,
                                             params={"embeddings": "vae", "delta": 0.01}, name="narrow"), run_dir)
    text = " ".join(str(w.message) for w in said)
    assert "pool narrow" in text and "% of the points" in text and "typiclust or maxherding" in text
    assert any(w.startswith("pool narrow") for w in pools[0].warnings)  # recorded in the pool's manifest
    learns_nothing = TrainConfig(epochs=1, batch_size=32, lr=1e-7, min_steps=5)
    with pytest.warns(AlpoolWarning) as said:
        al_run.run(ALRunConfig(pools=["narrow"], episodes=0, trials=1, train=learns_nothing, name="narrow"), run_dir)
    messages = [str(w.message) for w in said]
    assert any(m.startswith("initial pool narrow") for m in messages)
    chance = [m for m in messages if m.startswith("final accuracy")]
    assert len(chance) == 1 and "likely cause: the initial pool narrow" in chance[0]


def test_count_pools_of_a_seed_free_selector_say_they_are_identical(run_dir: Path) -> None:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        init_pool.run(InitPoolConfig(strategy="maxherding", budget=10, count=2, params={"embeddings": "vae"},
                                     name="same"), run_dir)
    assert any("pools same-000 ... same-001 are identical" in str(w.message) for w in said)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        init_pool.run(InitPoolConfig(strategy="typiclust", budget=10, count=2, params={"embeddings": "vae"},
                                     name="varied"), run_dir)
    assert not any("identical" in str(w.message) for w in said)
    recorded = json.loads((run_dir / "pools" / "varied-000" / "manifest.json").read_text())["warnings"]
    assert not any("identical" in w for w in recorded)  # the same-* pools' warning is not the next step's
