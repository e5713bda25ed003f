"""What the analysis sections share: options, the opened runs, the loaded tables, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field

from alpool.analysis.figures import DPI, png_bytes
from alpool.rundir import RunDir, RunManifest, StepDir


class AnalyzeOptions(BaseModel):
    """What :func:`~alpool.analysis.analyze` computes (mirrors ``alpool analyze``'s options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    curves: bool = Field(True, description="learning-curve figures")
    corr: bool = Field(False, description="cold-bench correlation tables and figures")
    hist: bool = Field(False, description="class histograms of pools and queries")
    scatter: bool = Field(False, description="embedding maps with the pools on top")
    experiments: list[str] = Field(default_factory=list, description="empty = every finished one")
    bench: list[str] = Field(default_factory=list, description="--corr: pool names/globs of the random bench "
                             "pools; empty = every random pool drawn with --count")
    scorers: list[str] = Field(default_factory=list, description="empty = every finished scorer")
    embeddings: str | None = Field(None, description="pretrain task of the maps")
    projection: Literal["tsne", "umap"] = "tsne"
    max_points: int = Field(5000, ge=10, le=100_000, description="images in the embedding map")
    metrics: list[str] = Field(default_factory=lambda: ["test_accuracy", "test_macro_auc"])
    dpi: int = Field(DPI, ge=50, le=600, description="resolution of the PNG figures")
    seed: int = 0
    title: str = "alpool analysis"

    @classmethod
    def from_config(cls, config: BaseModel, **overrides: Any) -> AnalyzeOptions:
        """Build options from a config with some of the same fields (e.g. ``AnalyzeConfig``)."""
        data = {k: v for k, v in config.model_dump().items() if k in cls.model_fields}
        return cls(**{**data, **overrides})


@dataclass
class RunView:
    """An opened run directory: its label, manifest, train labels (if given) and class names."""

    run: RunDir
    label: str
    manifest: RunManifest
    labels: np.ndarray | None  # [N] int64 train labels

    @property
    def class_names(self) -> list[str]:
        """Return the dataset's class names."""
        return list(self.manifest.dataset.classes)

    @property
    def n_classes(self) -> int:
        """Return the number of classes."""
        return self.manifest.dataset.n_classes


@dataclass
class Context:
    """Everything the sections read, and the notes they leave for the report."""

    options: AnalyzeOptions
    runs: list[RunView]
    experiments: list[list[StepDir]]  # finished, selected al steps per run
    results: pd.DataFrame  # tidy AL results with ``arm``
    pools: pd.DataFrame  # every finished pool of every run
    notes: list[str] = field(default_factory=list)
    oracle_inputs: list[str] = field(default_factory=list)  # "run:kind/name" of oracle steps read

    @property
    def several_runs(self) -> bool:
        """Return whether more than one run directory is analysed."""
        return len(self.runs) > 1

    def png(self, fig: Figure) -> bytes:
        """Render a figure at the options' resolution."""
        return png_bytes(fig, self.options.dpi)

    def prefix(self, run_label: str) -> str:
        """Return a file-name prefix naming the run when several are analysed."""
        return f"{run_label}-" if self.several_runs else ""
