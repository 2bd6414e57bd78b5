"""corpus-qa against a real Chroma server (`chroma run`), started by the tests on a free loopback port."""

import json
import os
import subprocess

import pytest

from conftest import BIN, free_port, launched_chat, write_xquad_copies


def corpus_qa(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "corpus-qa"), *args], env=env, capture_output=True, text=True, check=check)


def test_ingest_then_ask_through_the_server_writes_nothing_locally(server, tmp_path, app_factory):
    data = tmp_path / "data"
    app = app_factory(data, CORPUS_QA_CHROMA_URL=server.url)
    assert app.ingest(progress=False).documents_added == 5
    answer = app.ask("伯克利的哪位计算机教授参与开发了Vicuna？")
    assert "Stoica" in answer.text and app.status().store == server.url
    assert not (data / "chroma").exists(), "nothing goes to the local store"


def test_one_process_ingests_and_another_asks_the_same_data(server, tmp_path):
    env = {**os.environ, "CORPUS_QA_CHROMA_URL": server.url}
    ingester = {**env, "CORPUS_QA_DATA_DIR": str(tmp_path / "machine-a")}
    asker = {**env, "CORPUS_QA_DATA_DIR": str(tmp_path / "machine-b")}
    before = json.loads(corpus_qa("status", "--json", env=asker).stdout)
    assert before["chunks"] == 0
    corpus_qa("ingest", env=ingester)
    answer = json.loads(corpus_qa("ask", "Quand Meta a-t-il publié Llama ?", "--json", env=asker).stdout)
    assert "En mars de cette année" in answer["answer"]
    # The asker's keyword index was built from the server's chunks, not from a local copy.
    hits = corpus_qa("ask", "护城河", "--json", env=asker).stdout
    assert "护城河" in json.loads(hits)["citations"][0]["text"]


def test_server_down_exits_2_naming_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(tmp_path / "data"), "CORPUS_QA_CHROMA_URL": url}
    result = corpus_qa("ask", "Who released Llama?", env=env, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"Error: cannot reach the Chroma server at {url}: "
                                     "Could not connect to a Chroma server. Are you sure it is running?")


def test_ask_retries_a_lost_connection_once(server, tmp_path, app_factory):
    app = app_factory(tmp_path / "data", CORPUS_QA_CHROMA_URL=server.url)
    app.ingest(progress=False)
    server.stop()
    server.start()  # same folder, same port: the old keep-alive connection is dead
    assert "Stoica" in app.ask("伯克利的哪位计算机教授参与开发了Vicuna？").text


def test_the_chat_says_the_index_is_not_reachable_while_its_server_is_down(server, tmp_path, app_factory):
    from gradio_client import Client

    app = app_factory(tmp_path / "data", CORPUS_QA_CHROMA_URL=server.url)
    app.ingest(progress=False)
    with launched_chat(app) as url:
        client = Client(url, verbose=False)
        server.stop()
        with pytest.raises(Exception) as down:
            client.predict("Who released Llama 2?", api_name="/ask")
        assert str(down.value) == (f"The index is not reachable: lost the Chroma server at {server.url}: "
                                   "[Errno 111] Connection refused. Please try again.")
        server.start()
        assert "Meta" in client.predict("Who released Llama 2?", api_name="/ask")["answer"]


def test_server_stopped_mid_ingest_then_resumed_gives_exact_chunks(server, tmp_path):
    docs = write_xquad_copies(tmp_path / "docs")
    env = {**os.environ, "CORPUS_QA_CHROMA_URL": server.url, "CORPUS_QA_DATA_DIR": str(tmp_path / "data"),
           "CORPUS_QA_WRITE_BATCH_CHUNKS": "40"}
    proc = subprocess.Popen([str(BIN / "corpus-qa"), "ingest", str(docs)], env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(20):
        proc.stderr.readline()
    server.stop()
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 2
    assert f"Chroma server at {server.url}" in rest.splitlines()[-1]
    server.start()
    corpus_qa("ingest", str(docs), env=env)
    status = json.loads(corpus_qa("status", "--json", env=env).stdout)
    clean_env = {**os.environ, "CORPUS_QA_DATA_DIR": str(tmp_path / "clean")}
    corpus_qa("ingest", str(docs), env=clean_env)
    clean = json.loads(corpus_qa("status", "--json", env=clean_env).stdout)
    assert (status["documents"], status["chunks"]) == (clean["documents"], clean["chunks"]) == (48, clean["chunks"])
