"""The GPU benchmark runs end to end in its tiny CPU mode (its figures are not checked)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import bench_gpu  # noqa: E402


def test_bench_gpu_tiny_mode_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    figures = bench_gpu.main(["--tiny", "--epochs", "1"])
    out = capsys.readouterr().out
    assert "TINY mode" in out and "extrapolated" in out and "selection at 600 x 16" in out
    assert figures["fit_images_per_s"] > 0 and figures["raw_images_per_s"] > 0
    assert set(figures["selection_s"]) == {"typiclust", "probcover", "coreset"}
    assert figures["episode_200_s"] > figures["train_measured_s"]
