"""A gradio chat with a sources panel, upload, settings, and a named /ask API endpoint for gradio_client.

All corpus text and questions are HTML-escaped before they reach the page: a document that
holds `<script>` or `<img onerror=…>` is shown as text, never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import os
import queue
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from ingest.readers import supported_suffixes
from ingest.text import shortened
from qa import Answer, Citation, QAError, StoreUnavailableError
from qa.app import App

EXAMPLES = [
    "Which university created the Chatbot Arena ranking?",
    "伯克利的哪位计算机教授参与开发了Vicuna？",
    "Quand Meta a-t-il publié Llama ?",
]
LANGUAGE_CHOICES = [("Any language", "any"), ("English", "en"), ("中文", "zh"), ("Français", "fr")]
UPLOAD_TYPES = list(supported_suffixes())
UPLOADS_OFF = ("Adding documents is off: this chat is open to the network without a login. Start it with "
               "`--auth-file` to require one, or with `--allow-anonymous-upload`.")
_EMPTY_SOURCES = "<p><i>Sources appear here.</i></p>"
# The reply shown while a question is being answered, before anything of the answer.
_PENDING = "<i>…</i>"
# Ends a generated answer while it is written (unchecked until it is done).
_CURSOR = " ▌"
_STOPPED = "<i>Stopped. This question is left out of the conversation: ask it again, or another.</i>"
# Under an answer while the translations of its quotes are on their way, and after they were stopped.
_TRANSLATING = '<div class="translating"><small><i>translating…</i></small></div>'
_TRANSLATIONS_STOPPED = '<div class="translating"><small><i>translations stopped</i></small></div>'
_MARKER = re.compile(r"\[(\d+)\]")


def render_answer(answer: Answer, turn: int = 1, app: App | None = None, translating: bool = False) -> str:
    """The chat message of an answer: escaped text, each [n] a link to this answer's own source
    n, the machine translations of its quotes (`translating`: more are on their way), its note,
    what was searched for a follow-up, and its source cards."""
    text = _MARKER.sub(rf'<a href="#a{turn}-source-\1">[\1]</a>', html.escape(answer.text))
    text += render_translations(answer, translating)
    if not answer.answerable:
        text = f"⚠️ <b>{text}</b><br><small>The closest passages are listed under its sources.</small>"
    # What no article has, which languages they are in, the sources' language, any remark on
    # generation: a refusal's note says why, as the CLI's and the JSON's do.
    if answer.note:
        text += f"<br><small><i>{html.escape(answer.note)}</i></small>"
    if answer.searched_shown:
        text += f'<br><small class="searched">searched: {html.escape(answer.searched_shown)}</small>'
    return text + render_source_cards(answer, turn, app)


def render_translations(answer: Answer, translating: bool = False) -> str:
    """The translations of an answer's quotes that passed their checks, each marked as the
    machine's, not a source; a rejected one is left out (its quote keeps the source's language note)."""
    shown = [t for t in answer.translations if t.text]
    lines = "".join(
        f'<div class="translation" lang="{t.translated_to}"><small>{html.escape(t.label)} </small>'
        f"{html.escape(t.text)}</div>"
        for t in shown)
    if translating:
        lines += _TRANSLATING
    return f'<div class="translations">{lines}</div>' if lines else ""


def render_source_cards(answer: Answer, turn: int, app: App | None = None) -> str:
    """The answer's passages as collapsible cards: the cited ones first, the others folded under
    "other passages". Ids carry the turn, so each answer's markers reach its own sources."""
    cited = [c for c in answer.citations if c.answer_spans]
    others = [c for c in answer.citations if not c.answer_spans]
    cards = "".join(_source_card(c, answer, turn, app) for c in cited)
    if others:
        label = "Closest passages" if not cited else "Other passages"
        cards += (f'<details class="other-passages"><summary>{label} ({len(others)})</summary>'
                  + "".join(_source_card(c, answer, turn, app) for c in others) + "</details>")
    return f'<div class="answer-sources">{cards}</div>' if cards else ""


def _card_id(turn: int, rank: int) -> str:
    return f"a{turn}-source-{rank}"


def _source_card(c: Citation, answer: Answer, turn: int, app: App | None) -> str:
    foreign = _in_original_language(c, answer)
    return (
        f'<details id="{_card_id(turn, c.rank)}" class="source-card"><summary>[{c.rank}] {html.escape(_short_title(c))}'
        f" <small>· {html.escape(Path(c.source).name)} · {html.escape(c.lang)} · score {c.score:.2f}</small></summary>"
        + (f"<small><i>{foreign[0].upper() + foreign[1:]}.</i></small><br>" if foreign else "")
        + f"{_marked_citation(c)}<br><small>{c.place}</small>{_surroundings(app, c)}</details>"
    )


def _in_original_language(c: Citation, answer: Answer) -> str:
    """Said of a source in another language than the question (escaped), or ""."""
    if c.lang == answer.answer_language:
        return ""
    return f"in its original language ({html.escape(c.lang)}), not the question's"


def _marked_citation(c: Citation) -> str:
    return _marked_passage(c.text, c.start, [(s.start, s.end) for s in c.answer_spans])


def _short_title(c: Citation, width: int = 80) -> str:
    """The article's title where it has one, else its file name; a cut title ends with "…"."""
    return shortened(c.title, width) or shortened(Path(c.source).name, width)


def stream_reply(app: App, message: str, history: list, k: int, lang: str | None,
                 turns: list | None = None) -> Iterator[tuple[list, Answer | None]]:
    """(chat history, answer) updates for one question, read against the conversation's earlier
    `turns` ({question, answer}): with a local model configured, one per generated token (the raw
    text, not yet checked), then the checked answer, then one per translation of a quote in
    another language than the question's; without a model, just the answer.

    Raises the app's QAError for a bad question, so the page can show it.
    """
    turn = 1 + sum(1 for m in history or [] if _role(m) == "assistant")
    history = list(history or []) + [{"role": "user", "content": html.escape(message)}]
    tokens: queue.Queue = queue.Queue()
    outcome: dict = {}

    def answer_in_background() -> None:
        try:
            outcome["answer"] = app.ask(message, k, lang, on_token=tokens.put, history=turns or None, translate=False)
        except Exception as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            tokens.put(None)

    worker = threading.Thread(target=answer_in_background, daemon=True)
    worker.start()
    streamed = ""
    while (token := tokens.get()) is not None:
        streamed += token
        # Unchecked until the end: shown as it comes, then replaced by the checked answer.
        yield history + [{"role": "assistant", "content": _lines(html.escape(streamed)) + _CURSOR}], None
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    answer = outcome["answer"]
    # The verbatim answer shows at once; the translations of its quotes follow as the model writes them.
    pending = app.pending_translations(answer)
    yield history + [{"role": "assistant", "content": render_answer(answer, turn, app, pending > 0)}], answer
    try:
        for step in app.translations(answer):
            answer, pending = step, pending - 1
            yield history + [{"role": "assistant", "content": render_answer(answer, turn, app, pending > 0)}], answer
    except Exception:  # a translation is an extra: the answer stands without it
        logging.getLogger(__name__).exception("translating the quotes of %r failed", message)
        yield history + [{"role": "assistant", "content": render_answer(answer, turn, app)}], answer


def _field(message, name: str):
    """A chat message's field: the chat hands back dicts or message objects."""
    return message.get(name) if isinstance(message, dict) else getattr(message, name, None)


def _role(message) -> str | None:
    return _field(message, "role")


def _content(message) -> str:
    """A message's text: the chat sends back what it was given as a list of parts ({type, text})."""
    content = _field(message, "content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def render_sources(answer: Answer, app: App | None = None) -> str:
    """HTML of each cited passage: file, title, language, score, offsets, the passage with its answer
    sentences marked, and (given the app) the text around it."""
    if not answer.citations:
        return "<p><i>No passages.</i></p>"
    heading = "Sources" if answer.answerable else "The articles don't say. Closest passages"
    parts = [f"<h3>{heading}</h3>"]
    for c in answer.citations:
        foreign = _in_original_language(c, answer)
        parts.append(
            f'<div id="source-{c.rank}" class="source"><p><b>[{c.rank}] {html.escape(Path(c.source).name)}</b>'
            f" · {html.escape(c.title[:80])}<br><small>{html.escape(c.lang)} · score {c.score:.2f} · "
            f"{c.place}"
            + (f" · <i>{foreign}</i>" if foreign else "")
            + "</small></p>"
            f'<div style="border-left:3px solid #999;padding-left:8px">'
            f"{_marked_citation(c)}</div>"
            f"{_surroundings(app, c)}</div>"
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
    return _lines("".join(out))


def _lines(escaped: str) -> str:
    return escaped.replace("\r", "").replace("\n", "<br>")


def _surroundings(app: App | None, citation: Citation) -> str:
    if app is None:
        return ""
    try:
        before, after = app.surrounding_text(citation)
    except Exception:  # the file moved or changed since ingest: the passage itself still stands
        return ""
    return (
        "<details><summary><small>Show the surrounding text</small></summary><small>…"
        f"{_lines(html.escape(before))}<b>{_lines(html.escape(citation.text))}</b>"
        f"{_lines(html.escape(after))}…</small></details>"
    )


def add_uploads(app: App, uploaded: list[Path]) -> str:
    """Keep a copy of each uploaded file in the data dir's `uploads/`, one folder per content, so
    that two files of one name never replace each other; ingest them; remove what was refused.
    Returns the report shown under the upload button (Markdown)."""
    uploads = app.settings.data_dir / "uploads"
    copies: dict[str, Path] = {}
    for source in uploaded:
        # Citations point at the file: keep a copy in the data dir, not in gradio's temp folder.
        target = uploads / hashlib.sha256(source.read_bytes()).hexdigest()[:12] / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copies[str(target)] = source
    report = app.ingest(list(map(Path, copies)), progress=False)
    refused = {path for path, _ in [*report.failures, *report.skipped]}
    for copy in refused & copies.keys():  # nothing of a refused file is kept, here or in gradio's temp folder
        Path(copy).unlink(missing_ok=True)
        copies[copy].unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # still holding another upload of that content
            Path(copy).parent.rmdir()

    def shown(path: str) -> str:
        return Path(path).relative_to(uploads).as_posix() if uploads in Path(path).parents else Path(path).name

    lines = [f"Added {report.documents_added}, updated {report.documents_updated}, "
             f"unchanged {report.documents_unchanged}, failed {report.documents_failed}; "
             f"{report.chunks_embedded} chunks embedded."]
    lines += [f"- added `uploads/{shown(p)}`" for p in copies if p not in refused]
    lines += [f"- failed `{shown(p)}`: {html.escape(reason)}" for p, reason in report.failures]
    lines += [f"- skipped `{shown(p)}`: {html.escape(reason)}" for p, reason in report.skipped]
    lines += [f"- note on `{shown(p)}`: {html.escape(note)}" for p, note in report.notes]
    return "\n".join(lines)


def failure_message(exc: Exception, about, doing: str = "answering this") -> str:
    """What a user is told when `doing` failed (answering the question `about`, or adding the files
    `about`), in one sentence; the details of a failure that is not theirs to fix go to the server log."""
    if isinstance(exc, QAError):  # the user's to fix: say what
        return str(exc)
    if isinstance(exc, StoreUnavailableError):  # a server that is down: say so
        logging.getLogger(__name__).warning("the index is not reachable: %s", exc)
        return f"The index is not reachable: {exc}. Please try again."
    logging.getLogger(__name__).error("%s failed (%r)", doing, about, exc_info=exc)
    return f"Sorry, something went wrong while {doing}. Please try again."


def launch_chat(app: App, **launch):
    """Serve the chat where the app's settings say, with their logins; `launch` overrides gradio's options.

    Uploads over the ingest size limit are refused by the server itself, failed logins slow down
    per address (`ui.login`), and a chat open to the network without a login offers no upload
    unless the settings allow it.
    """
    from starlette.middleware import Middleware

    from ui.login import LoginThrottle

    ui = app.settings.ui
    page = build_ui(app, uploads=ui.uploads_allowed)
    # show_error: a request gradio itself refuses (too few values for /ask) says why, not `null`;
    # every handler of ours turns its errors into a gr.Error with a message meant for the user.
    page.launch(**{"server_name": ui.host, "server_port": ui.port, "auth": ui.credentials, "show_error": True,
                   "max_file_size": app.settings.ingest.max_file_bytes,
                   "app_kwargs": {"middleware": [Middleware(LoginThrottle)]}, **launch})
    return page


def build_ui(app: App, uploads: bool = True):
    """The chat page for an app whose store is already open; `uploads`: whether it offers to add documents."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def status_line() -> str:
        s = app.status()
        return f"**{s.documents}** documents · **{s.chunks}** chunks · embedder `{s.embedder}`"

    def answering(busy: bool) -> tuple:
        """The Ask and Stop buttons' updates: Stop shows in Ask's place while a question is answered."""
        return gr.update(visible=not busy), gr.update(visible=busy)

    async def respond(message: str, history: list, turns: list, k: int, lang: str):
        shown = list(history or []) + [{"role": "user", "content": html.escape(message)}]
        yield shown + [{"role": "assistant", "content": _PENDING}], gr.skip(), gr.skip(), gr.skip(), *answering(True)
        steps = stream_reply(app, message, history, int(k), None if lang == "any" else lang, turns)
        try:
            # Each step awaited off the event loop: Stop cancels the wait at once, however long the
            # model takes (a thread still in the step finishes it in the background).
            while (step := await asyncio.to_thread(next, steps, None)) is not None:
                updated, answer = step
                if answer is None:
                    yield updated, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:  # the answer, then each translation of its quotes: Stop stays until the last
                    done = [*(turns or []), {"question": message, "answer": answer.text}]
                    yield updated, render_sources(answer, app), "", done, gr.skip(), gr.skip()
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), *answering(False)
        except Exception as exc:  # one message in the chat, the conversation kept
            failure = html.escape(failure_message(exc, message))
            yield (shown + [{"role": "assistant", "content": f"⚠️ {failure}"}], gr.skip(), message, turns,
                   *answering(False))

    def stopped(history: list):
        # Only a reply still under way is replaced, or its translations: the stop may come just
        # after the answer did. An answer shown stays in the conversation, translated or not.
        history = list(history or [])
        last = _content(history[-1]) if history and _role(history[-1]) == "assistant" else ""
        if last == _PENDING or last.endswith(_CURSOR):
            history[-1] = {"role": "assistant", "content": _STOPPED}
        elif _TRANSLATING in last:
            history[-1] = {"role": "assistant", "content": last.replace(_TRANSLATING, _TRANSLATIONS_STOPPED)}
        return history, *answering(False)

    def add_files(files: list | None, progress=gr.Progress()):
        if not files:
            raise gr.Error(f"Choose one or more files first ({', '.join(UPLOAD_TYPES)}).", print_exception=False)
        progress(0.1, desc="Embedding")
        paths = [Path(getattr(f, "name", f)) for f in files]
        try:
            return add_uploads(app, paths), status_line()
        except Exception as exc:  # as `ask`'s: one message, the trace in the log only where it helps
            raise gr.Error(failure_message(exc, [p.name for p in paths], "adding the files"),
                           print_exception=False) from None

    def ask(question: str, k: int | None = None, lang: str = "any", history: list[dict] | None = None) -> dict:
        """Answer a question; returns the answer object of FORMAT.md (answer, answerable, citations,
        search_query; with a local model, the checked translations of quotes in another language). `k`: how many passages to cite (default: the settings'); `lang`: cite only
        passages in it; `history`: the conversation so far, oldest first, each {question, answer}."""
        try:
            return app.ask(question, k, None if lang == "any" else lang, history=history).to_json()
        except Exception as exc:
            # failure_message logs what the server's operator needs; gradio's own traceback would
            # fill the log with every caller's typo.
            raise gr.Error(failure_message(exc, question), print_exception=False) from None

    with gr.Blocks(title="corpus-qa") as page:
        gr.Markdown("## corpus-qa\nAsk in English, 中文 or français. Every answer cites its passages; "
                    "click a marker like [1] to jump to it.")
        status = gr.Markdown(status_line)
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Chat", height=460, elem_id="chat")
                question = gr.Textbox(label="Question", placeholder="Ask about the articles…", lines=1,
                                      elem_id="question")
                with gr.Row():
                    send = gr.Button("Ask", variant="primary", elem_id="ask")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop", visible=False)
                    clear = gr.Button("Start over", elem_id="clear")
                gr.Examples(EXAMPLES, inputs=question)
                with gr.Accordion("Settings", open=False):
                    top_k = gr.Slider(1, 10, value=app.settings.qa.top_k, step=1, label="Passages to cite")
                    language = gr.Dropdown(LANGUAGE_CHOICES, value="any", label="Only passages in")
                with gr.Accordion("Add documents", open=False):
                    if uploads:
                        files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Files")
                        upload = gr.Button("Add to the index")
                        upload_log = gr.Markdown()
                    else:
                        gr.Markdown(UPLOADS_OFF)
            with gr.Column(scale=2):
                sources = gr.HTML(_EMPTY_SOURCES, elem_id="sources")
        turns = gr.State([])  # the conversation so far, as follow-ups are read against it
        asked = [trigger(respond, [question, chat, turns, top_k, language], [chat, sources, question, turns, send, stop],
                         api_visibility="private") for trigger in (question.submit, send.click)]
        stop.click(stopped, chat, [chat, send, stop], cancels=asked, api_visibility="private")
        # Starting over also ends an answer under way: it would come back into the emptied chat.
        clear.click(lambda: ([], _EMPTY_SOURCES, "", [], *answering(False)), None,
                    [chat, sources, question, turns, send, stop], cancels=asked, api_visibility="private")
        if uploads:
            upload.click(add_files, files, [upload_log, status], api_visibility="private")
        gr.api(ask, api_name="ask")
    return page.queue(default_concurrency_limit=4)
