"""The conversation so far: earlier turns, checked, and the text a follow-up is read against."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa.errors import QuestionError
from qa.language_mention import language_mentioned, mentions_the_articles

# A chat's topic is its last few turns': older ones drift off it.
CONTEXT_TURNS = 3
_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Turn:
    """One earlier turn: the question asked and the answer shown."""

    question: str
    answer: str = ""


def parse_history(raw: object) -> tuple[Turn, ...]:
    """Earlier turns, oldest first, from FORMAT.md's `history`: a list of {question, answer}.

    Turn objects pass as they are; None is no history.

    Raises:
        QuestionError: the history is not a list, or a turn is not an object with a string `question`.
    """
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise QuestionError(f"history must be a list of {{question, answer}} objects, not {type(raw).__name__}")
    turns = []
    for n, item in enumerate(raw, 1):
        if isinstance(item, Turn):
            turns.append(item)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise QuestionError(f"history turn {n} must be an object with a 'question' string (and an 'answer')")
        answer = item.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise QuestionError(f"history turn {n}'s 'answer' must be a string")
        turns.append(Turn(item["question"].strip(), (answer or "").strip()))
    return tuple(t for t in turns if t.question)


def context_text(history: Iterable[Turn], max_chars: int) -> str:
    """What a follow-up is read against: the last turns' questions and answers, markers left
    out, the most recent kept when they are too long together."""
    parts = []
    for turn in list(history)[-CONTEXT_TURNS:]:
        parts += [turn.question, _MARKER.sub("", turn.answer)]
    return " ".join(p for p in parts if p)[-max_chars:]


def named_in_conversation(question: str, history: Iterable[Turn]) -> str | None:
    """The language whose articles a follow-up that speaks of "the article" ("文章里说…") means:
    the one the latest of the last turns' questions that names one names ("根据英文文章…"), or None.
    A follow-up that does not speak of the article may have moved on to another one."""
    if not mentions_the_articles(question):
        return None
    for turn in reversed(list(history)[-CONTEXT_TURNS:]):
        named, _ = language_mentioned(turn.question)
        if named is not None:
            return named
    return None
