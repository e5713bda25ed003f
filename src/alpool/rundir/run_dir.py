"""The run directory: layout, steps, writers, and the pointer to the last run.

Layout (DESIGN.md section 2)::

    <run>/run.json                     RunManifest
    <run>/<kind>/<name>/manifest.json  StepManifest, written last
    <run>/<kind>/<name>/...            the step's files

A step folder without a ``manifest.json`` is unfinished: it is resumed or redone, never read by
another step. A finished step is kept when rerun with the same settings ("already finished", see
:mod:`alpool.rundir.run_index`) and only redone with ``force=True``; the old manifest is removed first
so that a crash leaves an unfinished step, not a finished one with mixed files (the decision: work
in place, so resumable steps such as ``al-run`` keep their finished episodes).

The manifests and their migrations live in :mod:`alpool.rundir.manifests`; atomic writes, hashes and
locks in :mod:`alpool.core.atomic_files`; one step folder (:class:`StepDir`) and the input log in
:mod:`alpool.rundir.step_dir` (re-exported here).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from alpool.core import reporting
from alpool.core.atomic_files import (
    atomic_save_array,
    atomic_write_bytes,
    atomic_write_text,
    file_lock,
    sha256_file,
)
from alpool.core.errors import (
    AlpoolError,
    AlreadyFinishedError,
    ConfigError,
    LockedError,
    MissingStepError,
    NotWritableError,
    StaleInputError,
)
from alpool.core.jsonify import json_default
from alpool.rundir import run_index
from alpool.rundir.manifests import (
    RUN_MANIFEST,
    SCHEMA_VERSION,
    STEP_KINDS,
    DatasetRecord,
    RunManifest,
    StepKind,
    StepManifest,
    environment,
    now_iso,
    read_model,
)
from alpool.rundir.run_index import sync_index
from alpool.rundir.step_dir import InputLog, StepDir, step_folders
from alpool.rundir.step_process import PROCESS_FILE, record_process

# The manifest types are part of this module's interface (steps return and read them).
__all__ = [
    "SCHEMA_VERSION", "STEP_KINDS", "DatasetRecord", "RunDir", "RunManifest", "StepDir", "StepKind",
    "StepManifest", "StepWriter", "InputLog", "check_recorded_inputs",
]

SETTINGS_FILE = "config.json"  # the settings an unfinished resumable step was started with
INPUTS_FILE = "inputs.json"  # the inputs an unfinished resumable step was started with


class StepWriter(InputLog):
    """Writes one step: lock held, files written atomically, manifest last."""

    def __init__(self, run: RunDir, step: StepDir, config: dict[str, Any], resume: bool = False,
                 warnings: list[str] | None = None) -> None:
        super().__init__(run.root)
        self.run = run
        self.step = step
        self.config = config
        self.warnings = [] if warnings is None else warnings  # filled by reporting.warning while the step runs
        self.outputs: list[str] = []
        self.started = time.time()
        self.started_at = now_iso()
        self.earlier_seconds, self.thread_counts = record_process(step.path, step.label, resume, self.started)

    @property
    def path(self) -> Path:
        """Return the step folder."""
        return self.step.path

    def keep_settings(self, settings: dict[str, Any] | None = None, force: bool = False) -> None:
        """Apply the one resume rule of resumable steps (``pretrain``, ``al-run``).

        ``config.json`` in an unfinished step folder records the settings that define its result:
        ``settings`` (default: the step's config) without :data:`~alpool.rundir.run_index.RERUN_IGNORED`,
        the same settings that decide whether a finished step is "already finished". Resuming with
        other settings is refused, naming the first changed one; with ``force`` the folder's files
        are removed and the step starts over.

        Raises:
            StaleInputError: the recorded settings differ and ``force`` is false.
        """
        path = self.path / SETTINGS_FILE
        wanted = json.loads(json.dumps(self.config if settings is None else settings, default=json_default))
        recorded = json.loads(path.read_text()) if path.exists() else wanted
        old, new = run_index.comparable(recorded), run_index.comparable(wanted)  # names train.lr
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed and not force:
            key = changed[0]
            raise StaleInputError(
                f"step {self.step.label} was started with {key}={old.get(key)!r}, now {new.get(key)!r}; "
                "rerun with its original settings to resume it, or pass --force to start over "
                "(or use another --name)"
            )
        if changed:
            shutil.rmtree(self.path)
            self.path.mkdir(parents=True)
        self.write_json(SETTINGS_FILE, wanted)

    def save_array(self, relative: str, array: np.ndarray) -> Path:
        """Save an output array atomically."""
        path = self.path / relative
        atomic_save_array(path, array)
        self._add_output(relative)
        return path

    def write_text(self, relative: str, text: str) -> Path:
        """Write an output text file atomically."""
        path = self.path / relative
        atomic_write_text(path, text)
        self._add_output(relative)
        return path

    def write_json(self, relative: str, data: Any) -> Path:
        """Write an output JSON file atomically."""
        return self.write_text(relative, json.dumps(data, indent=2, sort_keys=True, default=json_default))

    def write_bytes(self, relative: str, data: bytes) -> Path:
        """Write an output binary file atomically."""
        path = self.path / relative
        atomic_write_bytes(path, data)
        self._add_output(relative)
        return path

    def add_output(self, relative: str) -> None:
        """Declare a file written by other means (e.g. ``torch.save`` through a temp file)."""
        self._add_output(relative)

    def _add_output(self, relative: str) -> None:
        if relative not in self.outputs:
            self.outputs.append(relative)

    def finish(self, summary: dict[str, Any] | None = None, oracle: bool = False) -> StepManifest:
        """Hash the outputs and write the manifest last."""
        outputs = {rel: sha256_file(self.path / rel) for rel in sorted(self.outputs)}
        manifest = StepManifest(
            kind=self.step.kind,  # type: ignore[arg-type]
            name=self.step.name,
            config=json.loads(json.dumps(self.config, default=json_default)),
            dataset_fingerprint=self.run.manifest().dataset.fingerprint,
            inputs=dict(sorted(self.inputs.items())),
            outputs=outputs,
            oracle=oracle,
            started_at=self.started_at,
            seconds=round(self.earlier_seconds + time.time() - self.started, 3),
            environment=environment(self.thread_counts),
            summary=json.loads(json.dumps(summary or {}, default=json_default)),
            warnings=list(self.warnings),
        )
        atomic_write_text(self.step.manifest_path, manifest.model_dump_json(indent=2))
        self.run.record_step(self.step)
        (self.path / PROCESS_FILE).unlink(missing_ok=True)
        return manifest


# -- the run ----------------------------------------------------------------------------------


class RunDir:
    """A run directory holding one dataset's steps."""

    index_wait: float = run_index.INDEX_WAIT_SECONDS  # seconds an index update waits for run.json's lock

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        """Return the path of ``run.json``."""
        return self.root / RUN_MANIFEST

    @property
    def image_index_path(self) -> Path:
        """Return ``images.json``: the index of the run's image folder (paths, sizes, times, headers)."""
        return self.root / "images.json"

    def cache_dir(self, kind: str, key: str = "") -> Path:
        """Return ``cache/<kind>/<key>/`` (``cache/<kind>/`` without a key): recomputable data shared by steps."""
        return self.root / "cache" / kind / key

    def exists(self) -> bool:
        """Return whether ``run.json`` exists."""
        return self.manifest_path.exists()

    def manifest(self) -> RunManifest:
        """Read ``run.json`` or explain how to create the run."""
        if not self.exists():
            raise MissingStepError(
                f"{self.root} is not an alpool run directory (no run.json); "
                "run `alpool pretrain --task TASK DATASET` first or pass --run-dir"
            )
        manifest: RunManifest = read_model(self.manifest_path, RunManifest)
        return manifest

    @classmethod
    def create(cls, root: Path, dataset: DatasetRecord, seed: int, val_fraction: float | None = None) -> RunDir:
        """Create ``root`` for ``dataset`` or open it if it already holds the same dataset.

        ``val_fraction`` None means the default for a new run and the recorded one for an existing
        run; a given value that differs from the recorded one is refused (the pool would change).
        """
        run = cls(root)
        if run.exists():
            run.check_dataset(dataset)
            recorded = run.manifest().val_fraction
            if val_fraction is not None and val_fraction != recorded:
                raise ConfigError(f"{root} holds a validation split of {recorded:g} of train, not {val_fraction:g}; "
                                  f"drop --val-fraction (or pass {recorded:g}) or use another --run-dir")
            return run
        check_run_folder(root)
        root.mkdir(parents=True, exist_ok=True)
        given = {} if val_fraction is None else {"val_fraction": val_fraction}
        manifest = RunManifest(dataset=dataset, seed=seed, **given)
        atomic_write_text(run.manifest_path, manifest.model_dump_json(indent=2))
        return run

    def check_dataset(self, dataset: DatasetRecord) -> None:
        """Refuse to mix datasets: the fingerprint recorded in run.json must match."""
        recorded = self.manifest().dataset
        if recorded.fingerprint != dataset.fingerprint:
            raise StaleInputError(
                f"{self.root} was made for dataset {recorded.spec!r} (fingerprint {recorded.fingerprint[:12]}), "
                f"but the data now loaded as {dataset.spec!r} has fingerprint {dataset.fingerprint[:12]}; "
                "use another --run-dir or restore the original files"
            )

    def step(self, kind: str, name: str) -> StepDir:
        """Return the step folder ``<kind>/<name>``."""
        return StepDir(self.root, kind, name)

    def step_lock(self, kind: str, name: str) -> Path:
        """Return the lock file held while step ``<kind>/<name>`` is written."""
        return self.root / kind / f".{name}.lock"

    def kind_folder(self, kind: str) -> Path:
        """Return the folder holding every step of a kind (``<run>/pools``), for messages."""
        return self.root / kind

    def name_in(self, kind: str, text: str) -> str:
        """Return the step name a user wrote as ``NAME`` or ``<kind>/NAME``."""
        return text.strip().rstrip("/").removeprefix(f"{kind}/")

    def steps(self, kind: str) -> list[StepDir]:
        """Return every step folder of a kind (finished or not), sorted by name."""
        return step_folders(self.root, kind)

    def finished(self, kind: str) -> list[StepDir]:
        """Return the finished steps of a kind."""
        return [s for s in self.steps(kind) if s.is_finished()]

    def finished_step(self, kind: str, name: str, config: dict[str, Any], force: bool = False,
                      reads: dict[str, list[str]] | None = None) -> StepManifest | None:
        """The one finished-or-refuse rule: return the manifest of a step kept as it is, None for a step to write.

        A step that finished with the same settings (``config`` without
        :data:`~alpool.rundir.run_index.RERUN_IGNORED`), on the same upstream steps (``reads``, see
        :func:`~alpool.rundir.run_index.finished_same`) and with unchanged inputs is kept (and indexed in
        run.json when it was not); ``force`` redoes any step; an unfinished step is written (or resumed).

        Raises:
            StepExistsError: the step finished with other settings (or upstream steps) and ``force`` is false.
            StaleInputError: the step finished with the same settings, but an input changed since.
        """
        if force:
            return None
        step = self.step(kind, name)
        manifest = run_index.finished_same(step, config, reads)
        if manifest is not None:
            self.record_step(step, now=False)  # a finished step found on disk is always indexed
        return manifest

    def refuse_finished(self, kind: str, name: str, config: dict[str, Any], force: bool = False) -> None:
        """Apply :meth:`finished_step` before a step does any work.

        Raises:
            AlreadyFinishedError: the step finished with the same settings (nothing to do; the CLI exits 0).
            StepExistsError: the step finished with other settings and ``force`` is false.
            StaleInputError: the step finished with the same settings, but an input changed since.
        """
        if self.finished_step(kind, name, config, force) is not None:
            raise self.already_finished(f"step {kind}/{name}")

    def already_finished(self, what: str) -> AlreadyFinishedError:
        """Return the error that says ``what`` (a step, or a group of pools) is kept as it is."""
        return AlreadyFinishedError(f"{what} already finished in {self.root} with the same settings: kept it "
                                    "(pass --force to redo it)", root=self.root)

    @contextmanager
    def writing(self, kind: str, name: str, config: dict[str, Any], force: bool = False,
                resume: bool = False) -> Iterator[StepWriter]:
        """Open a step for writing under a lock.

        Args:
            kind: step kind (``pretrain``, ``scores``, ...).
            name: step name (folder).
            config: the step's full config, recorded in the manifest.
            force: redo a finished step.
            resume: keep an unfinished step's files (checkpoints, finished episodes); otherwise an
                unfinished folder is cleared first.

        A user error (:class:`AlpoolError`) raised inside removes what this call wrote when nothing
        of it can be resumed: the whole folder of a step that does not resume, and a folder this call
        created that holds no work yet (only ``config.json`` / ``inputs.json``).

        Raises:
            AlreadyFinishedError: the step finished with the same settings (nothing to do).
            StepExistsError: the step finished with other settings and ``force`` is false.
            LockedError: another process writes the step.
        """
        self.manifest()  # the run must exist
        step = self.step(kind, name)
        with file_lock(self.step_lock(kind, name), f"step {step.label}"):
            self.refuse_finished(kind, name, config, force)
            if step.is_finished():  # unindexed first: a crash between leaves a step the index lacks
                sync_index(self.root, step, remove=True, wait=self.index_wait)
                step.manifest_path.unlink()
            created = not step.path.exists()
            if step.path.exists() and not resume:
                shutil.rmtree(step.path)
            step.path.mkdir(parents=True, exist_ok=True)
            try:
                with reporting.recording_warnings() as said:
                    yield StepWriter(self, step, config, resume, said)
            except AlpoolError:
                if not step.is_finished() and (not resume or (created and not _holds_work(step.path))):
                    shutil.rmtree(step.path, ignore_errors=True)
                raise

    def record_step(self, step: StepDir, now: bool = True) -> None:
        """Add a finished step to run.json's steps index (and any other finished one it lacks).

        With ``now`` false the step is only added when missing (a step found finished on disk).
        """
        try:
            sync_index(self.root, step if now else None, wait=self.index_wait)
        except LockedError as exc:  # the step is finished on disk; the next command indexes it
            reporting.warning(f"step {step.label} finished, but run.json's index was not updated: {exc}; "
                              "the next alpool command in this run adds it")


def _holds_work(folder: Path) -> bool:
    """Return whether a step folder holds more than its settings (work that a resume keeps)."""
    return any(p.is_dir() or p.name not in (SETTINGS_FILE, INPUTS_FILE) for p in folder.iterdir())


def check_run_folder(root: Path) -> None:
    """Refuse a run directory path that cannot become one (a file, or a folder under a file)."""
    for path in (root, *root.parents):
        if path.exists() and not path.is_dir():
            raise NotWritableError(f"run directory {root}: {path} is a file, not a folder; "
                                   "pass another --run-dir (or move the file away)")
        if path.exists():
            return


def check_recorded_inputs(step: StepDir, writer_inputs: dict[str, str]) -> None:
    """Refuse to resume a step whose recorded inputs differ from the current ones."""
    path = step.path / INPUTS_FILE
    if not path.exists():
        return
    recorded = json.loads(path.read_text())
    for rel, digest in writer_inputs.items():
        if rel in recorded and recorded[rel] != digest:
            raise StaleInputError(
                f"step {step.label} was started with {rel} sha256 {recorded[rel][:12]}, but it is now "
                f"{digest[:12]}; pass --force to start over with the new input"
            )


def step_folder(run_dir: Path, manifest: StepManifest) -> Path:
    """Return the folder of the step that ``manifest`` describes, in ``run_dir`` (for the CLI's summary line)."""
    return RunDir(run_dir).step(manifest.kind, manifest.name).path
