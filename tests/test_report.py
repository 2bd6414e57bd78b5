"""The eval report a person reads, and the comparison of two runs."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ui.cli import cli

SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    env = pytest.MonkeyPatch()
    env.setenv("CORPUS_QA_DATA_DIR", str(folder / "data"))  # this module's own index
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest"]).exit_code == 0
    result = runner.invoke(cli, ["eval", str(SHARED_EVAL / "dev.jsonl"), "-o", str(folder / "answers.jsonl"),
                                 "--report", str(folder / "report")])
    assert result.exit_code == 0, result.output
    env.undo()
    return folder


def test_report_holds_metrics_breakdown_curve_and_failures(report):
    metrics = json.loads((report / "report" / "metrics.json").read_text(encoding="utf-8"))
    summary = metrics["summary"]
    assert {"hit@1", "hit@3", "hit@5", "mrr", "answer_acc", "abstain_acc", "p50_ms", "p95_ms"} <= set(summary)
    assert summary["hit@1"] <= summary["hit@3"] <= summary["hit@5"] <= metrics["hit_at_k"]["10"]
    assert {"lang=en", "lang=zh", "lang=fr", "same-language", "cross-lingual"} <= set(metrics["breakdown"])
    answers = [json.loads(x) for x in (report / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(len(a["citations"]) == 10 for a in answers), "--report cites 10, for hit@10"
    wrong = {f["id"] for f in metrics["failures"]}
    assert wrong and all(f["expected"] for f in metrics["failures"])
    markdown = (report / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Failures" in markdown and "![hit@k](hit_at_k.png)" in markdown


def test_report_page_shows_plots_and_summary_in_a_browser(report):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no system Chromium: `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto((report / "report" / "report.html").as_uri())
        assert page.locator("#summary th").all_inner_texts()[:3] == ["hit@1", "hit@3", "hit@5"]
        widths = page.locator("#plots img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) == 2 and all(w > 300 for w in widths), "both plots are embedded and decode"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "eval-report.png"), full_page=True)
        browser.close()


def test_compare_shows_which_questions_got_better_or_worse(report, tmp_path):
    answers = [json.loads(x) for x in (report / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    worse = [dict(a, answer="", citations=[]) if a["id"] == "d03" else a for a in answers]
    before = tmp_path / "before.jsonl"
    before.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in worse), encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(SHARED_EVAL / "dev.jsonl"), "--compare", str(before),
                                      str(report / "answers.jsonl")])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("better d03: answer wrong -> right, evidence 1/rank 0.0 -> 1.0")
    assert result.output.splitlines()[-1] == "1 better, 0 worse, 12 the same"


def test_compare_with_a_file_that_is_not_an_eval_output_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(SHARED_EVAL / "dev.jsonl"), "--compare", str(bad), str(bad)])
    assert result.exit_code == 2 and "is not JSON" in result.output
