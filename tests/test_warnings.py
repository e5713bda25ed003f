"""One warning route: ``reporting.warning``, shown by the CLI also under -q and recorded in the step's manifest."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from alpool.core import reporting
from alpool.core.errors import AlpoolWarning
from alpool.rundir.manifests import DatasetRecord, StepManifest, read_model
from alpool.rundir.run_dir import RunDir

SRC = Path(__file__).resolve().parents[1] / "src" / "alpool"


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    record = DatasetRecord(spec="digits", fingerprint="abc", n_train=10, n_test=5, n_classes=2,
                           image_shape=(1, 8, 8), classes=["a", "b"])
    return RunDir.create(tmp_path / "run", record, seed=0)


def test_a_warning_is_recorded_in_the_manifest_of_the_step_it_belongs_to(run: RunDir) -> None:
    with pytest.warns(AlpoolWarning, match="checked before the folder"):
        reporting.warning("checked before the folder")  # no step open: the next step takes it
    with pytest.warns(AlpoolWarning, match="inside the step"), run.writing("pools", "p", {"a": 1}) as w:
        reporting.warning("inside the step")
        manifest = w.finish({})
    assert manifest.warnings == ["checked before the folder", "inside the step"]
    assert run.step("pools", "p").manifest().warnings == manifest.warnings  # on disk
    with run.writing("pools", "q", {"a": 2}) as w:
        assert w.finish({}).warnings == []  # taken once


def test_a_manifest_without_warnings_still_loads(run: RunDir, tmp_path: Path) -> None:
    with run.writing("pools", "p", {"a": 1}) as w:
        w.finish({})
    path = run.step("pools", "p").manifest_path
    data = json.loads(path.read_text())
    del data["warnings"]
    data["schema_version"] = 1  # written by alpool before step manifests recorded warnings
    path.write_text(json.dumps(data))
    assert read_model(path, StepManifest).warnings == []


def test_plain_and_quiet_renderers_show_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    from alpool.cli.common import reporter

    stream = io.StringIO()
    previous = reporting.set_reporter(reporting.PlainReporter(stream))
    try:
        reporting.info("a note")
        reporting.warning("something odd")
        reporting.set_reporter(reporter(quiet=True))
        reporting.info("hidden under -q")
        reporting.warning("shown under -q")
    finally:
        reporting.set_reporter(previous)
        reporting.forget_pending()
    assert stream.getvalue().splitlines() == ["a note", "warning: something odd"]
    assert capsys.readouterr().err.strip().splitlines() == ["warning: shown under -q"]


def test_library_code_warns_only_through_reporting() -> None:
    """No bare print to stderr, no ``info("warning: ...")`` and no own ``warnings.warn`` below the CLI."""
    spelled = re.compile(r"file=sys\.stderr|reporting\.info\(f?[\"']warning|warnings\.warn\(")
    offenders = [f"{path.relative_to(SRC)}:{n}" for path in sorted(SRC.rglob("*.py"))
                 if path.parts[len(SRC.parts)] != "cli" and path.name != "reporting.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1) if spelled.search(line)]
    assert offenders == []
