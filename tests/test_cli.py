"""The CLI through Typer's runner: the chain on digits, help texts, and bad input (one line, exit 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alpool import __version__
from alpool.cli import app
from alpool.cli.list_cmd import registries
from alpool.rundir.manifests import SCHEMA_VERSION

runner = CliRunner()
FAST_VAE = ["--param", "epochs=2", "--param", "latent_dim=8"]
FAST_AL = ["--episodes", "1", "--step-budget", "10", "--trials", "1", "--epochs", "2", "-q"]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def tree_digest(root: Path) -> str:
    """Hash every file below ``root`` (to show that a failing command touched nothing)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the whole chain once on digits with tiny settings; return the run directory."""
    cwd = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        steps = [
            ["pretrain", "--task", "vae", "digits", *FAST_VAE, "-q"],
            ["rank", "--scorer", "vae-loss", "-q"],
            ["init-pool", "--strategy", "ranked", "--score", "vae-loss", "--budget", "20", "-q"],
            ["init-pool", "--strategy", "random", "--budget", "20", "-q"],
            ["al-run", "--query", "random", "--query", "entropy", *FAST_AL],
            ["analyze", "--curves", "-q"],
        ]
        for step in steps:
            result = invoke(*step)
            assert result.exit_code == 0, (step, result.output)
    return cwd / "runs" / "digits"


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_chain_writes_every_step(chain: Path) -> None:
    run = json.loads((chain / "run.json").read_text())
    kinds = {(s["kind"], s["name"]) for s in run["steps"]}
    assert {("pretrain", "vae"), ("scores", "vae-loss"), ("pools", "ranked-vae-loss-20"), ("pools", "random-20"),
            ("al", "random+entropy")} <= kinds
    scores = np.load(chain / "scores" / "vae-loss" / "scores.npy")
    order = np.load(chain / "scores" / "vae-loss" / "sorted_idx.npy")
    assert scores.shape == (run["dataset"]["n_train"],) and np.all(np.diff(scores[order]) <= 0)
    ranked = np.load(chain / "pools" / "ranked-vae-loss-20" / "indices.npy")
    pool_val = set(range(run["dataset"]["n_train"])) - set(ranked.tolist())
    assert len(ranked) == 20 and pool_val
    results = (chain / "al" / "random+entropy" / "results.csv").read_text().splitlines()
    assert results[0].startswith("experiment,pool,init_strategy,query")
    assert len(results) == 1 + 2 * 2 * 1 * 2  # pools x queries x trials x (episodes + 1)


def test_finished_step_needs_force(chain: Path) -> None:
    before = tree_digest(chain / "scores")  # other settings (a same-settings rerun is "already finished")
    result = invoke("rank", "--scorer", "vae-loss", "--seed", "1", "--run-dir", str(chain))
    assert result.exit_code == 2 and "--force" in result.output
    assert tree_digest(chain / "scores") == before


@pytest.mark.parametrize("command, option, kind", [
    ("pretrain", "--task", "tasks"), ("rank", "--scorer", "scorers"), ("al-run", "--query", "selectors"),
    ("al-run", "--framework", "frameworks"), ("al-run", "--arch", "models"), ("pretrain", "DATASET", "datasets"),
])
def test_help_lists_every_registry_choice(command: str, option: str, kind: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and "Example:" in result.output
    text = " ".join(result.output.split())
    for name in registries()[kind].names():
        assert name in text, f"{name} missing from `{command} --help` ({option})"


def test_every_command_has_help_with_an_example() -> None:
    for command in ("pretrain", "rank", "init-pool", "al-run", "analyze", "all", "list"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Example" in result.output, command


def test_list_shows_descriptions() -> None:
    result = invoke("list", "selectors")
    assert result.exit_code == 0 and "random" in result.output


def one_line_error(result, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("args, needles", [
    (["pretrain", "--task", "vae", "digitz", "-q"], ["unknown dataset 'digitz'", "did you mean 'digits'"]),
    (["pretrain", "--task", "vea", "digits", "-q"], ["unknown task 'vea'", "did you mean 'vae'"]),
    (["list", "selector"], ["unknown kind 'selector'", "did you mean 'selectors'"]),
])
def test_unknown_names_suggest(args: list[str], needles: list[str], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke(*args), *needles)


@pytest.mark.parametrize("args, needles", [
    (["rank", "--scorer", "vae-los"], ["did you mean 'vae-loss'"]),
    (["init-pool", "--strategy", "randon", "--budget", "5"], ["did you mean 'random'"]),
    (["al-run", "--query", "entropi"], ["did you mean 'entropy'"]),
    (["init-pool", "--strategy", "random", "--budget", "100000"], ["budget 100000", "lower --budget"]),
    (["init-pool", "--strategy", "random", "--budget", "0"], ["budget"]),
    (["init-pool", "--strategy", "ranked", "--score", "simclr-loss", "--budget", "5"],
     ["alpool rank --scorer simclr-loss"]),
    (["rank", "--scorer", "typicality", "--task", "simclr"], ["alpool pretrain --task simclr"]),
    (["al-run", "--query", "random", "--episodes", "1000", "--step-budget", "100"], ["lower --episodes"]),
    (["al-run", "--query", "random", "--train", "lrr=0.1"],
     ["--train has no option 'lrr'", "its options: arch, epochs, batch_size", "crop_padding", "flip"]),
    (["al-run", "--query", "random", "--train", "lr"], ["--train 'lr' is not KEY=VALUE"]),
    (["init-pool", "--strategy", "entropi", "--budget", "5"],
     ["unknown selector 'entropi' (choices: class-balanced, cluster-quota", "typiclust)"]),
    (["pretrain", "--val-fraction", "0.3"], ["validation split of 0.1 of train, not 0.3", "drop --val-fraction"]),
    (["rank", "--scorer", "vae-loss", "--force", "--threads", "0"], ["--threads 0 must be at least 1"]),
])
def test_bad_input_touches_nothing(chain: Path, args: list[str], needles: list[str]) -> None:
    before = tree_digest(chain)
    one_line_error(invoke(*args, "--run-dir", str(chain), "-q"), *needles)
    assert tree_digest(chain) == before


def test_missing_run_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke("rank", "--scorer", "vae-loss"), "alpool pretrain")


def test_missing_dataset_files_name_the_files(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke("pretrain", "--task", "vae", "cifar10", "--data-dir", str(tmp_path), "-q"),
                   "data_batch_1")


def copy_run(chain: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(chain, target)
    return target


def test_newer_schema_is_refused(chain: Path, tmp_path: Path) -> None:
    run = copy_run(chain, tmp_path)
    data = json.loads((run / "run.json").read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    (run / "run.json").write_text(json.dumps(data))
    result = invoke("init-pool", "--strategy", "random", "--budget", "5", "--run-dir", str(run))
    one_line_error(result, "upgrade alpool")


def test_corrupt_manifest_and_npy(chain: Path, tmp_path: Path) -> None:
    run = copy_run(chain, tmp_path)
    (run / "scores" / "vae-loss" / "manifest.json").write_text("{ nope")
    one_line_error(invoke("init-pool", "--strategy", "ranked", "--score", "vae-loss", "--budget", "5",
                          "--run-dir", str(run)), "not valid JSON")
    (run / "pretrain" / "vae" / "embeddings.npy").write_bytes(b"garbage")
    one_line_error(invoke("rank", "--scorer", "typicality", "--task", "vae", "--run-dir", str(run)), "embeddings.npy")


def test_pretrain_refuses_another_dataset_in_the_same_run(chain: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run = copy_run(chain, tmp_path)
    data = json.loads((run / "run.json").read_text())
    data["dataset"]["fingerprint"] = "0" * 64
    (run / "run.json").write_text(json.dumps(data))
    one_line_error(invoke("rank", "--scorer", "vae-loss", "--force", "--run-dir", str(run)), "fingerprint 000000000000")


def test_a_second_pretrain_without_dataset_joins_the_previous_run(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "elsewhere"
    assert invoke("pretrain", "--task", "vae", "digits", "--run-dir", str(run), *FAST_VAE, "-q").exit_code == 0
    result = invoke("pretrain", "--task", "vae", "--name", "vae-again", *FAST_VAE, "-q")
    assert result.exit_code == 0, result.output
    assert (run / "pretrain" / "vae-again" / "manifest.json").exists()
    assert not (tmp_path / "runs").exists()


def test_init_pool_suggests_only_selectors_it_accepts(chain: Path) -> None:
    """'entropi' is close to the query 'entropy', which init-pool refuses: it is not offered."""
    before = tree_digest(chain)
    result = invoke("init-pool", "--strategy", "entropi", "--budget", "5", "--run-dir", str(chain), "-q")
    one_line_error(result, "unknown selector 'entropi'")
    assert "did you mean" not in result.output and "entropy" not in result.output and "badge" not in result.output
    assert tree_digest(chain) == before


def test_the_recorded_val_fraction_is_accepted_again(chain: Path) -> None:
    result = invoke("pretrain", "--task", "vae", "--val-fraction", "0.1", "--run-dir", str(chain), "-q")
    one_line_error(result, "step pretrain/vae already exists")  # past the val-fraction check


@pytest.mark.parametrize("command", ["pretrain", "rank", "init-pool", "al-run", "analyze", "all", "list"])
def test_help_shows_boolean_options_as_flags(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    flags = ("--force", "--quiet", "--debug", "--params", "--ascending", "--warm-start", "--download", "--corr")
    lines = [line for line in result.output.splitlines() if any(f"{flag} " in line for flag in flags)]
    assert lines, result.output
    for line in lines:
        assert "<bool>" not in line, line


@pytest.mark.parametrize("kind, entry, option, value", [
    ("selectors", "bald", "passes", "25"), ("selectors", "ranked", "score", "required"),
    ("scorers", "typicality", "k", "20"), ("tasks", "vae", "latent_dim", ""), ("frameworks", "linear-probe", "", ""),
])
def test_list_params_shows_options_with_defaults(kind: str, entry: str, option: str, value: str) -> None:
    result = runner.invoke(app, ["list", kind, "--params"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line.replace("│", " ").split() for line in result.output.splitlines()]
    names = [row[0] for row in rows if row and len(row) >= 2]
    assert entry in names
    if option:
        assert any(option in row and (not value or value in row) for row in rows), (option, value)


def test_list_params_of_a_kind_without_options() -> None:
    one_line_error(invoke("list", "datasets", "--params"), "datasets have no options", "selectors")


def test_cli_defaults_come_from_the_config_models() -> None:
    """Every option named like a config field has that field's default (defined once, in config.py)."""
    import typer.main

    from alpool.core import config

    models = {"al-run": [config.ALRunConfig, config.TrainConfig], "init-pool": [config.InitPoolConfig],
              "rank": [config.RankConfig], "pretrain": [config.PretrainConfig], "analyze": [config.AnalyzeConfig],
              "all": [config.ALRunConfig]}
    group = typer.main.get_command(app)
    checked = 0
    for command, classes in models.items():
        for param in group.commands[command].params:  # type: ignore[attr-defined]
            for model in classes:
                field = model.model_fields.get(param.name or "")
                # None on the command line means "not given": the model's default then applies
                if field is not None and not field.is_required() and param.default is not None:
                    assert param.default == config.default(model, param.name), (command, param.name)
                    checked += 1
                    break
    assert checked >= 20


def test_plural() -> None:
    from alpool.cli.common import plural

    assert [plural(1, "class"), plural(3, "class"), plural(1, "image"), plural(0, "trial")] == [
        "1 class", "3 classes", "1 image", "0 trials"]
