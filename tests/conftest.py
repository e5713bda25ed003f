"""Shared fixtures: tiny in-memory datasets and a run directory on them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alpool.data.base import Dataset
from blob_data import make_blob_dataset
from folder_data import make_image_folder


@pytest.fixture(autouse=True)
def _no_warning_left_for_the_next_test():  # type: ignore[no-untyped-def]
    """A warning said outside any step waits for the next step of the process: not one of another test."""
    from alpool.core import reporting

    reporting.forget_pending()
    yield
    reporting.forget_pending()


@pytest.fixture
def blobs() -> Dataset:
    """A 60-image, 3-class 8x8 dataset that a small CNN learns in a second."""
    return make_blob_dataset()


# -- the labelling loop: a generated folder of unlabeled PNGs -------------------------------------

@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """Images, a VAE pretrain step and a TypiClust pool of 6 with its export; return (root, run, truth)."""
    from typer.testing import CliRunner

    from alpool.cli import app

    runner = CliRunner()
    root = tmp_path_factory.mktemp("loop")
    truth = make_image_folder(root / "photos", per_kind=12, size=16, nested=True)
    run = str(root / "run")
    fast_vae = ["--param", "epochs=2", "--param", "latent_dim=8", "--param", "batch_size=16"]
    for step in (["pretrain", "--task", "vae", f"images:{root / 'photos'}", "--run-dir", run, *fast_vae],
                 ["init-pool", "--strategy", "typiclust", "--embeddings", "vae", "--budget", "6", "--run-dir", run],
                 ["export", "typiclust-6", "--run-dir", run]):
        result = runner.invoke(app, [*step, "-q"])
        assert result.exit_code == 0, (step, result.output)
    return root, root / "run", truth


@pytest.fixture
def loop_run(folder_run: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Path:
    """A private copy of the fixture's run directory (tests may add steps to it)."""
    shutil.copytree(folder_run[1], tmp_path / "run")
    return tmp_path / "run"
