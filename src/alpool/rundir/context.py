"""An opened run: its dataset, its pool/validation split and the finished steps it reads (stages, AL trials)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alpool.core.errors import ConfigError, MissingStepError
from alpool.core.seeding import numpy_rng
from alpool.data import Dataset, load_dataset, validation_split
from alpool.data.folder_reader import FolderStore, absolute_spec
from alpool.rundir.checkpoints import load_checkpoint
from alpool.rundir.manifests import DatasetRecord
from alpool.rundir.run_dir import RunDir
from alpool.rundir.step_dir import InputLog, StepDir
from alpool.rundir.step_files import MODEL


def dataset_record(spec: str, dataset: Dataset, data_dir: Path | None) -> DatasetRecord:
    """Describe ``dataset`` for run.json: image folders and the data directory absolute, so the run works anywhere."""
    return DatasetRecord(
        spec=absolute_spec(spec, data_dir),
        fingerprint=dataset.fingerprint,
        n_train=dataset.n_train,
        n_test=dataset.n_test,
        n_classes=dataset.num_classes,
        image_shape=dataset.image_shape,
        classes=list(dataset.classes),
        data_dir=str(data_dir.expanduser().resolve()) if data_dir is not None else None,
    )


def folder_store(run: RunDir) -> FolderStore:
    """Return where ``run`` keeps its image folder's index and decoded pixels."""
    return FolderStore(index=run.image_index_path, cache=run.cache_dir("images"))


def split_pool(run: RunDir, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Return the run's ``(pool, val)`` train indices: fixed by the run seed and val fraction."""
    manifest = run.manifest()
    return validation_split(dataset, manifest.val_fraction, numpy_rng(manifest.seed, "validation"))


@dataclass
class RunContext:
    """An opened run directory with its dataset loaded and checked against the fingerprint."""

    run: RunDir
    dataset: Dataset
    pool: np.ndarray  # [P] int64 train indices that may be labeled
    val: np.ndarray  # [V] int64 train indices held out for validation
    seed: int


def open_run(run_dir: Path, data_dir: Path | None = None) -> RunContext:
    """Open ``run_dir``, reload its dataset and refuse a changed dataset."""
    run = RunDir(run_dir)
    manifest = run.manifest()
    record = manifest.dataset
    folder = data_dir if data_dir is not None else (Path(record.data_dir) if record.data_dir else None)
    store = folder_store(run)
    dataset = load_dataset(record.spec, folder, store=store)  # an image folder: stat-checked, decoded on first use
    run.check_dataset(dataset_record(record.spec, dataset, folder))
    store.keep()  # a run that lost its index gets it back (only once its fingerprint matched)
    pool, val = split_pool(run, dataset)
    return RunContext(run, dataset, pool, val, manifest.seed)


class StepArtifacts:
    """A finished step's files, read through the manifest; reads are recorded as inputs of ``writer``."""

    def __init__(self, step: StepDir, writer: InputLog | None) -> None:
        self.step = step
        self.name = step.name
        self.writer = writer
        self._manifest = step.manifest()

    @property
    def oracle(self) -> bool:
        """Return whether the step used labels."""
        return self._manifest.oracle

    def array(self, name: str) -> np.ndarray:
        """Load ``<name>.npy``, verified against its hash, and record it as an input."""
        relative = f"{name}.npy"
        if relative not in self._manifest.outputs:
            have = ", ".join(sorted(o[:-4] for o in self._manifest.outputs if o.endswith(".npy")))
            raise MissingStepError(f"step {self.step.label} has no array {name!r} (it has: {have})")
        array, digest = self.step.read_verified(relative)  # one read, one hash
        if self.writer is not None:
            self.writer.record_step_input(self.step, relative, digest)
        return array

    def checkpoint(self) -> dict[str, Any]:
        """Load ``model.pt`` (any checkpoint version, see :mod:`alpool.rundir.checkpoints`); record it as an input."""
        path = self.step.file(MODEL)
        if self.writer is not None:
            self.writer.record_step_input(self.step, MODEL)
        return load_checkpoint(path)

    def summary(self) -> dict[str, Any]:
        """Return the manifest summary."""
        return dict(self._manifest.summary)


class Upstream:
    """Opens finished upstream steps for a writer and remembers whether any used labels."""

    def __init__(self, run: RunDir, writer: InputLog | None) -> None:
        self.run = run
        self.writer = writer
        self.oracle = False
        self.used: list[str] = []

    def step(self, kind: str, name: str) -> StepArtifacts:
        """Return a finished step's artifacts or explain which command makes it."""
        artifacts = StepArtifacts(self.run.step(kind, name), self.writer)
        self.oracle = self.oracle or artifacts.oracle
        if artifacts.step.label not in self.used:
            self.used.append(artifacts.step.label)
        return artifacts

    def pretrain(self, task: str) -> StepArtifacts:
        """Return a finished pretrain step."""
        return self.step("pretrain", task)


class RunInputs:
    """The selector :class:`~alpool.selectors.base.Inputs` backed by the run directory."""

    def __init__(self, ctx: RunContext, upstream: Upstream) -> None:
        self.ctx = ctx
        self.upstream = upstream
        self.used_labels = False
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def _array(self, kind: str, name: str, array: str) -> np.ndarray:
        key = (f"{kind}/{name}", array)
        if key not in self._cache:
            self._cache[key] = self.upstream.step(kind, name).array(array)
        return self._cache[key]

    def embeddings(self, task: str) -> np.ndarray:
        """Return ``pretrain/<task>/embeddings.npy`` ``[N, D]`` float32."""
        return self._array("pretrain", task, "embeddings").astype(np.float32, copy=False)

    def scores(self, scorer: str) -> np.ndarray:
        """Return ``scores/<scorer>/scores.npy`` ``[N]``."""
        return self._array("scores", scorer, "scores")

    def clusters(self, source: str) -> np.ndarray:
        """Return ``pretrain/<source>/cluster.npy`` ``[N]`` int64."""
        return self._array("pretrain", source, "cluster").astype(np.int64, copy=False)

    def labels(self) -> np.ndarray:
        """Return the true train labels (marks the step as an oracle); refused without ground truth."""
        if not self.ctx.dataset.has_labels:
            raise ConfigError(f"{self.ctx.run.manifest().dataset.spec} has no ground-truth labels, so no step "
                              "may read them; choose a selector that needs none (see `alpool list selectors`)")
        self.used_labels = True
        return self.ctx.dataset.train_y.numpy()

    def images(self) -> torch.Tensor:
        """Return the train images ``[N, C, H, W]`` uint8."""
        return self.ctx.dataset.train_x

    def cache_dir(self, name: str) -> Path | None:
        """Return ``<run>/cache/<name>/``, where selectors keep results keyed by their inputs' hash."""
        return self.ctx.run.cache_dir(name)
