"""A finished (or unfinished) step folder of a run directory, and the log of the files a step reads.

Split from :mod:`alpool.rundir.run_dir`, which re-exports both names: ``RunDir.step(kind, name)`` returns a
:class:`StepDir`; :class:`InputLog` is the base of ``rundir.StepWriter``. Both know only the run's
root folder, never the ``RunDir`` itself, so that this module sits below it (no import circle).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpool.core.atomic_files import array_from_buffer, load_array, read_hashed, sha256_file
from alpool.core.errors import CorruptFileError, MissingStepError
from alpool.rundir.manifests import STEP_KINDS, StepManifest, read_model

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

    def __init__(self, root: Path, kind: str, name: str) -> None:
        if kind not in STEP_KINDS:
            raise ValueError(f"unknown step kind {kind!r}")
        self.root = root  # the run directory
        self.kind = kind
        self.name = name
        self.path = root / kind / name

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
            raise MissingStepError(f"step {self.label} in {self.root} {state}; run `{command}` first")
        manifest: StepManifest = read_model(self.manifest_path, StepManifest)
        return manifest

    def file(self, relative: str) -> Path:
        """Return the path of a file inside the step."""
        return self.path / relative

    def read_array(self, relative: str, verify: bool = True) -> np.ndarray:
        """Load an output array of this finished step, checking its recorded hash (one read of the file)."""
        if verify:
            return self.read_verified(relative)[0]
        self.manifest()  # finished, or say which command makes it
        return load_array(self.file(relative))

    def read_verified(self, relative: str) -> tuple[np.ndarray, str]:
        """Load an output array of this finished step from one read; return it with its checked sha256."""
        expected = self.manifest().outputs.get(relative)
        path = self.file(relative)
        if expected is not None and not path.exists():
            raise CorruptFileError(f"{path} is missing; redo step {self.label} with --force")
        data, digest = read_hashed(path)
        if expected is not None:
            self._check_digest(relative, expected, digest)
        return array_from_buffer(data, path), digest

    def verify(self, relative: str) -> None:
        """Check an output file of this finished step against the sha256 its manifest records."""
        expected = self.manifest().outputs.get(relative)
        if expected is not None:
            self._verify(relative, expected)

    def _verify(self, relative: str, expected: str) -> str:
        """Hash an output file once, check it against ``expected`` and return the hash."""
        path = self.file(relative)
        if not path.exists():
            raise CorruptFileError(f"{path} is missing; redo step {self.label} with --force")
        actual = sha256_file(path)
        self._check_digest(relative, expected, actual)
        return actual

    def _check_digest(self, relative: str, expected: str, actual: str) -> None:
        if actual != expected:
            raise CorruptFileError(
                f"{self.file(relative)} has sha256 {actual[:12]}, but its manifest records {expected[:12]}; "
                f"the file changed after the step finished: redo step {self.label} with --force"
            )


def step_folders(root: Path, kind: str) -> list[StepDir]:
    """Return every step folder of a kind in the run directory ``root`` (finished or not), sorted by name."""
    folder = root / kind
    if not folder.is_dir():
        return []
    return [StepDir(root, kind, p.name) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]


class InputLog:
    """Records ``{relative path: sha256}`` of the run-directory files a step (or one of its jobs) reads."""

    def __init__(self, root: Path) -> None:
        self.root = root  # the run directory: inputs are recorded relative to it
        self.inputs: dict[str, str] = {}

    def record_input(self, path: Path, digest: str | None = None) -> Path:
        """Record that the step reads ``path`` (a file of the run directory; ``digest``: its known sha256)."""
        key = str(path.resolve().relative_to(self.root.resolve()))
        self.inputs[key] = digest if digest is not None else sha256_file(path)
        return path

    def record_step_input(self, upstream: StepDir, relative: str, digest: str | None = None) -> Path:
        """Record an input file of a finished upstream step, verified against its manifest (hashed once).

        ``digest``: the sha256 of a file already read and verified (:meth:`StepDir.read_verified`),
        so that it is not hashed again.
        """
        expected = upstream.manifest().outputs.get(relative)
        if digest is not None and expected is not None:
            upstream._check_digest(relative, expected, digest)
        elif expected is not None:
            digest = upstream._verify(relative, expected)
        return self.record_input(upstream.file(relative), digest)
