"""Every preset file validates: its steps, names and options exist in the registries."""

from __future__ import annotations

from pathlib import Path

import pytest

from alpool.data import DATASETS, parse_spec
from alpool.frameworks import FRAMEWORKS
from alpool.presets import load_preset
from alpool.pretext import TASKS
from alpool.scorers import SCORERS
from alpool.selectors import SELECTORS

PRESETS = sorted(p.stem for p in (Path(__file__).parents[1] / "presets").glob("*.toml"))


def test_the_expected_presets_exist() -> None:
    expected = {"quickstart", "fashion-mnist", "ip-cifar10", "ip-cifar100", "ip-cifar10-lowbudget", "ip-cifar10-lt",
                "ip-mnist", "ip-tinyimagenet", "cs-pathmnist", "cs-bloodmnist", "cs-organamnist"}
    assert expected <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_valid(name: str) -> None:
    _, preset = load_preset(name)
    assert parse_spec(preset.dataset)[0] in DATASETS
    for step in preset.pretrain:
        TASKS.create(step.task, step.params)
    for item in preset.rank:
        SCORERS.create(item.scorer, item.params)
    for pool in preset.pools:
        SELECTORS.create(pool.strategy, pool.params)
    for grid in preset.al:
        for query in grid.queries:
            SELECTORS.create(query, grid.query_params.get(query, {}))
        FRAMEWORKS.create(grid.framework, grid.framework_params)
    assert preset.description


def test_pool_names_come_from_the_config_alone() -> None:
    """``alpool all`` decides which pools are finished without loading the dataset."""
    from alpool.core.config import InitPoolConfig
    from alpool.stages.init_pool import pool_names

    ranked = InitPoolConfig(strategy="ranked", budget=20, params={"score": "vae-loss"})
    assert pool_names(ranked, SELECTORS.create("ranked", ranked.params)) == ["ranked-vae-loss-20"]
    bench = InitPoolConfig(strategy="random", budget_ratio=0.1, count=2)
    assert pool_names(bench, SELECTORS.create("random", {})) == ["random-r0.1-000", "random-r0.1-001"]


@pytest.mark.parametrize("budget", ["", "budget = 10\nbudget_ratio = 0.1\n", "budget = 0\n"])
def test_a_preset_pool_with_a_bad_budget_is_refused(budget: str, tmp_path: Path) -> None:
    """A preset pool is validated like ``init-pool``: exactly one budget, at least 1 image."""
    from alpool.core.errors import ConfigError

    path = tmp_path / "bad.toml"
    path.write_text(f'description = "x"\n[[pools]]\nstrategy = "random"\n{budget}')
    with pytest.raises(ConfigError, match=r"preset .*bad.toml: pools.0"):
        load_preset(str(path))
