"""Run directory: manifests round-trip, migration, atomic writes, locks, refusals."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from alpool.core.atomic_files import atomic_save_array, file_lock, load_array
from alpool.core.errors import (
    AlreadyFinishedError,
    CorruptFileError,
    LockedError,
    MissingStepError,
    SchemaError,
    StaleInputError,
    StepExistsError,
)
from alpool.rundir.last_run import last_run, remember_run
from alpool.rundir.manifests import (
    SCHEMA_VERSION,
    DatasetRecord,
    RunManifest,
    StepManifest,
    migrate,
    read_model,
)
from alpool.rundir.run_dir import RunDir


def record(fingerprint: str = "abc") -> DatasetRecord:
    return DatasetRecord(spec="digits", fingerprint=fingerprint, n_train=10, n_test=5, n_classes=2,
                         image_shape=(1, 8, 8), classes=["a", "b"])


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path / "run", record(), seed=3)


def finish_step(run: RunDir, name: str = "s", force: bool = False) -> StepManifest:
    with run.writing("scores", name, {"k": 1}, force=force) as w:
        w.save_array("scores.npy", np.arange(5.0))
        return w.finish({"mean": 2.0})


def test_run_manifest_round_trip(run: RunDir) -> None:
    manifest = run.manifest()
    assert manifest.seed == 3 and manifest.schema_version == SCHEMA_VERSION
    assert RunManifest.model_validate_json(manifest.model_dump_json()) == manifest


def test_step_manifest_records_outputs_and_index(run: RunDir) -> None:
    manifest = finish_step(run)
    assert set(manifest.outputs) == {"scores.npy"}
    again = run.step("scores", "s").manifest()
    assert again == manifest
    assert [(s.kind, s.name) for s in run.manifest().steps] == [("scores", "s")]
    assert run.step("scores", "s").read_array("scores.npy").tolist() == [0, 1, 2, 3, 4]


def test_finished_step_is_not_overwritten_without_force(run: RunDir) -> None:
    finish_step(run)
    with pytest.raises(StepExistsError, match="--force"):
        finish_step(run)
    assert run.step("scores", "s").is_finished()  # untouched
    finish_step(run, force=True)


def test_unfinished_step_is_not_read(run: RunDir) -> None:
    with pytest.raises(RuntimeError), run.writing("scores", "half", {}) as w:
        w.save_array("scores.npy", np.zeros(3))
        raise RuntimeError("killed")
    with pytest.raises(MissingStepError, match="unfinished"):
        run.step("scores", "half").manifest()
    assert run.finished("scores") == []


def test_missing_step_names_the_command(run: RunDir) -> None:
    with pytest.raises(MissingStepError, match="alpool pretrain --task vae"):
        run.step("pretrain", "vae").manifest()


def test_changed_output_is_refused_with_both_hashes(run: RunDir) -> None:
    finish_step(run)
    atomic_save_array(run.step("scores", "s").file("scores.npy"), np.ones(5))
    with pytest.raises(CorruptFileError, match="manifest records"):
        run.step("scores", "s").read_array("scores.npy")


def test_corrupt_npy_and_manifest_give_clear_errors(run: RunDir, tmp_path: Path) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(CorruptFileError, match="not a readable .npy"):
        load_array(bad)
    finish_step(run)
    run.step("scores", "s").manifest_path.write_text("{ broken")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        run.step("scores", "s").manifest()


def test_dataset_fingerprint_change_is_refused(run: RunDir) -> None:
    with pytest.raises(StaleInputError, match="abc") as info:
        RunDir.create(run.root, record("def"), seed=3)
    assert "def" in str(info.value)


def test_newer_schema_is_refused(run: RunDir) -> None:
    data = json.loads(run.manifest_path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    run.manifest_path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="upgrade alpool"):
        run.manifest()


def test_older_schema_is_migrated(run: RunDir) -> None:
    data = json.loads(run.manifest_path.read_text())
    data["schema_version"] = 0
    del data["alpool_version"]
    run.manifest_path.write_text(json.dumps(data))
    manifest = read_model(run.manifest_path, RunManifest)
    assert manifest.schema_version == SCHEMA_VERSION and manifest.alpool_version == "0.0.0"
    assert migrate({"schema_version": SCHEMA_VERSION}, run.manifest_path) == {"schema_version": SCHEMA_VERSION}


def test_unknown_manifest_field_is_refused(run: RunDir) -> None:
    data = json.loads(run.manifest_path.read_text())
    data["surprise"] = 1
    run.manifest_path.write_text(json.dumps(data))
    with pytest.raises(SchemaError, match="surprise"):
        run.manifest()


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "a" / "x.npy"
    atomic_save_array(path, np.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["x.npy"]


def _hold_lock(path: str, ready, release) -> None:  # type: ignore[no-untyped-def]
    with file_lock(Path(path), "step x"):
        ready.set()
        release.wait(10)


def test_lock_refuses_a_second_writer(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path / ".lock"), ready, release))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockedError, match="another alpool process"), file_lock(tmp_path / ".lock", "step x"):
            pass
    finally:
        release.set()
        proc.join(10)
    with file_lock(tmp_path / ".lock", "step x"):  # free again
        pass


def test_pointer_file_remembers_the_last_run(tmp_path: Path) -> None:
    assert last_run(tmp_path) is None
    remember_run(tmp_path / "runs" / "x", cwd=tmp_path)
    assert last_run(tmp_path) == (tmp_path / "runs" / "x").resolve()


def test_one_finished_or_refuse_rule(run: RunDir) -> None:
    """RunDir.finished_step decides for every step: kept with the same settings, refused with others, force redoes."""
    assert run.finished_step("scores", "s", {"k": 1}) is None  # not finished yet: to write
    manifest = finish_step(run)
    same = {"k": 1, "workers": 4, "device": "cpu", "name": "other", "force": False}  # settings that do not count
    assert run.finished_step("scores", "s", same) == manifest
    with pytest.raises(AlreadyFinishedError, match=r"already finished .* \(pass --force to redo it\)") as kept:
        run.refuse_finished("scores", "s", same)
    assert kept.value.root == run.root
    with pytest.raises(StepExistsError, match=r"made with k=1 \(now 2\); pass --force"):
        run.finished_step("scores", "s", {"k": 2})
    assert run.finished_step("scores", "s", {"k": 2}, force=True) is None


def test_a_resumed_step_ignores_the_same_settings_as_a_rerun(run: RunDir) -> None:
    """One list (run_index.RERUN_IGNORED) for reruns and resumes: only settings that count refuse a resume."""
    with pytest.raises(RuntimeError), run.writing("al", "x", {"k": 1, "workers": 1, "name": None}, resume=True) as w:
        w.keep_settings()
        raise RuntimeError("killed")
    with run.writing("al", "x", {"k": 1, "workers": 3, "name": "x"}, resume=True) as w:
        w.keep_settings()  # other workers and name: resumed
    with pytest.raises(StaleInputError, match="started with k=1, now 2"), \
            run.writing("al", "x", {"k": 2}, resume=True) as w:
        w.keep_settings()


def test_only_the_run_directory_spells_the_finished_rule() -> None:
    """No stage decides "finished, so refuse or keep" itself: they ask RunDir.finished_step / refuse_finished."""
    src = Path(__file__).resolve().parents[1] / "src" / "alpool"
    pending: set[str] = set()  # none left
    spelled = ("is_finished() and not", "already exists in", "already finished in", "finished_same(")
    offenders = [f"{path.relative_to(src)}: {text}" for path in sorted(src.rglob("*.py"))
                 if path.parent.name != "rundir" and str(path.relative_to(src)) not in pending
                 for text in spelled if text in path.read_text()]
    assert offenders == []
