"""Optional generated answers from a local model, checked against the passages they cite.

Two backends, both optional: an OpenAI-compatible HTTP endpoint (Ollama, llama.cpp server,
vLLM: CORPUS_QA_LLM_URL and CORPUS_QA_LLM_MODEL), or a GGUF file run in-process by xllamacpp
(CORPUS_QA_LLM_GGUF). Every generated sentence must end with [n] markers; a sentence whose
numbers or names are not in the passages it cites is dropped. The in-process model is held to
that form by a grammar.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Callable

from ingest.text import CAPITALISED_WORD, NAME, is_question
from qa.errors import QAError, SettingsError
from qa.records import Citation
from qa.settings import QASettings

OnToken = Callable[[str], None]

_LANGUAGE = {"en": "English", "zh": "Chinese (简体中文)", "fr": "French"}
_MARKERS = re.compile(r"\[(\d+)\]")
_SENTENCE_END = re.compile(r"(?:[。！？]|[.!?](?=\s|\[|$))(?:\s*\[\d+\])*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Characters of one generated sentence at most, under the grammar.
_LONGEST_GENERATED_SENTENCE = 300


class GenerationError(QAError):
    """The local model failed, timed out or is unreachable."""


class Generator:
    """A local chat model behind one call: messages in, text out (tokens streamed to `on_token`)."""

    def __init__(self, name: str, chat: Callable[[list[dict], int, OnToken | None, str | None], str]):
        self.name = name
        self._chat = chat

    def generate(self, messages: list[dict], max_tokens: int, timeout: float, on_token: OnToken | None = None,
                 grammar: str | None = None) -> str:
        """The model's reply, or GenerationError when it fails or takes longer than `timeout` seconds.

        A GBNF `grammar` constrains the in-process model's reply; an HTTP endpoint is not sent it
        (not every OpenAI-compatible server accepts the field), and its reply is checked alike.
        """
        result: dict = {}

        def run() -> None:
            try:
                result["text"] = self._chat(messages, max_tokens, on_token, grammar)
            except Exception as exc:  # any backend failure becomes a fallback, not a crash
                result["error"] = exc

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise GenerationError(f"{self.name} took longer than {timeout:g} s (CORPUS_QA_LLM_TIMEOUT)")
        if "error" in result:
            raise GenerationError(f"{self.name} failed: {result['error']}")
        return result["text"]


def load_generator(settings: QASettings) -> Generator | None:
    """The configured generator, or None when no local model is configured."""
    if settings.llm_gguf:
        return _gguf_generator(settings.llm_gguf, settings.llm_threads)
    if settings.llm_url:
        return _http_generator(settings.llm_url, settings.llm_model or "default")
    return None


@functools.cache
def _gguf_generator(path: str, threads: int) -> Generator:
    try:
        import xllamacpp
    except ImportError as exc:
        raise SettingsError("CORPUS_QA_LLM_GGUF needs the package xllamacpp: pip install xllamacpp") from exc
    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = 4096
    params.cpuparams.n_threads = threads
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:
        raise SettingsError(f"cannot load the GGUF model {path}: {exc}") from exc
    lock = threading.Lock()  # one generation at a time per loaded model

    def chat(messages: list[dict], max_tokens: int, on_token: OnToken | None, grammar: str | None) -> str:
        request = {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
        if grammar:
            request["grammar"] = grammar
        with lock:
            if on_token is None:
                reply = server.handle_chat_completions(request)
                return reply["choices"][0]["message"]["content"]
            parts: list[str] = []

            def collect(chunk: dict) -> None:
                delta = (chunk.get("choices") or [{}])[0].get("delta", {}).get("content") or ""
                if delta:
                    parts.append(delta)
                    on_token(delta)

            server.handle_chat_completions({**request, "stream": True}, collect)
            if not parts:
                # Seen with xllamacpp 2026.10: a stream can end after its first (role) chunk on
                # longer prompts, while the same request unstreamed answers in full.
                reply = server.handle_chat_completions(request)["choices"][0]["message"]["content"] or ""
                if reply:
                    on_token(reply)
                return reply
            return "".join(parts)

    return Generator(f"GGUF model {path}", chat)


def _http_generator(url: str, model: str) -> Generator:
    import httpx

    endpoint = url.rstrip("/")
    if not endpoint.endswith("/chat/completions"):
        endpoint += "/v1/chat/completions" if not endpoint.endswith("/v1") else "/chat/completions"

    def chat(messages: list[dict], max_tokens: int, on_token: OnToken | None, grammar: str | None) -> str:
        request = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
        if on_token is None:
            response = httpx.post(endpoint, json=request, timeout=None)
            response.raise_for_status()
            return response.json()["choices"][0]["message"]["content"]
        parts: list[str] = []
        with httpx.stream("POST", endpoint, json={**request, "stream": True}, timeout=None) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                delta = (json.loads(line[5:]).get("choices") or [{}])[0].get("delta", {}).get("content") or ""
                if delta:
                    parts.append(delta)
                    on_token(delta)
        return "".join(parts)

    return Generator(f"model {model} at {endpoint}", chat)


def build_messages(question: str, citations: tuple[Citation, ...], question_lang: str) -> list[dict]:
    """The prompt: the numbered passages, the question, and the rules the answer must keep."""
    passages = "\n\n".join(f"[{c.rank}] {c.text}" for c in citations)
    language = _LANGUAGE.get(question_lang, "the question's language")
    system = (
        f"You answer questions using only the numbered passages given. Answer in {language}, in one to three "
        "short sentences. End every sentence with the marker of the passage it comes from, like [1]. "
        "If the passages do not contain the answer, say that the articles don't say."
    )
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Passages:\n{passages}\n\nQuestion: {question}"}]


def marked_sentences_grammar(passages: int) -> str:
    """A GBNF grammar for one to three sentences, each ending with the marker of one of `passages` passages.

    A model held to it cannot leave a sentence unmarked or cite a passage that does not exist;
    whether a sentence's numbers and names are in what it cites is still checked after. A full
    stop before a digit ("GPT-3.5") does not end a sentence, and none starts with a digit or a
    bullet (small models fall into numbered lists: "1.1.1.1."), nor with a lower-case letter
    (the tail of a sentence cut short, "is a part of the article. [2]").
    """
    ranks = " | ".join(f'"{n}"' for n in range(1, max(passages, 1) + 1))
    return "\n".join([
        'root ::= sentence (" " sentence){0,2}',
        f"sentence ::= first piece{{3,{_LONGEST_GENERATED_SENTENCE}}} [.!?。！？] marker",
        r'first ::= [^\[\]\n.!?。！？0-9a-z #*-]',
        r'piece ::= [^\[\]\n.!?。！？] | "." [0-9]',
        f'marker ::= " [" rank "]"\nrank ::= {ranks}',
    ])


def without_markers(text: str) -> str:
    """A generated text with its [n] markers taken out: the words it says."""
    return _MARKERS.sub("", text)


def split_generated(text: str) -> list[str]:
    """Sentences of a generated answer, each with its own [n] markers.

    Markers after a sentence's end punctuation belong to it; so do markers opening a line
    ("[1] Meta released…"), a list style small models like.
    """
    sentences = []
    for line in text.splitlines():
        line = re.sub(r"\s+", " ", line).strip()
        leading = re.match(r"^((?:\[\d+\]\s*)+)(.*)$", line)
        if leading:
            line = f"{leading.group(2)} {leading.group(1).strip()}"
        cursor = 0
        for end in _SENTENCE_END.finditer(line):
            sentences.append(line[cursor : end.end()].strip())
            cursor = end.end()
        sentences.append(line[cursor:].strip())
    return [s for s in sentences if re.search(r"\w", without_markers(s))]


def supported_sentences(text: str, citations: tuple[Citation, ...], question: str = "") -> tuple[list[str], list[str]]:
    """(kept, dropped): a sentence is kept when it cites existing passages and every number and
    name in it appears in the passages it cites. A sentence that asks is dropped (small models
    echo the question), and so is one said already, alone or within a longer one, whatever
    passage it cites the second time.

    A sentence's first word is one of its names when the question names it too: a small model
    opens its answer with the question's subject, named or not in the passages.
    """
    by_rank = {c.rank: c.text.lower() for c in citations}
    named = {name.lower() for name in NAME.findall(question)}
    kept, dropped, said = [], [], []
    for sentence in split_generated(text):
        ranks = [int(n) for n in _MARKERS.findall(sentence)]
        cited = " ".join(by_rank.get(n, "") for n in ranks)
        words = without_markers(sentence).strip()
        # A sentence's first word, a name when the question names it ("Anthropic is a non-profit …").
        first = CAPITALISED_WORD.match(words)
        opening = [first.group()] if first and first.group().lower() in named else []
        claims = _NUMBER.findall(words) + NAME.findall(words) + opening
        # A repeat may be part of what was said: "The answer is: X. [1] X. [2]" says X twice.
        fresh = not any(words in earlier for earlier in said) and not is_question(words)
        if ranks and fresh and all(n in by_rank for n in ranks) and all(claim.lower() in cited for claim in claims):
            kept.append(sentence)
            said.append(words)
        else:
            dropped.append(sentence)
    return kept, dropped
