"""Reruns and the steps index of ``run.json``: idempotent reruns, and no finished step left unindexed.

A rerun of a finished step with the same settings is not an error: it is answered with
:class:`~alpool.core.errors.AlreadyFinishedError` (the CLI prints "already finished" and exits 0), so that
retry loops and ``make``-style scripts work. The settings compared are the step's recorded config
without :data:`RERUN_IGNORED` (how a step runs, not what it computes); a rerun with other settings
still needs ``--force``, and a finished step whose recorded inputs changed since is refused.

The index in ``run.json`` is a convenience view of the finished step folders: the folders (their
``manifest.json``) are the truth. Every index update also adds finished steps that a crashed or
locked-out process left unindexed, so a later command repairs the index.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alpool.core.atomic_files import atomic_write_text, file_lock, sha256_file
from alpool.core.errors import StaleInputError, StepExistsError
from alpool.rundir.manifests import (
    RUN_LOCK,
    RUN_MANIFEST,
    STEP_KINDS,
    RunManifest,
    StepManifest,
    StepRef,
    now_iso,
    read_model,
)
from alpool.rundir.step_dir import StepDir, step_folders

# The settings that do not count, for both rules of the run directory: a rerun of a finished step
# (finished_same) and a resumed unfinished one (rundir.StepWriter.keep_settings). force: the
# request to redo; name: the folder itself; workers, device, execution: where it ran; data_dir,
# download: where the files came from (the dataset fingerprint in run.json decides) - never what it computed.
RERUN_IGNORED = frozenset({"force", "workers", "device", "execution", "data_dir", "download", "name"})
INDEX_WAIT_SECONDS = 60.0  # how long an index update waits for another process's run.json lock


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """Return the settings of a step config that decide its outputs, nested keys dotted (``train.lr``)."""
    plain = json.loads(json.dumps(config, default=str))
    return flat_settings({k: v for k, v in plain.items() if k not in RERUN_IGNORED})


def flat_settings(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return nested settings as one level with dotted keys (``{"train": {"lr": 1}}`` -> ``train.lr``)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flat_settings(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def finished_same(step: StepDir, config: dict[str, Any], reads: dict[str, list[str]] | None = None
                  ) -> StepManifest | None:
    """Return the manifest of ``step`` if it finished with the same settings as ``config``.

    ``reads`` names the upstream steps of a kind the step would read now (``{"pools": [...]}``) when its
    config does not (al-run without ``--pool`` reads every finished pool): a finished step that read
    other steps of that kind is not the same.

    Returns:
        None when the step is not finished (it is to be done).

    Raises:
        StepExistsError: the step finished with other settings or on other upstream steps (names the first that
            differs).
        StaleInputError: the step finished with the same settings, but an input changed since.
    """
    if not step.is_finished():
        return None
    manifest = step.manifest()
    recorded, wanted = comparable(manifest.config), comparable(config)
    if recorded != wanted:
        key = next(k for k in (*wanted, *recorded) if recorded.get(k) != wanted.get(k))  # in config order
        raise StepExistsError(
            f"step {step.label} already exists in {step.root}, made with {key}={recorded.get(key)!r} "
            f"(now {wanted.get(key)!r}); pass --force to redo it or choose another --name"
        )
    for kind, names in (reads or {}).items():
        read = sorted({rel.split("/")[1] for rel in manifest.inputs if rel.startswith(f"{kind}/")})
        if read and read != sorted(names):
            raise StepExistsError(f"step {step.label} finished on {kind} {', '.join(read)}, but now "
                                  f"{', '.join(sorted(names))}; pass --force to redo it or choose another --name")
    for relative, digest in manifest.inputs.items():
        path = step.root / relative
        current = sha256_file(path) if path.is_file() else "missing"
        if current != digest:
            raise StaleInputError(
                f"step {step.label} finished with {relative} sha256 {digest[:12]}, but it is now "
                f"{current[:12]}; pass --force to redo the step with the new input"
            )
    return manifest


def sync_index(root: Path, step: StepDir | None = None, remove: bool = False,
               wait: float = INDEX_WAIT_SECONDS) -> None:
    """Update ``run.json``'s steps index under its lock (waiting up to ``wait`` seconds).

    ``step`` is (re)recorded as finished now, or dropped with ``remove``; every other finished step
    folder missing from the index is added (with its manifest's modification time). ``run.json`` is
    only rewritten when the index changes.
    """
    path = root / RUN_MANIFEST
    with file_lock(root / RUN_LOCK, f"the steps index of {root} ({RUN_MANIFEST})", wait=wait):
        manifest: RunManifest = read_model(path, RunManifest)
        target = (step.kind, step.name) if step is not None else None
        steps = [s for s in manifest.steps if (s.kind, s.name) != target]
        if step is not None and not remove:
            steps.append(StepRef(kind=step.kind, name=step.name, finished_at=now_iso()))
        known = {(s.kind, s.name) for s in steps} | ({target} if remove and target else set())
        for found in unindexed(root, known):
            steps.append(StepRef(kind=found.kind, name=found.name, finished_at=_mtime(found.manifest_path)))
        if steps != manifest.steps:
            updated = manifest.model_copy(update={"steps": steps})
            atomic_write_text(path, updated.model_dump_json(indent=2))


def unindexed(root: Path, known: set[tuple[str, str]]) -> list[StepDir]:
    """Return the finished step folders of the run directory ``root`` that are not in ``known``."""
    return [s for kind in STEP_KINDS for s in step_folders(root, kind)
            if s.is_finished() and (s.kind, s.name) not in known]


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
