"""A real Label Studio server in the loop: alpool's export imports with no manual step, its exports import back.

Needs Label Studio in its own virtualenv (it pins Django and friends): ``nox -s integration``
installs it in ``.nox/label-studio`` and points ``ALPOOL_LABEL_STUDIO`` at its ``label-studio``
command. Without it the test is skipped, unless ``ALPOOL_REQUIRE_LABEL_STUDIO=1`` (set by the nox
session) makes that a failure.

What it does, as a person would: start the server with the environment ``alpool export`` prints,
create a project from ``label_config.xml``, add the local-files storage, import
``label_studio.json``, fetch every task's image (the exact bytes of the file), annotate through
the API (one skipped task, one cancelled annotation), export CSV, JSON and JSON_MIN, import them
into alpool, run ``next``, and do a second round with the class list the first one declared.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from folder_data import make_image_folder
from test_cli import invoke

pytestmark = pytest.mark.slow

TOKEN = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"
AWKWARD = ["a+b.png", "c#d.png", "e&f g.png", " lead.png", "été.png", "q?x=1.png", "100%.png"]


def label_studio_command() -> str | None:
    """Return the ``label-studio`` command to run, if there is one."""
    given = os.environ.get("ALPOOL_LABEL_STUDIO")
    for candidate in (given, ".nox/label-studio/bin/label-studio", shutil.which("label-studio")):
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())
    return None


class Studio:
    """A Label Studio server reached through its HTTP API with a token."""

    def __init__(self, url: str) -> None:
        self.url = url

    def request(self, method: str, path: str, body: Any = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as response:
            return bytes(response.read())

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self.request(method, path, body) or b"null")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder of 30 PNGs, some with names a URL must encode; return (folder, truth)."""
    root = tmp_path_factory.mktemp("ls") / "my photos"
    truth = make_image_folder(root, per_kind=10, size=16, nested=True)
    for old, new in zip(sorted(truth)[:len(AWKWARD)], AWKWARD, strict=True):
        target = str(Path(old).parent / new)
        (root / old).rename(root / target)
        truth[target] = truth.pop(old)
    return root, truth


@pytest.fixture(scope="module")
def studio(photos: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """Start Label Studio with the environment alpool's export prints (document root: the folder's parent)."""
    command = label_studio_command()
    if command is None:
        if os.environ.get("ALPOOL_REQUIRE_LABEL_STUDIO") == "1":
            pytest.fail("Label Studio is not installed: run `nox -s integration` (or set ALPOOL_LABEL_STUDIO)")
        pytest.skip("Label Studio is not installed (nox -s integration installs it)")
    data = tmp_path_factory.mktemp("ls-data")
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(photos[0].parent),
           "LATEST_VERSION_CHECK": "false",  # the check hangs without internet
           "LABEL_STUDIO_BASE_DATA_DIR": str(data), "DJANGO_DB": "sqlite"}
    log = (data / "server.log").open("wb")
    server = subprocess.Popen(
        [command, "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port), "--data-dir", str(data),
         "--username", "alpool@example.com", "--password", "alpool-test-pw", "--user-token", TOKEN,
         "--enable-legacy-api-token"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + float(os.environ.get("ALPOOL_LABEL_STUDIO_START_S", "900"))
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Label Studio did not start: {(data / 'server.log').read_text()[-2000:]}")
                time.sleep(2)
        yield Studio(url)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def project_from_export(studio: Studio, export: Path, title: str, folder: Path) -> int:
    """Create a project from alpool's files as the printed steps say; return its id."""
    project = studio.api("POST", "/api/projects", {"title": title,
                                                   "label_config": (export / "label_config.xml").read_text()})
    setup = json.loads((export / "manifest.json").read_text())["summary"]["label_studio"]
    assert setup["storage_path"] == str(folder.resolve())
    studio.api("POST", "/api/storages/localfiles", {"project": project["id"], "path": setup["storage_path"],
                                                    "title": "photos", "use_blob_urls": True})
    tasks = json.loads((export / "label_studio.json").read_text())
    imported = studio.api("POST", f"/api/projects/{project['id']}/import", tasks)
    assert imported["task_count"] == len(tasks)
    return int(project["id"])


def tasks_of(studio: Studio, project: int) -> list[dict[str, Any]]:
    return list(studio.api("GET", f"/api/tasks?project={project}&page_size=1000")["tasks"])


def annotate(studio: Studio, project: int, truth: dict[str, str], field: str, skip: int = 0) -> int:
    """Label every task from the hidden truth (the first ``skip`` are cancelled); return the labels given."""
    given = 0
    for n, task in enumerate(tasks_of(studio, project)):
        if n < skip:
            studio.api("POST", f"/api/tasks/{task['id']}/annotations?project={project}",
                       {"result": [], "was_cancelled": True})
            continue
        label = truth[task["data"]["path"]]
        value = {"choices": [label]} if field == "choices" else {"text": [label]}
        studio.api("POST", f"/api/tasks/{task['id']}/annotations?project={project}",
                   {"result": [{"from_name": "label", "to_name": "image", "type": field, "value": value}]})
        given += 1
    return given


def export_all(studio: Studio, project: int, folder: Path) -> dict[str, Path]:
    """Download the project's CSV, JSON and JSON_MIN exports."""
    files = {}
    for kind, suffix in (("CSV", "csv"), ("JSON", "json"), ("JSON_MIN", "min.json")):
        files[kind] = folder / f"project-{project}.{suffix}"
        files[kind].write_bytes(studio.request("GET", f"/api/projects/{project}/export?exportType={kind}"))
    return files


def labels_of(run: Path, round_name: str) -> dict[str, str]:
    with (run / "labels" / round_name / "labels.csv").open(newline="") as handle:
        return {r["path"]: r["label"] for r in csv.DictReader(handle)}


def test_two_rounds_through_a_real_label_studio(photos: tuple[Path, dict[str, str]], studio: Studio,
                                                tmp_path: Path) -> None:
    folder, truth = photos
    run = str(tmp_path / "run")
    figures: dict[str, Any] = {}
    fast = ["--param", "epochs=2", "--param", "latent_dim=8", "--param", "batch_size=16"]
    for step in (["pretrain", "--task", "vae", f"images:{folder}", *fast],
                 ["init-pool", "--strategy", "random", "--budget", "10"], ["export", "random-10"]):
        result = invoke(*step, "--run-dir", run)
        assert result.exit_code == 0, (step, result.output)
    assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=" in result.output and str(folder) in result.output

    # round 1: free-text labels (no class list yet); two tasks skipped
    export = tmp_path / "run" / "exports" / "random-10"
    project = project_from_export(studio, export, "round one", folder)
    tasks = tasks_of(studio, project)
    served = sum(studio.request("GET", t["data"]["image"]) == (folder / t["data"]["path"]).read_bytes()
                 for t in tasks)
    assert served == len(tasks) == 10
    figures["round 1"] = {"tasks imported": len(tasks), "images served identical": served}
    labelled = annotate(studio, project, truth, "textarea", skip=2)
    files = export_all(studio, project, tmp_path)
    result = invoke("import-labels", str(files["JSON"]), "--run-dir", run)
    assert result.exit_code == 0 and f"{labelled} labels imported" in result.output, result.output
    assert "declared the classes" in result.output
    expected = {t["data"]["path"]: truth[t["data"]["path"]] for t in tasks[2:]}
    assert labels_of(tmp_path / "run", "round-001") == expected
    for kind in ("CSV", "JSON_MIN", "JSON"):  # the same labels in every format: nothing new, exit 0
        result = invoke("import-labels", str(files[kind]), "--run-dir", run)
        assert result.exit_code == 0 and "already" in result.output, (kind, result.output)
    figures["round 1"]["labels imported"] = len(expected)

    result = invoke("next", "--budget", "6", "--folds", "2", "--run-dir", run)
    assert result.exit_code == 0, result.output
    export2 = tmp_path / "run" / "exports" / "next-002"
    config = (export2 / "label_config.xml").read_text()
    assert "<Choices" in config and all(f'"{c}"' in config for c in set(expected.values()))

    # round 2: the classes as choices; a class the first round missed is added on purpose
    project2 = project_from_export(studio, export2, "round two", folder)
    tasks2 = tasks_of(studio, project2)
    served2 = sum(studio.request("GET", t["data"]["image"]) == (folder / t["data"]["path"]).read_bytes()
                  for t in tasks2)
    assert served2 == len(tasks2) == 6
    annotate(studio, project2, truth, "choices")
    files2 = export_all(studio, project2, tmp_path)
    missing = sorted({truth[t["data"]["path"]] for t in tasks2} - set(expected.values()))
    adds = [a for c in missing for a in ("--new-class", c)]
    result = invoke("import-labels", str(files2["CSV"]), "--run-dir", run, *adds)
    assert result.exit_code == 0 and "6 labels imported" in result.output, result.output
    assert labels_of(tmp_path / "run", "round-002") == {t["data"]["path"]: truth[t["data"]["path"]] for t in tasks2}
    result = invoke("next", "--budget", "6", "--folds", "2", "--run-dir", run)
    assert result.exit_code == 0 and (tmp_path / "run" / "exports" / "next-003" / "to_label.csv").is_file()
    figures["round 2"] = {"tasks imported": len(tasks2), "images served identical": served2, "labels imported": 6}
    figures["rounds"] = 2
    print("label studio figures:", json.dumps(figures))
    (tmp_path.parent / "label_studio_figures.json").write_text(json.dumps(figures))
