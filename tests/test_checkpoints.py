"""One versioned ``model.pt`` format; files of the previous format still load; typed manifest summaries."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alpool.core.errors import ConfigError, CorruptFileError, SchemaError
from alpool.frameworks.linear_probe import build_encoder
from alpool.models import build_model
from alpool.models.registry import ModelSpec
from alpool.models.vae import VAESpec, build_vae
from alpool.rundir.checkpoints import CHECKPOINT_VERSION, HEADER, load_checkpoint, save_checkpoint
from alpool.rundir.manifests import StepManifest
from alpool.rundir.summaries import ALSummary, PoolSummary

VAE_SPEC = {"in_channels": 1, "height": 8, "width": 8, "latent_dim": 4}


def _vae_checkpoint() -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    vae = build_vae(VAESpec(1, 8, 8, 4)).eval()
    return vae, {"spec": dict(VAE_SPEC), "state_dict": vae.state_dict(), "kl_weight": 0.5}


def _vae_mean(vae: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return vae.encode(x * 2 - 1)[0]  # type: ignore[operator,no-any-return]


def test_round_trip_writes_a_typed_versioned_header(tmp_path: Path) -> None:
    vae, checkpoint = _vae_checkpoint()
    save_checkpoint(tmp_path / "model.pt", "vae", {**checkpoint, "encoder": "vae-mean"})
    raw = torch.load(tmp_path / "model.pt", weights_only=True)
    assert raw[HEADER] == {"format": "alpool-model", "version": CHECKPOINT_VERSION, "task": "vae",
                           "encoder": "vae-mean", "spec": VAE_SPEC}
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded["encoder"] == "vae-mean" and loaded["kl_weight"] == 0.5 and loaded["spec"] == VAE_SPEC
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(build_encoder(loaded, "vae")(x), _vae_mean(vae, x))


def test_previous_format_files_still_load(tmp_path: Path) -> None:
    """model.pt files written before the header (the task's plain dict) keep working, VAE and backbone alike."""
    vae, checkpoint = _vae_checkpoint()  # the old vae dict had no 'encoder' entry
    torch.save(checkpoint, tmp_path / "vae.pt")
    loaded = load_checkpoint(tmp_path / "vae.pt")
    assert loaded["encoder"] == "vae-mean"
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(build_encoder(loaded, "vae")(x), _vae_mean(vae, x))

    spec = ModelSpec(arch="small-cnn", in_channels=1, image_size=8, num_classes=3, mean=[0.5], std=[0.25])
    model = build_model(spec)
    torch.save({"spec": spec.model_dump(mode="json"), "backbone": model.backbone.state_dict()},  # type: ignore[union-attr]
               tmp_path / "simclr.pt")
    assert load_checkpoint(tmp_path / "simclr.pt")["encoder"] == "backbone"

    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="no rebuildable encoder"):
        build_encoder(load_checkpoint(tmp_path / "other.pt"), "other")


def test_newer_and_broken_checkpoints_are_refused(tmp_path: Path) -> None:
    header = {"format": "alpool-model", "version": CHECKPOINT_VERSION + 1, "task": "vae", "encoder": "vae-mean",
              "spec": VAE_SPEC}
    torch.save({HEADER: header, "weights": {}}, tmp_path / "newer.pt")
    with pytest.raises(SchemaError, match="newer than this alpool"):
        load_checkpoint(tmp_path / "newer.pt")
    torch.save({HEADER: {**header, "version": 1, "encoder": "pixels"}, "weights": {}}, tmp_path / "bad.pt")
    with pytest.raises(CorruptFileError, match="encoder"):
        load_checkpoint(tmp_path / "bad.pt")
    (tmp_path / "torn.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptFileError, match="--force"):
        load_checkpoint(tmp_path / "torn.pt")


def _manifest(kind: str, summary: dict) -> StepManifest:
    return StepManifest(kind=kind, name="x", config={}, dataset_fingerprint="f", started_at="t", seconds=0.0,  # type: ignore[arg-type]
                        summary=summary)


def test_typed_summaries_read_older_and_newer_pools() -> None:
    old = PoolSummary.of(_manifest("pools", {"strategy": "ranked", "params": {"score": "vae-loss"}, "budget": 20}))
    assert old.init_strategy == "ranked(vae-loss)" and old.class_histogram is None and not old.is_bench
    bench = PoolSummary.of(_manifest("pools", {"strategy": "random", "group": "random-r0.1", "ratio": 0.1,
                                               "from_the_future": 1}))
    assert bench.is_bench and bench.init_strategy == "random" and bench.to_json()["from_the_future"] == 1
    with pytest.raises(SchemaError, match="pools/x: summary field 'budget'"):
        PoolSummary.of(_manifest("pools", {"strategy": "random", "budget": "many"}))
    al = ALSummary.of(_manifest("al", {"jobs": 2, "final_accuracy": {"a|random": 0.5, "b|entropy": 0.7}}))
    assert al.best() == ("b|entropy", 0.7)
