"""Validated configs of the steps and presets (frozen, unknown keys refused).

Every option's default is defined once, here: the command line takes its defaults from these
models (:func:`default`), presets share the step configs' fields through common bases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Device = Literal["auto", "cpu", "cuda"]
VAL_FRACTION = 0.1
ValFraction = Annotated[float, Field(ge=0, lt=1, description="share of the train split held out as validation")]
Validation = Literal["split", "none", "labeled-kfold"]
NO_FLIP_DATASETS = ("svhn",)  # colour digits: a mirrored 2 is not a 2


def augmentation_defaults(dataset: str, image_shape: tuple[int, ...]) -> tuple[int, bool]:
    """Return the default ``(crop_padding, flip)`` of a dataset's training augmentation.

    Tiny images (side <= 16, e.g. 8x8 digits): neither, since a 4-pixel shift moves half the glyph
    out of view and a mirrored digit is another digit. Grayscale (MNIST-like, including
    Fashion-MNIST): pad-and-crop 4, no flip. Colour (CIFAR-like, MedMNIST, Tiny ImageNet): pad-and-crop
    4 and horizontal flip [TK], except colour digits (SVHN): no flip.
    """
    channels, height = int(image_shape[-3]), int(image_shape[-2])
    if height <= 16:
        return 0, False
    if channels == 1 or dataset.split(":")[0] in NO_FLIP_DATASETS:
        return 4, False
    return 4, True


class Frozen(BaseModel):
    """Base of every config: frozen, ``extra="forbid"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def default(model: type[BaseModel], name: str) -> Any:
    """Return the default of ``model``'s field ``name`` (command-line defaults come from the configs)."""
    field = model.model_fields[name]
    return field.get_default(call_default_factory=True)


class TrainConfig(Frozen):
    """How a classifier is trained (defaults: [TK] CIFAR settings scaled by presets)."""

    arch: str = "small-cnn"
    epochs: int = Field(30, gt=0)
    batch_size: int = Field(96, gt=0)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.025, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(3e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    crop_padding: int | None = Field(None, ge=0, description="None: the dataset's default (augmentation_defaults)")
    flip: bool | None = Field(None, description="None: the dataset's default (augmentation_defaults)")
    dropout: float = Field(0.5, ge=0, lt=1)
    width: int | None = Field(None, gt=0)
    min_steps: int = Field(0, ge=0, description="train at least this many steps (tiny labeled sets)")
    eval_batch_size: int = Field(1024, gt=0)
    amp: bool = True

    def augmentation(self, image_shape: tuple[int, ...], dataset: str = "") -> tuple[int, bool]:
        """Return ``(crop_padding, flip)``: the values set, else the defaults for these images."""
        pad, flip = augmentation_defaults(dataset, image_shape)
        return (pad if self.crop_padding is None else self.crop_padding,
                flip if self.flip is None else self.flip)

    def perturbation(self, image_shape: tuple[int, ...], dataset: str = "") -> tuple[int, bool]:
        """Return the ``(crop_padding, flip)`` of augmented passes (consistency, augmented queries).

        The training augmentation, but at least a 1-pixel pad-and-crop: where the dataset trains
        without augmentation (8x8 digits), every pass would otherwise be the same image.
        """
        pad, flip = self.augmentation(image_shape, dataset)
        return (1, flip) if pad == 0 and not flip else (pad, flip)

    def resolved(self, dataset: str, image_shape: tuple[int, ...]) -> TrainConfig:
        """Return a copy whose augmentation defaults are filled in for ``dataset`` (what manifests record)."""
        pad, flip = self.augmentation(image_shape, dataset)
        return self.model_copy(update={"crop_padding": pad, "flip": flip})


class PretrainConfig(Frozen):
    """``alpool pretrain``."""

    task: str
    dataset: str = "digits"
    data_dir: Path | None = None
    download: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    seed: int = 0
    device: Device = "auto"
    force: bool = False
    val_fraction: ValFraction = VAL_FRACTION

    @property
    def step_name(self) -> str:
        """Return the folder name (the task unless ``--name``)."""
        return self.name or self.task


class RankConfig(Frozen):
    """``alpool rank``."""

    scorer: str
    params: dict[str, Any] = Field(default_factory=dict)
    ascending: bool = False
    name: str | None = None
    seed: int = 0
    device: Device = "auto"
    force: bool = False

    @property
    def step_name(self) -> str:
        """Return the folder name: the scorer, with ``-easy`` for ascending orders."""
        return self.name or (f"{self.scorer}-easy" if self.ascending else self.scorer)


class PoolChoice(Frozen):
    """What an initial pool is: selector, budget, count (shared by ``init-pool`` and presets)."""

    strategy: str
    budget: int | None = Field(None, ge=1)
    budget_ratio: float | None = Field(None, gt=0, le=1)
    count: int = Field(1, ge=1, description="number of pools (seeds seed, seed+1, ...)")
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None

    @model_validator(mode="after")
    def _one_budget(self) -> PoolChoice:
        if (self.budget is None) == (self.budget_ratio is None):
            raise ValueError("give exactly one of --budget and --budget-ratio")
        return self


class InitPoolConfig(PoolChoice):
    """``alpool init-pool``."""

    seed: int = 0
    device: Device = "auto"
    force: bool = False


class Execution(Frozen):
    """Where al-run's trials run; never changes the results (see :mod:`alpool.execution.executor`)."""

    executor: str = Field("auto", description="auto (local for 1 worker, else process), local, process or ray")
    ray_address: str | None = Field(None, description="Ray cluster to join (default: auto if RAY_ADDRESS "
                                    "is set, else start a local Ray)")
    gpus_per_trial: float | None = Field(None, ge=0, description="Ray GPUs per trial, fractions allowed "
                                         "(default: 1 when the cluster has GPUs and --device is not cpu)")
    cpus_per_trial: int = Field(1, ge=1, description="Ray CPUs per trial = torch threads of the trial")




class ALGrid(Frozen):
    """An AL grid: pools x queries x trials and how each trial trains (shared by ``al-run`` and presets)."""

    pools: list[str] = Field(default_factory=list, description="empty = every finished pool")
    queries: list[str] = Field(default_factory=lambda: ["random"])
    query_params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="query -> its options")
    episodes: int = Field(5, ge=0)
    step_budget: int = Field(10, ge=1)
    trials: int = Field(3, ge=1)
    candidates: int | None = Field(None, ge=1, description="queries score a seeded random subset of this "
                                   "many unlabeled images per episode; None = all")
    framework: str = "supervised"
    framework_params: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    warm_start: bool = False
    name: str | None = None
    validation: Validation = Field("split", description="how each episode's weights are chosen (learning.validation)")
    folds: int = Field(5, ge=2, description="labeled-kfold: number of folds (at most the labeled count)")


class ALRunConfig(ALGrid):
    """``alpool al-run``: a grid of pools x queries x trials."""

    seed: int = 0
    workers: int = Field(1, ge=1)
    device: Device = "auto"
    force: bool = False
    execution: Execution = Field(default_factory=lambda: Execution())


class AnalyzeChoices(Frozen):
    """What an analysis computes (shared by ``alpool analyze`` and the library's ``AnalyzeOptions``)."""

    curves: bool = Field(True, description="learning-curve figures")
    corr: bool = Field(False, description="cold-bench correlation tables and figures")
    hist: bool = Field(False, description="class histograms of pools and queries")
    scatter: bool = Field(False, description="embedding maps with the pools on top")
    experiments: list[str] = Field(default_factory=list, description="empty = every finished experiment")
    bench: list[str] = Field(default_factory=list, description="--corr: pool names or globs that are the cold "
                             "bench's random pools; empty = every random pool drawn with --count")
    scorers: list[str] = Field(default_factory=list, description="empty = every finished scorer")
    embeddings: str | None = Field(None, description="pretrain task of the maps")
    projection: Literal["tsne", "umap"] = "tsne"


class AnalyzeConfig(AnalyzeChoices):
    """``alpool analyze``: what to compute over one or more run directories.

    The analysis folder is replaced on every run (it is derived from finished steps, never an
    input of another step, so nothing is lost that cannot be recomputed).
    """

    name: str = "report"
    runs: list[Path] = Field(default_factory=list, description="more run directories analysed together")


class PresetPretrain(Frozen):
    """A pretrain step of a preset."""

    task: str
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None


class PresetRank(Frozen):
    """A rank step of a preset."""

    scorer: str
    params: dict[str, Any] = Field(default_factory=dict)
    ascending: bool = False


class PresetPool(PoolChoice):
    """An init-pool step of a preset (``seed`` defaults to the preset's)."""

    seed: int | None = None


class PresetAL(ALGrid):
    """The al-run grid of a preset (``name`` defaults to the queries)."""


class Preset(Frozen):
    """A whole chain (``alpool all --preset NAME``), read from ``presets/NAME.toml`` (see :mod:`alpool.presets`)."""

    description: str = ""
    dataset: str = "digits"
    seed: int = 0
    val_fraction: ValFraction = VAL_FRACTION
    pretrain: list[PresetPretrain] = Field(default_factory=list)
    rank: list[PresetRank] = Field(default_factory=list)
    pools: list[PresetPool] = Field(default_factory=list)
    al: list[PresetAL] = Field(default_factory=list)
    analyze: AnalyzeConfig | None = None
