"""The cross-lingual XQuAD dev set: every citation verbatim, every answer sentence marked, recall held."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ui.cli import cli

XQUAD = Path(__file__).resolve().parents[2] / "shared" / "eval" / "xquad-dev"
VERIFY = XQUAD.parent / "verify.py"


def test_cross_lingual_dev_set_cites_exact_spans_and_finds_the_evidence(data_dir, tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(XQUAD / "corpus"), "--json"]).exit_code == 0
    out = tmp_path / "answers.jsonl"
    result = runner.invoke(cli, ["eval", str(XQUAD / "questions.jsonl"), "-o", str(out), "--json"])
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    verify = subprocess.run([sys.executable, str(VERIFY), str(out), "--markers", "--max-answer", "300"],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout
    # Dense multilingual retrieval alone measured 0.88 here; a drop below 0.85 is a regression.
    assert metrics["hit@5"] >= 0.85


def test_a_question_whose_words_no_passage_holds_even_translated_abstains(app_factory, tmp_path):
    app = app_factory(tmp_path / "data")
    app.ingest([XQUAD / "corpus"], progress=False)
    # Its best passage, in Chinese, lists Chicago alumni who run other companies (微软首席执行官):
    # close enough to pass, without the penalty for holding not even a translation of its words.
    answer = app.ask("Who is the CEO of Samsung?")
    assert not answer.answerable and answer.text == "The articles don't say."
    assert "芝大的著名校友" in answer.citations[0].text, "the alumni of the University of Chicago"
