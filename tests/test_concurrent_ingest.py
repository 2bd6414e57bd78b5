"""Another process writes to the data dir while the chat, `ask` and `eval` keep answering."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading

import pytest

from conftest import BIN, launched_chat, write_xquad_copies

QUESTION = "Who created Chatbot Arena?"
NEW_FACT = "Zebulon Quarkfield invented the hydraulic teapot in 1887, in Lisbon."


def _new_articles(folder):
    """The xquad-dev articles twice over (several write batches), and one article on a new topic."""
    write_xquad_copies(folder)
    (folder / "teapot.txt").write_text(NEW_FACT + "\nIt sold poorly at first.\n", encoding="utf-8")
    return folder


def _ask_until(url: str, done: threading.Event) -> list:
    """Ask through /ask until `done` is set; each result is an answer dict or the exception raised."""
    from gradio_client import Client

    client, results = Client(url, verbose=False), []
    while not done.is_set():
        try:
            results.append(client.predict(QUESTION, api_name="/ask"))
        except Exception as exc:  # the test reports every failure, not just the first
            results.append(exc)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_the_chat_answers_every_question_while_another_process_ingests_and_then_finds_the_new_article(
        mode, request, tmp_path, app_factory):
    env = {"CORPUS_QA_CHROMA_URL": request.getfixturevalue("server").url} if mode == "server" else {}
    data = tmp_path / "data"
    app = app_factory(data, **env)
    app.ingest(progress=False)
    docs = _new_articles(tmp_path / "new")
    writer_env = {**os.environ, **env, "CORPUS_QA_DATA_DIR": str(data), "CORPUS_QA_WRITE_BATCH_CHUNKS": "40"}
    with launched_chat(app) as url:
        done = threading.Event()
        answers: list = []
        asker = threading.Thread(target=lambda: answers.extend(_ask_until(url, done)))
        asker.start()
        try:
            # A writer killed in the middle of a write, then one that finishes.
            killed = subprocess.Popen([str(BIN / "corpus-qa"), "ingest", str(docs)], env=writer_env,
                                      stderr=subprocess.PIPE, text=True)
            for _ in range(8):
                killed.stderr.readline()
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=60)
            subprocess.run([str(BIN / "corpus-qa"), "ingest", str(docs)], env=writer_env, check=True,
                           capture_output=True)
        finally:
            done.set()
            asker.join(timeout=120)
        failures = [a for a in answers if isinstance(a, Exception)]
        assert answers and not failures, f"{len(failures)} of {len(answers)} questions failed: {failures[:1]}"
        assert all("Berkeley" in a["answer"] for a in answers)
        from gradio_client import Client

        found = Client(url, verbose=False).predict("Who invented the hydraulic teapot?", api_name="/ask")
    assert found["answerable"] and "Zebulon Quarkfield" in found["answer"]
    assert found["citations"][0]["source"].endswith("teapot.txt")


@pytest.mark.slow
def test_eval_beside_an_ingest_answers_every_line(tmp_path, app_factory):
    data = tmp_path / "data"
    app_factory(data).ingest(progress=False)
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{i}", "question": QUESTION}) + "\n" for i in range(60)),
                         encoding="utf-8")
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(data), "CORPUS_QA_WRITE_BATCH_CHUNKS": "40"}
    evaluating = subprocess.Popen([str(BIN / "corpus-qa"), "eval", str(questions)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    subprocess.run([str(BIN / "corpus-qa"), "ingest", str(_new_articles(tmp_path / "new"))], env=env, check=True,
                   capture_output=True)
    out, err = evaluating.communicate(timeout=300)
    assert evaluating.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 60 and not [line for line in lines if "error" in line]
    assert all("Berkeley" in line["answer"] for line in lines)
