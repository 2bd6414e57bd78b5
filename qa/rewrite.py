"""A follow-up question rewritten to stand alone by the local model, when one is configured, and checked.

Without a model a follow-up is read against the conversation (`qa.conversation`); a model can
also say outright what "it" is. A small model invents as readily as it resolves, so a rewrite is
kept only when it is in the question's language and names nothing that neither the question
nor the conversation names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.text import NAME, detect_language
from qa.conversation import CONTEXT_TURNS, Turn
from qa.generate import GenerationError, Generator
from qa.settings import QASettings

_LANGUAGE = {"en": "English", "zh": "Chinese", "fr": "French"}
# A standalone question is a line; a model that goes on has stopped rewriting.
_MOST_TOKENS = 64


@dataclass(frozen=True)
class Rewrite:
    """The standalone question the model wrote, or why it was not kept (`rejected`)."""

    text: str | None
    rejected: str | None = None


def rewrite_messages(question: str, history: tuple[Turn, ...]) -> list[dict]:
    """The prompt: the conversation's last turns, the follow-up, and the rules of the rewrite."""
    language = _LANGUAGE.get(detect_language(question), "the question's language")
    turns = "\n".join(f"Q: {t.question}\nA: {t.answer}" for t in history[-CONTEXT_TURNS:])
    system = (f"Rewrite the last question so that it can be understood without the conversation, in {language}. "
              "Replace words like 'it', 'they' or 'that' by what they refer to in the conversation. "
              "Use only names that appear in the conversation or the question. Reply with the question only.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Conversation:\n{turns}\n\nLast question: {question}"}]


def rewrite_follow_up(question: str, history: tuple[Turn, ...], generator: Generator,
                      settings: QASettings) -> Rewrite:
    """The follow-up `question` rewritten to stand alone, if the rewrite passes the checks."""
    try:
        reply = generator.generate(rewrite_messages(question, history), _MOST_TOKENS, settings.llm_timeout)
    except GenerationError as exc:
        return Rewrite(None, str(exc))
    text = reply.strip().splitlines()[0].strip().strip('"“”') if reply.strip() else ""
    return Rewrite(text) if (why := rewrite_problem(text, question, history, settings)) is None else Rewrite(None, why)


def rewrite_problem(text: str, question: str, history: tuple[Turn, ...], settings: QASettings) -> str | None:
    """Why a rewrite cannot stand for `question` (None when it can): empty or too long, in another
    language, or naming something that neither the question nor the conversation names."""
    if not text or len(text) > settings.max_question_chars:
        return "the rewrite is empty or too long"
    if detect_language(text) != detect_language(question):
        return f"the rewrite is in {detect_language(text)}, the question in {detect_language(question)}"
    said = " ".join([question, *(f"{t.question} {t.answer}" for t in history)]).casefold()
    names = set(NAME.findall(text))
    invented = sorted(n for n in names if n.casefold() not in said)
    if invented:
        return f"the rewrite names {', '.join(invented)}, which the conversation does not"
    return None
