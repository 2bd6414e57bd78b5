"""The chat, launched for real and driven by gradio_client."""

import socket

import pytest

from qa import Answer, Citation, Span
from ui import build_ui, render_sources


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client(bundled_app):
    from gradio_client import Client

    page = build_ui(bundled_app)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    page.close()


def test_ask_endpoint_answers_english_question_from_chinese_passage(client):
    answer = client.predict("Which Berkeley professor helped develop Vicuna?", api_name="/ask")
    assert answer["answerable"] is True
    assert any("Ion Stoica" in c["text"] for c in answer["citations"][:3])
    assert {"start", "end", "source", "doc_id"} <= set(answer["citations"][0])


def test_ask_endpoint_refuses_empty_question(client):
    with pytest.raises(Exception, match="empty"):
        client.predict("", api_name="/ask")


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
