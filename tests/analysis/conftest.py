"""Fixtures of the analysis tests: a fake run directory built once per module."""

from __future__ import annotations

import pytest
from fake_run_analysis import FakeRun, build_fake_run


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> FakeRun:
    """A schema-correct run directory with finished and unfinished steps (built once per module)."""
    return build_fake_run(tmp_path_factory.mktemp("analysis") / "run")
