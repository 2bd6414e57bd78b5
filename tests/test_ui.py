"""The chat, launched for real and driven by gradio_client."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from qa import Answer, Citation, Span
from ui import render_sources
from ui.chat import render_answer

from conftest import free_port, launched_chat



@pytest.fixture(scope="module")
def served(bundled_app):
    with launched_chat(bundled_app) as url:
        yield url


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served, verbose=False)


def test_twenty_concurrent_clients_get_the_answers_each_question_gets_alone(served, client):
    from gradio_client import Client

    questions = ["Who released Llama 2?", "伯克利的哪位计算机教授参与开发了Vicuna？", "Quand Meta a-t-il publié Llama ?",
                 "What is Stable Diffusion?"]
    alone = {q: client.predict(q, api_name="/ask") for q in questions}

    def ask(question):
        return Client(served, verbose=False).predict(question, api_name="/ask")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(ask, questions * 5))
    assert all(a["answerable"] and a["citations"] for a in answers)
    assert all("Stoica" in a["answer"] for a in answers[1::4])
    for question, answer in zip(questions * 5, answers):
        assert answer["answer"] == alone[question]["answer"]
        assert [c["chunk_id"] for c in answer["citations"]] == [c["chunk_id"] for c in alone[question]["citations"]]


def test_wrong_password_is_refused(bundled_app):
    from gradio_client import Client

    with launched_chat(bundled_app, auth=("ana", "s3cret")) as url:
        with pytest.raises(Exception, match="(?i)login|auth|credentials|401|403"):
            Client(url, auth=("ana", "wrong"), verbose=False)
        answer = Client(url, auth=("ana", "s3cret"), verbose=False).predict("Who released Llama 2?", api_name="/ask")
        assert answer["citations"]


def test_ask_endpoint_answers_english_question_from_chinese_passage(client):
    answer = client.predict("Which Berkeley professor helped develop Vicuna?", api_name="/ask")
    assert answer["answerable"] is True
    assert any("Ion Stoica" in c["text"] for c in answer["citations"][:3])
    assert {"start", "end", "source", "doc_id"} <= set(answer["citations"][0])


def test_ask_endpoint_refuses_empty_question(client):
    with pytest.raises(Exception, match="empty"):
        client.predict("", api_name="/ask")


def test_ask_endpoint_takes_how_many_passages_to_cite_and_their_language(client):
    answer = client.predict("Which Berkeley professor helped develop Vicuna?", k=2, lang="zh", api_name="/ask")
    assert len(answer["citations"]) == 2 and {c["lang"] for c in answer["citations"]} == {"zh"}
    assert "Ion Stoica" in answer["answer"]
    with pytest.raises(Exception, match="cannot cite 0 passages"):
        client.predict("Who released Llama 2?", k=0, api_name="/ask")


def test_sources_panel_escapes_markup_and_marks_the_answer_sentence():
    citation = Citation(
        rank=1, doc_id="x", source="/tmp/x.txt", title="<b>t</b>", chunk_id="x:0", start=100, end=140,
        score=0.5, text="Before. <img src=x onerror=alert(1)> Answer.", lang="en",
        answer_spans=(Span(137, 144),),
    )
    html = render_sources(Answer("q", "Answer. [1]", True, (citation,), "en", "en"))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<mark>Answer.</mark>" in html
    assert "[1] x.txt" in html and "chars 100–140" in html


def test_markers_link_to_their_sources_and_cross_lingual_note_is_shown():
    answer = Answer("Who?", "UC Berkeley的Ion Stoica <b>x</b>。 [1]", True, (), "en", "zh")
    message = render_answer(answer)
    assert '<a href="#a1-source-1">[1]</a>' in message
    assert "&lt;b&gt;x&lt;/b&gt;" in message and "The source is in Chinese." in message


def test_an_answer_quoting_two_languages_names_both_in_its_note():
    def cited(rank: int, lang: str, text: str, quoted: bool = True) -> Citation:
        return Citation(rank=rank, doc_id=lang, source=f"/tmp/{lang}.txt", title="t", chunk_id=f"{lang}:0", start=0,
                        end=len(text), score=0.5, text=text, lang=lang,
                        answer_spans=(Span(0, len(text)),) if quoted else ())

    citations = (cited(1, "zh", "作者是谷歌的一名研究员。"), cited(2, "en", "Unrelated.", quoted=False),
                 cited(3, "fr", "Un chercheur."))
    text = "Un chercheur. [3] 作者是谷歌的一名研究员。 [1]"
    english = Answer("Who wrote it?", text, True, citations, "en", "fr")
    assert english.note == "The sources are in French and Chinese.", "in the order the answer quotes them"
    french = Answer("Qui l'a écrit ?", text, True, citations, "fr", "fr")
    assert french.note == "La source est en chinois.", "not the question's own language, nor a passage not quoted"


def test_abstention_looks_different_from_an_answer():
    message = render_answer(Answer("Weather?", "The articles don't say.", False, (), "en", None))
    assert message.startswith("⚠️") and "closest passages" in message


def test_an_abstention_shows_its_note_saying_why(bundled_app):
    message = render_answer(bundled_app.ask("When was GPT-5 released?"))
    assert message.startswith("⚠️")
    assert "No article has &quot;GPT-5&quot;; they have GPT-2, GPT-3.5 and GPT-4." in message
    message = render_answer(bundled_app.ask("Who created Chatbot Arena?", lang="de"))
    assert "No article is in &quot;de&quot;: the articles are in English, French and Chinese." in message


def test_serving_beyond_this_machine_without_login_warns(data_dir):
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "corpus-qa"
    subprocess.run([str(exe), "ingest"], check=True, capture_output=True)
    proc = subprocess.Popen([str(exe), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        lines = [proc.stderr.readline() for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "without a login" in lines[0] and "(upload is off); add --auth-file FILE" in lines[0]
    assert lines[1].startswith("serving 5 documents")


def test_repeated_wrong_logins_lock_the_address_out_for_a_while(bundled_app):
    import time

    import httpx

    with launched_chat(bundled_app, auth=[("ana", "s3cret")]) as url:
        def login(password: str) -> httpx.Response:
            return httpx.post(f"{url}login", data={"username": "ana", "password": password})

        assert [login("wrong").status_code for _ in range(5)] == [400] * 5, "a few mistakes are never slowed"
        locked = login("s3cret")
        assert locked.status_code == 429, "even the right password waits out the lockout"
        assert locked.json()["detail"] == "Too many failed logins from this address: try again in 1 s."
        time.sleep(int(locked.headers["retry-after"]))
        assert login("s3cret").status_code == 200
        assert [login("wrong").status_code for _ in range(5)] == [400] * 5, "a good login clears the count"
        assert login("wrong").status_code == 429


@pytest.mark.parametrize("env, offered", [
    ({}, False),
    ({"CORPUS_QA_ALLOW_ANONYMOUS_UPLOAD": "true"}, True),
    ({"CORPUS_QA_AUTH": "ana:s3cret"}, True),
    ({"CORPUS_QA_AUTH_FILE": "{logins}"}, True),
])
def test_a_chat_open_to_the_network_without_login_offers_no_upload(tmp_path, app_factory, env, offered):
    import httpx

    from ui import launch_chat

    logins = tmp_path / "logins"
    logins.write_text("# who may use the chat\nbob:hunter2\nana:s3cret\n", encoding="utf-8")
    env = {name: value.replace("{logins}", str(logins)) for name, value in env.items()}
    app = app_factory(tmp_path / "data", CORPUS_QA_HOST="0.0.0.0", **env)
    port = free_port()
    page = launch_chat(app, server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            if app.settings.ui.credentials:
                assert http.get("/config").status_code == 401
                assert http.post("/login", data={"username": "ana", "password": "s3cret"}).status_code == 200
            config = http.get("/config").json()
    finally:
        page.close()
    types = [c["type"] for c in config["components"]]
    texts = [str(c.get("props", {}).get("value")) for c in config["components"] if c["type"] == "markdown"]
    assert ("file" in types) is offered
    assert any("Adding documents is off" in text for text in texts) is not offered
    api_names = [d.get("api_name") for d in config["dependencies"]]
    assert ("add_files" in api_names) is offered


@pytest.mark.parametrize("question, params, message", [
    ("", {}, "the question is empty"),
    (123, {}, "the question must be text, not int"),
    ("Who released Llama 2?", {"k": 2.5}, "k, the passages to cite, must be a whole number from 1 to 50, not 2.5"),
    ("Who released Llama 2?", {"k": "3"}, "must be a whole number from 1 to 50, not '3'"),
    ("Who released Llama 2?", {"k": 0}, "cannot cite 0 passages"),
    ("Who released Llama 2?", {"lang": "French"}, "unknown language filter 'french'"),
    ("Who released Llama 2?", {"lang": 5}, "lang must be a language code such as en, zh or fr, not 5"),
    ("Who released Llama 2?", {"history": "Who?"}, "history must be a list"),
    ("Who released Llama 2?", {"history": [{"answer": "Meta"}]}, "history turn 1 must be an object with a 'question'"),
    ("Who released Llama 2?", {"history": ["Who?"]}, "history turn 1 must be an object with a 'question'"),
    ("Who released Llama 2?", {"k": 51}, "cannot cite 51 passages: ask for 1 to 50"),
    ("why " * 600, {}, "the question is 2399 characters long; the limit is 2000"),
    ("   ", {"lang": "zh"}, "the question is empty"),
])
def test_bad_ask_parameters_get_one_message_naming_what_to_fix(client, question, params, message, capfd):
    with pytest.raises(Exception) as refused:
        client.predict(question, api_name="/ask", **params)
    assert message in str(refused.value) and "Traceback" not in str(refused.value)
    assert "Traceback" not in capfd.readouterr().err, "a caller's mistake leaves no traceback in the server's log"


def test_an_upload_refused_by_ingest_leaves_nothing_behind(tmp_path, app_factory):
    from ui import add_uploads

    app = app_factory(tmp_path / "data", CORPUS_QA_MAX_FILE_MB="0.001")
    big, small = tmp_path / "tmp-gradio" / "big.txt", tmp_path / "tmp-gradio" / "small.txt"
    big.parent.mkdir()
    big.write_text("Airships\n\n" + "The Hindenburg burned in 1937. " * 100, encoding="utf-8")
    small.write_text("Airships\n\nThe Norge flew over the North Pole in 1926.\n", encoding="utf-8")
    report = add_uploads(app, [big, small])
    assert "Added 1" in report and "failed `" in report and "MB limit" in report
    kept = [p.relative_to(app.settings.data_dir / "uploads").parts for p in
            (app.settings.data_dir / "uploads").rglob("*") if p.is_file()]
    assert [parts[-1] for parts in kept] == ["small.txt"], "the refused copy is removed"
    assert not big.exists(), "nor gradio's temporary copy of it"


def test_an_upload_that_is_utf8_but_for_a_stray_byte_is_kept_with_a_note_saying_how_to_mend_it(tmp_path, app_factory):
    from ui import add_uploads

    app = app_factory(tmp_path / "data")
    upload = tmp_path / "tmp-gradio" / "musée.txt"
    upload.parent.mkdir()
    upload.write_bytes("Les élèves ont visité le musée du Louvre en mai.\n".encode() + "Fermé l'été.\n".encode("latin-1"))
    report = add_uploads(app, [upload])
    assert "Added 1" in report
    assert "- note on `" in report and "musée.txt`: read as " in report and "save it as UTF-8" in report


def test_the_server_refuses_an_upload_over_the_size_limit(tmp_path, app_factory):
    import httpx

    app = app_factory(tmp_path / "data", CORPUS_QA_MAX_FILE_MB="0.001")
    with launched_chat(app) as url:
        refused = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.txt", b"x" * 5000)})
        accepted = httpx.post(f"{url}gradio_api/upload", files={"files": ("small.txt", b"x" * 500)})
    assert refused.status_code == 413 and accepted.status_code == 200
