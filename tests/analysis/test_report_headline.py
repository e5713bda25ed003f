"""The report answers first (issue 10 item 10): headline table, one query-histogram figure per
experiment, float noise rounded, and no key column off-screen at 1400 px (rendered when chromium is
installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_run_analysis import FakeRun
from scipy import stats

from alpool.analysis import AnalysisResult, AnalyzeOptions, analyze
from alpool.analysis.headline import headline_table
from alpool.analysis.report import format_value
from alpool.analysis.tables import paired_test, trial_table


@pytest.fixture(scope="module")
def report(fake_run: FakeRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnalysisResult]:
    out = tmp_path_factory.mktemp("headline")
    options = AnalyzeOptions(curves=True, hist=True, experiments=["main"], dpi=60)
    return out, analyze([fake_run.run], options, out, fake_run.labels)


def _results(arms: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """One-episode results for arms {(pool, init_strategy): [final accuracy per trial]}."""
    rows = [{"run": "r", "experiment": "e", "arm": pool, "pool": pool, "init_strategy": strategy,
             "query": "entropy", "framework": "supervised", "trial": t, "episode": 0, "n_labeled": 10,
             "test_accuracy": acc, "test_macro_auc": acc, "oracle": False}
            for (pool, strategy), accs in arms.items() for t, acc in enumerate(accs)]
    return pd.DataFrame(rows)


def test_headline_table_on_hand_made_numbers() -> None:
    strategy, random = [0.6, 0.7, 0.8, 0.75, 0.7], [0.5, 0.55, 0.7, 0.72, 0.6]
    table = headline_table(trial_table(_results({("s", "ranked"): strategy, ("r", "random"): random})))
    assert list(table.columns) == [
        "experiment", "framework", "query", "initial pool", "n", "final acc", "final acc: random",
        "final acc: diff", "final acc: p", "ALC", "ALC: random", "ALC: diff", "ALC: p", "note"]
    row = table.iloc[0]
    assert (row["initial pool"], row["n"], row["note"]) == ("s (10)", 5, "")
    assert row["final acc"] == pytest.approx(np.mean(strategy))
    assert row["final acc: random"] == pytest.approx(np.mean(random))
    assert row["final acc: diff"] == pytest.approx(np.mean(strategy) - np.mean(random))
    assert row["final acc: p"] == pytest.approx(stats.ttest_rel(strategy, random).pvalue)
    few = headline_table(trial_table(_results({("s", "ranked"): strategy[:3], ("r", "random"): random[:3]})))
    assert few.iloc[0]["n"] == 3 and few.iloc[0]["note"] == "n < 5: weak test; run more --trials"
    alone = headline_table(trial_table(_results({("s", "ranked"): strategy})))
    assert alone.iloc[0]["note"] == "no random pool of this size under this query"


def test_report_opens_with_the_headline(report: tuple[Path, AnalysisResult]) -> None:
    out, result = report
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert re.findall(r"<h2>(.*?)</h2>", html)[0] == "Do the initial pools beat random?"
    assert html.index("headline.csv") < html.index("steps.csv")  # the first table
    headline = pd.read_csv(out / "headline.csv")
    assert set(headline["initial pool"]) == {"kmeans-centers-16 (16)", "ranked-vae-loss-16 (16)"}
    assert set(headline["query"]) == {"entropy", "random"} and (headline["n"] == 3).all()
    assert (headline["note"] == "n < 5: weak test; run more --trials").all()
    assert "**Note:** 4 of 4 comparisons rest on fewer than 5 paired trials" in md
    versus = pd.read_csv(out / "beats_random.csv")
    for row in headline.itertuples():
        pool = row[4].split(" (")[0]
        ref = versus[(versus["arm"] == pool) & (versus["query"] == row.query)].set_index("metric")
        assert row[8] == pytest.approx(ref.loc["final_accuracy", "mean_diff"])  # final acc: diff
        assert row[13] == pytest.approx(ref.loc["alc", "p_ttest"])  # ALC: p


def test_query_histograms_are_one_figure_per_experiment(report: tuple[Path, AnalysisResult]) -> None:
    out, result = report
    assert [f for f in result.files if f.startswith("hist-queries")] == ["hist-queries-main.png"]
    counts = pd.read_csv(out / "query_counts.csv")  # the per-episode counts stay in a table
    assert set(counts["pool"]) == {"kmeans-centers-16", "random-16", "ranked-vae-loss-16"}
    assert counts["episode"].nunique() == 3


def test_float_noise_is_rounded() -> None:
    out = paired_test(np.array([0.7, 0.1]), np.array([0.6, 0.2]))  # diffs 0.09999999999999998, -0.1
    assert out["mean_diff"] == 0.0 and format_value(out["mean_diff"]) == "0"
    assert format_value(-0.0) == "0" and format_value(0.25) == "0.25"


MEASURE = """<script>
const bad = [];
for (const th of document.querySelectorAll('th')) {
  const r = th.getBoundingClientRect();
  const key = th.classList.contains('t') || th.closest('table').closest('div').previousElementSibling
    .textContent.includes('headline.csv');
  if (key && r.right > window.innerWidth) bad.push(th.textContent);
}
document.body.setAttribute('data-offscreen', JSON.stringify(bad));
document.body.setAttribute('data-page-width', String(document.documentElement.scrollWidth));
</script></body>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt install chromium)")
def test_no_key_column_is_off_screen_at_1400_px(report: tuple[Path, AnalysisResult], tmp_path: Path) -> None:
    out, _ = report
    page = tmp_path / "measure.html"
    page.write_text((out / "report.html").read_text().replace("</body>", MEASURE))
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    offscreen = re.search(r'data-offscreen="([^"]*)"', dom)
    assert offscreen is not None, dom[:500]
    assert json.loads(offscreen.group(1).replace("&quot;", '"')) == []  # text keys and the headline fit
    width = re.search(r'data-page-width="(\d+)"', dom)
    assert width is not None and int(width.group(1)) <= 1400


def test_narrow_pools_are_named_with_their_classes() -> None:
    from alpool.analysis.headline import narrow_note

    pools = pd.DataFrame([{"pool": "probcover10", "n_classes_covered": 4, "budget": 10, "n_classes": 10},
                          {"pool": "typiclust10", "n_classes_covered": 8, "budget": 10, "n_classes": 10},
                          {"pool": "unused", "n_classes_covered": 1, "budget": 10, "n_classes": 10}])
    note = narrow_note(pools, {"probcover10", "typiclust10"})
    assert "probcover10 covers 4 of 10 classes" in note and "typiclust10" not in note and "unused" not in note
    assert note.index("covers 4 of 10") < note.index("training settings")
    assert narrow_note(pools, {"typiclust10"}) == ""
