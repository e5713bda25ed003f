"""The analysis entry point on a fake run directory: files, report contents, unfinished steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_run_analysis import FakeRun, assert_png
from scipy import stats

from alpool.analysis import AnalysisResult, AnalyzeOptions, analyze
from alpool.analysis.loading import find_episode_dirs, load_results, run_labels
from alpool.core.errors import ConfigError, MissingStepError
from alpool.rundir.run_dir import RunDir

ALL = AnalyzeOptions(curves=True, corr=True, hist=True, scatter=True, max_points=120, dpi=100)
FAST = {"dpi": 72}  # low resolution keeps the other tests fast; figure quality is tested above


@pytest.fixture(scope="module")
def full(fake_run: FakeRun,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnalysisResult]:
    """Analyse the fake run with every option once per module."""
    out = tmp_path_factory.mktemp("out")
    return out, analyze([fake_run.run], ALL, out, fake_run.labels)


def test_every_listed_file_is_written_and_every_png_is_real(
        full: tuple[Path, AnalysisResult]) -> None:
    out, result = full
    assert sorted(p.name for p in out.iterdir()) == sorted(result.files)
    pngs = [f for f in result.files if f.endswith(".png")]
    assert len(pngs) >= 10
    for name in pngs:
        assert_png(out / name, min_px=300)  # rendered at 100 dpi here
    for expected in ("curves-main.png", "multi-strategy.png", "corr-vs-ratio.png",
                     "hist-pools.png", "embedding-simclr.png", "correlation.csv", "final.csv",
                     "beats_random.csv", "report.md", "report.html"):
        assert expected in result.files
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]  # atomic writes cleaned up


def test_report_names_every_experiment_and_every_figure(full: tuple[Path, AnalysisResult],
                                                        fake_run: FakeRun) -> None:
    out, result = full
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    for experiment in ["main", "bench", "crashed"]:
        assert f"`{experiment}`" in md
        assert f"<code>{experiment}</code>" in html
    assert sorted(result.summary["experiments"]) == ["bench", "crashed", "main"]
    for name in result.files:
        if name.endswith(".png"):
            assert f"({name})" in md and name in html
    assert "blobs" in md and "run seed 0" in md  # dataset and seed from run.json
    assert "scores/typicality" in md  # oracle steps are named
    assert result.summary["oracle"] is True  # the correlation read the oracle scorer
    assert result.summary["oracle_inputs"] == ["run:scores/typicality"]


def test_html_is_self_contained(full: tuple[Path, AnalysisResult]) -> None:
    out, result = full
    html = (out / "report.html").read_text()
    n_png = sum(f.endswith(".png") for f in result.files)
    assert html.count('src="data:image/png;base64,') == n_png
    assert 'src="http' not in html and "<table>" in html


def test_unfinished_steps_are_reported_and_not_read(full: tuple[Path, AnalysisResult],
                                                    fake_run: FakeRun) -> None:
    out, result = full
    assert sorted(result.summary["unfinished"]) == sorted(fake_run.unfinished)
    assert result.summary["analysed"] == ["bench", "main"]
    md = (out / "report.md").read_text()
    assert "unfinished step(s)" in md and "`al/crashed`" in md and "`pools/unfinished-pool`" in md
    experiments = pd.read_csv(out / "experiments.csv").set_index("experiment")
    assert experiments.loc["crashed", "analysed"] == "no: unfinished"
    assert experiments.loc["main", "analysed"] == "yes"


def test_written_correlation_equals_scipy(full: tuple[Path, AnalysisResult]) -> None:
    out, _ = full
    bench = pd.read_csv(out / "cold_bench_pools.csv")
    corr = pd.read_csv(out / "correlation.csv")
    ratio = sorted(corr["ratio"].unique())[1]
    random = bench[(bench["role"] == "random") & np.isclose(bench["ratio"], ratio)]
    row = corr[np.isclose(corr["ratio"], ratio) & (corr["feature"] == "score:vae-loss")
               & (corr["metric"] == "test_accuracy")].iloc[0]
    expected = stats.pearsonr(random["score:vae-loss"], random["test_accuracy"])
    assert row["pearson_r"] == pytest.approx(expected.statistic)
    assert row["pearson_p"] == pytest.approx(expected.pvalue)
    assert row["pearson_r"] > 0.5  # the fake run makes vae-loss drive accuracy
    assert row["n_pools"] == len(random) == 6


def test_final_accuracy_summary_matches_results(full: tuple[Path, AnalysisResult],
                                                fake_run: FakeRun) -> None:
    _, result = full
    results = pd.read_csv(fake_run.run.step("al", "main").file("results.csv"))
    last = results[(results["episode"] == 3) & (results["pool"] == "ranked-vae-loss-16")
                   & (results["query"] == "entropy")]
    key = "main|ranked-vae-loss-16|entropy"
    assert result.summary["final_accuracy"][key] == pytest.approx(last["test_accuracy"].mean())
    json.dumps(result.summary)  # JSON-able for the manifest


def test_selected_experiments_only_and_unknown_ones_refused(fake_run: FakeRun,
                                                            tmp_path: Path) -> None:
    options = AnalyzeOptions(curves=False, experiments=["main"], **FAST)
    result = analyze([fake_run.run], options, tmp_path)
    assert result.summary["analysed"] == ["main"]
    assert result.summary["oracle"] is False  # no oracle step was read
    assert "crashed" in result.summary["experiments"]  # still named in the report
    with pytest.raises(ConfigError, match="'mian'.*main"):
        analyze([fake_run.run], AnalyzeOptions(experiments=["mian"]), tmp_path)


def test_bad_inputs_raise_clear_errors(fake_run: FakeRun, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="labels have shape"):
        analyze([fake_run.run], AnalyzeOptions(), tmp_path, np.zeros(3, dtype=np.int64))
    with pytest.raises(ConfigError, match="no run directory"):
        analyze([], AnalyzeOptions(), tmp_path)
    with pytest.raises(MissingStepError, match="run.json"):
        analyze([RunDir(tmp_path / "nothing")], AnalyzeOptions(), tmp_path)
    with pytest.raises(MissingStepError, match="scores/nope"):
        analyze([fake_run.run], AnalyzeOptions(corr=True, scorers=["nope"]), tmp_path)
    with pytest.raises(MissingStepError, match="pretrain/nope"):
        analyze([fake_run.run], AnalyzeOptions(scatter=True, embeddings="nope"), tmp_path)


def test_umap_without_umap_learn_is_refused(fake_run: FakeRun, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    try:
        import umap  # noqa: F401
    except ImportError:
        options = AnalyzeOptions(curves=False, scatter=True, projection="umap", max_points=50)
        with pytest.raises(ConfigError, match="umap-learn"):
            analyze([fake_run.run], options, tmp_path, fake_run.labels)
    else:
        pytest.skip("umap-learn is installed")


def test_two_run_directories_are_analysed_together(fake_run: FakeRun, tmp_path: Path) -> None:
    other = tmp_path / "copy" / "run"
    shutil.copytree(fake_run.run.root, other)
    runs = [fake_run.run, RunDir(other)]
    options = AnalyzeOptions(curves=True, experiments=["main"], **FAST)
    result = analyze(runs, options, tmp_path / "out")
    labels = run_labels(runs)
    assert labels[0] != labels[1]
    final = pd.read_csv(tmp_path / "out" / "final.csv")
    assert set(final["run"]) == set(labels)
    assert sum(f.startswith(labels[1]) and f.endswith(".png") for f in result.files) == 1


def test_episode_folders_are_found_by_glob_and_keyed_by_results(fake_run: FakeRun) -> None:
    step = fake_run.run.step("al", "main")
    results = load_results([[step]], ["run"])
    episodes = find_episode_dirs(step, "run", results)
    assert len(episodes) == len(results)  # every finished episode of every (pool, query, trial)
    keys = {(e.pool, e.query, e.trial, e.episode) for e in episodes}
    assert keys == set(zip(results["pool"], results["query"], results["trial"],
                           results["episode"], strict=True))


def test_episode_without_pool_in_metrics_uses_the_folder_or_the_only_pair(tmp_path: Path) -> None:

    root = tmp_path / "al" / "x"
    for folder in ("p--q/trial-0/episode-0", "p--q/trial-0/episode-1"):
        (root / folder).mkdir(parents=True)
        (root / folder / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    (root / "p--q/trial-0/episode-2").mkdir()  # unfinished: no metrics.json
    results = pd.DataFrame({"run": "r", "experiment": "x", "pool": ["p", "other"],
                            "query": ["q", "q"]})
    step = RunDir(tmp_path).step("al", "x")
    episodes = find_episode_dirs(step, "r", results)
    assert [(e.pool, e.query, e.trial, e.episode) for e in episodes] == [
        ("p", "q", 0, 0), ("p", "q", 0, 1)]


def test_without_labels_pool_histograms_still_come_from_manifests(fake_run: FakeRun,
                                                                  tmp_path: Path) -> None:
    options = AnalyzeOptions(curves=False, hist=True, scatter=True, max_points=60,
                             experiments=["main"], **FAST)
    result = analyze([fake_run.run], options, tmp_path)
    assert "hist-pools.png" in result.files and "embedding-simclr.png" in result.files
    assert not [f for f in result.files if f.startswith("hist-queries")]
    assert any("need the train labels" in n for n in result.summary["notes"])
    assert any("is grey" in n for n in result.summary["notes"])


def test_an_empty_run_directory_gives_a_report_that_says_so(tmp_path: Path) -> None:
    from alpool.rundir.manifests import DatasetRecord

    record = DatasetRecord(spec="blobs", fingerprint="cd" * 32, n_train=10, n_test=4,
                           n_classes=2, image_shape=(1, 8, 8), classes=["a", "b"])
    run = RunDir.create(tmp_path / "empty", record, seed=1)
    result = analyze([run], AnalyzeOptions(corr=True, hist=True, **FAST),
                     tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "no AL experiment" in md and "no finished experiment" in md
    assert "no random bench pools" in md
    assert result.summary["experiments"] == [] and result.summary["final_accuracy"] == {}


def test_options_from_the_analyze_config() -> None:
    from alpool.core.config import AnalyzeConfig

    config = AnalyzeConfig(corr=True, scorers=["vae-loss"], embeddings="simclr", name="x")
    options = AnalyzeOptions.from_config(config, projection="tsne")
    assert options.corr and options.scorers == ["vae-loss"] and options.embeddings == "simclr"
    assert options.curves and not options.hist


def test_each_pool_is_read_once_per_analysis(fake_run: FakeRun, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool table, the cold-bench scores and the embedding maps share one read of each pool's indices."""
    from collections import Counter

    from alpool.rundir.step_dir import StepDir

    reads: Counter[str] = Counter()
    real = StepDir.read_verified

    def counting(step: StepDir, relative: str) -> tuple[np.ndarray, str]:
        reads[f"{step.label}/{relative}"] += 1
        return real(step, relative)

    monkeypatch.setattr(StepDir, "read_verified", counting)
    analyze([fake_run.run], AnalyzeOptions(corr=True, hist=True, scatter=True, **FAST), tmp_path, fake_run.labels)
    pools = {k: v for k, v in reads.items() if k.startswith("pools/")}
    assert pools and set(pools.values()) == {1}, pools
