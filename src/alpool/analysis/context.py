"""What the analysis sections share: options, the opened runs, the loaded tables, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel, Field

from alpool.analysis.figures import DPI, png_bytes
from alpool.core.config import AnalyzeChoices
from alpool.rundir.manifests import RunManifest
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_dir import StepDir


class AnalyzeOptions(AnalyzeChoices):
    """What :func:`~alpool.analysis.analyze` computes: ``alpool analyze``'s choices plus rendering."""

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
    _pools: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def pool_indices(self, name: str) -> np.ndarray:
        """Return ``pools/<name>/indices.npy`` ``[B]`` int64, read and verified once per command."""
        if name not in self._pools:
            self._pools[name] = self.run.step("pools", name).read_array("indices.npy")
        return self._pools[name]

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
