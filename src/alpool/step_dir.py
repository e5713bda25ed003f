"""A finished (or unfinished) step folder of a run directory, and the log of the files a step reads.

Split from :mod:`alpool.rundir`, which re-exports both names: ``RunDir.step(kind, name)`` returns a
:class:`StepDir`; :class:`InputLog` is the base of ``rundir.StepWriter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alpool.atomic_files import load_array, sha256_file
from alpool.errors import CorruptFileError, MissingStepError
from alpool.manifests import STEP_KINDS, StepManifest, read_model

if TYPE_CHECKING:
    from alpool.rundir import RunDir

COMMAND_OF_KIND = {
    "pretrain": "alpool pretrain --task {name} DATASET",
    "scores": "alpool rank --scorer {name}",
    "pools": "alpool init-pool --name {name} ...",
    "al": "alpool al-run --name {name} ...",
    "analysis": "alpool analyze ...",
    "labels": "alpool import-labels FILE.csv --name {name}",
    "exports": "alpool export {name}",
}


class StepDir:
    """One step folder ``<run>/<kind>/<name>``."""

    def __init__(self, run: RunDir, kind: str, name: str) -> None:
        if kind not in STEP_KINDS:
            raise ValueError(f"unknown step kind {kind!r}")
        self.run = run
        self.kind = kind
        self.name = name
        self.path = run.root / kind / name

    @property
    def label(self) -> str:
        """Return '<kind>/<name>' for messages."""
        return f"{self.kind}/{self.name}"

    @property
    def manifest_path(self) -> Path:
        """Return the manifest's path."""
        return self.path / "manifest.json"

    def is_finished(self) -> bool:
        """Return whether the step has a manifest (it may still fail validation)."""
        return self.manifest_path.exists()

    def manifest(self) -> StepManifest:
        """Read the finished step's manifest or say which command makes it."""
        if not self.is_finished():
            state = "is unfinished" if self.path.exists() else "does not exist"
            command = COMMAND_OF_KIND[self.kind].format(name=self.name)
            raise MissingStepError(f"step {self.label} in {self.run.root} {state}; run `{command}` first")
        manifest: StepManifest = read_model(self.manifest_path, StepManifest)
        return manifest

    def file(self, relative: str) -> Path:
        """Return the path of a file inside the step."""
        return self.path / relative

    def read_array(self, relative: str, verify: bool = True) -> np.ndarray:
        """Load an output array of this finished step, checking its recorded hash."""
        manifest = self.manifest()
        path = self.file(relative)
        if verify and relative in manifest.outputs:
            self._verify(relative, manifest.outputs[relative])
        return load_array(path)

    def verify(self, relative: str) -> None:
        """Check an output file of this finished step against the sha256 its manifest records."""
        expected = self.manifest().outputs.get(relative)
        if expected is not None:
            self._verify(relative, expected)

    def _verify(self, relative: str, expected: str) -> None:
        path = self.file(relative)
        if not path.exists():
            raise CorruptFileError(f"{path} is missing; redo step {self.label} with --force")
        actual = sha256_file(path)
        if actual != expected:
            raise CorruptFileError(
                f"{path} has sha256 {actual[:12]}, but its manifest records {expected[:12]}; "
                f"the file changed after the step finished: redo step {self.label} with --force"
            )


class InputLog:
    """Records ``{relative path: sha256}`` of the run-directory files a step (or one of its jobs) reads."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.inputs: dict[str, str] = {}

    def record_input(self, path: Path) -> Path:
        """Record that the step reads ``path`` (a file of the run directory) and return it."""
        self.inputs[str(path.resolve().relative_to(self.run.root.resolve()))] = sha256_file(path)
        return path

    def record_step_input(self, upstream: StepDir, relative: str) -> Path:
        """Record an input file of a finished upstream step, verified against its manifest."""
        manifest = upstream.manifest()
        if relative in manifest.outputs:
            upstream._verify(relative, manifest.outputs[relative])
        return self.record_input(upstream.file(relative))
