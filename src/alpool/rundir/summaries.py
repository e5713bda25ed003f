"""Typed manifest summaries of the steps other steps read: pools, scores and AL experiments.

A step writes its summary as one of these models; readers (``al-run``, ``analyze``, the CLI) get it
back typed through :meth:`Summary.of` instead of reading dict keys. On disk the summary stays the
``summary`` object of ``manifest.json`` (schema unchanged). Unknown keys are kept, not refused, so
that a summary written by another alpool version still reads; missing optional facts are ``None``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alpool.core.errors import SchemaError
from alpool.rundir.manifests import StepManifest

SummaryT = TypeVar("SummaryT", bound="Summary")


class Summary(BaseModel):
    """Base of the typed summaries."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @classmethod
    def of(cls: type[SummaryT], manifest: StepManifest) -> SummaryT:
        """Return the typed summary of a finished step's manifest."""
        try:
            return cls.model_validate(manifest.summary)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise SchemaError(f"step {manifest.kind}/{manifest.name}: summary field {where!r}: {first['msg']}; "
                              "redo the step with --force") from None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object written as the manifest's ``summary``."""
        return self.model_dump(mode="json")


class PoolSummary(Summary):
    """``pools/<name>``: how the pool was selected and its class histogram."""

    strategy: str = "?"
    params: dict[str, Any] = Field(default_factory=dict)
    budget: int | None = None
    seed: int | None = None
    uses: list[str] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict)
    class_histogram: list[int] | None = None  # [K]
    n_classes_covered: int | None = None
    imbalance_ratio: float | None = None
    group: str | None = None  # pools drawn alike (--count M or --budget-ratio)
    ratio: float | None = None  # budget / selectable images, for --count and --budget-ratio pools

    @property
    def init_strategy(self) -> str:
        """Return how the pool was made, e.g. ``ranked(vae-loss)`` (the ``init_strategy`` of results)."""
        detail = self.params.get("score") or self.params.get("inner")
        return f"{self.strategy}({detail})" if detail else self.strategy

    @property
    def is_bench(self) -> bool:
        """Return whether the pool is one random draw of many per label ratio (the cold bench)."""
        return self.strategy == "random" and self.group is not None and self.ratio is not None


class ScoresSummary(Summary):
    """``scores/<name>``: the scorer and the spread of its raw scores."""

    scorer: str
    ascending: bool = False
    uses: list[str] = Field(default_factory=list)
    mean: float
    std: float
    min: float
    max: float


class ALSummary(Summary):
    """``al/<experiment>``: area under each trial's learning curve and the mean final accuracies."""

    alc: dict[str, float] = Field(default_factory=dict)  # "pool|query|trial" -> ALC
    final_accuracy: dict[str, float] = Field(default_factory=dict)  # "pool|query" -> mean over trials
    jobs: int
    candidates: int | None = None
    validation: str = "split"  # how each episode chose its epoch (see alpool.learning.validation)
    augmentation: dict[str, Any] = Field(default_factory=dict)  # crop_padding / flip the episodes trained with
    queries_oracle: list[str] = Field(default_factory=list)

    def best(self) -> tuple[str, float]:
        """Return the (pool|query, accuracy) arm with the highest mean final accuracy."""
        return max(self.final_accuracy.items(), key=lambda kv: kv[1])
