"""A gradio chat with a sources panel, and a named /ask API endpoint for gradio_client."""

from __future__ import annotations

import html
import os
from pathlib import Path

from qa import Answer, QAError
from qa.app import App

EXAMPLES = [
    "Which university created the Chatbot Arena ranking?",
    "伯克利的哪位计算机教授参与开发了Vicuna？",
    "Quand Meta a-t-il publié Llama ?",
]


def render_sources(answer: Answer) -> str:
    """HTML of each cited passage, its file, offsets and score, with the answer sentences marked.

    Corpus text is escaped: a document holding markup is shown as text, never run.
    """
    if not answer.citations:
        return "_No passages._"
    heading = "Sources" if answer.answerable else "No answer found. Closest passages"
    parts = [f"<h3>{heading}</h3>"]
    for c in answer.citations:
        parts.append(
            f"<p><b>[{c.rank}] {html.escape(Path(c.source).name)}</b> · {html.escape(c.title[:80])}<br>"
            f"<small>{html.escape(c.lang)} · score {c.score:.2f} · chars {c.start}–{c.end}</small></p>"
            f"<div style=\"border-left:3px solid #999;padding-left:8px;margin-bottom:12px\">"
            f"{_marked_passage(c.text, c.start, [(s.start, s.end) for s in c.answer_spans])}</div>"
        )
    return "\n".join(parts)


def _marked_passage(text: str, offset: int, spans: list[tuple[int, int]]) -> str:
    out, cursor = [], 0
    for start, end in sorted(spans):
        start, end = start - offset, end - offset
        out.append(html.escape(text[cursor:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    out.append(html.escape(text[cursor:]))
    # No blank lines, so markdown keeps the whole passage as one HTML block.
    return "".join(out).replace("\r", "").replace("\n", "<br>")


def build_ui(app: App):
    """The chat page for an app whose store is already open."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def status_line() -> str:
        s = app.status()
        return f"{s.documents} documents · {s.chunks} chunks · embedder `{s.embedder}`"

    def respond(message: str, history: list):
        try:
            answer = app.ask(message)
        except QAError as exc:
            raise gr.Error(str(exc)) from None
        history = list(history or []) + [
            {"role": "user", "content": html.escape(message)},
            {"role": "assistant", "content": html.escape(answer.text)},
        ]
        return history, render_sources(answer), ""

    def ask(question: str) -> dict:
        """Answer a question; returns the answer object of FORMAT.md (answer, answerable, citations)."""
        try:
            return app.ask(question).to_json()
        except QAError as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="corpus-qa") as page:
        gr.Markdown("## corpus-qa\nAsk in English, 中文 or français. Every answer cites its passages.")
        gr.Markdown(status_line)
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=480)
                question = gr.Textbox(label="Question", placeholder="Ask about the articles…", lines=1)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    clear = gr.Button("Start over")
                gr.Examples(EXAMPLES, inputs=question)
            with gr.Column(scale=2):
                sources = gr.Markdown("_Sources appear here._", label="Sources")
        for trigger in (question.submit, send.click):
            trigger(respond, [question, chat], [chat, sources, question], api_visibility="private")
        clear.click(lambda: ([], "_Sources appear here._", ""), None, [chat, sources, question],
                    api_visibility="private")
        gr.api(ask, api_name="ask")
    return page
