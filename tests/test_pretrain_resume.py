"""The one resume rule for pretrain: an unfinished step with other settings is refused; --force starts over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alpool.core.config import PretrainConfig
from alpool.core.errors import StaleInputError
from alpool.stages import pretrain

CONFIG = PretrainConfig(task="vae", dataset="digits", params={"epochs": 1, "latent_dim": 4})


def _unfinished(root: Path, params: dict) -> Path:
    """Leave an unfinished ``pretrain/vae`` folder started with ``params``."""
    folder = root / "pretrain" / "vae"
    folder.mkdir(parents=True)
    settings = {"task": "vae", "dataset": "digits", "params": params, "seed": 0}
    (folder / "config.json").write_text(json.dumps(settings))
    (folder / "checkpoint.pt").write_bytes(b"made with other settings")
    return folder


def test_changed_settings_are_refused_without_touching_the_step(tmp_path: Path) -> None:
    folder = _unfinished(tmp_path, {"epochs": 3, "latent_dim": 4})
    with pytest.raises(StaleInputError, match=r"pretrain/vae was started with params.epochs=3, now 1; .*--force"):
        pretrain.run(CONFIG, tmp_path)
    assert (folder / "checkpoint.pt").read_bytes() == b"made with other settings"
    assert not (folder / "manifest.json").exists()


def test_force_starts_over_with_the_new_settings(tmp_path: Path) -> None:
    folder = _unfinished(tmp_path, {"epochs": 3, "latent_dim": 4})
    manifest = pretrain.run(CONFIG.model_copy(update={"force": True}), tmp_path)
    assert manifest.summary["epochs"] == 1
    assert json.loads((folder / "config.json").read_text())["params"] == {"epochs": 1, "latent_dim": 4}
    assert not (folder / "checkpoint.pt").exists()
