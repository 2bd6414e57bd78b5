"""Question -> passages -> a short extractive answer whose sentences cite their passages."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import replace

import numpy as np

from ingest import Embedder, detect_language
from ingest.chunking import split_sentences
from qa.errors import EmptyIndexError, QuestionError
from qa.records import Answer, Citation, Span
from qa.settings import QASettings
from store import ChromaStore, Passage

ABSTENTION = {
    "en": "The articles don't say.",
    "zh": "这些文章没有提到。",
    "fr": "Les articles ne le disent pas.",
}

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_CLOSERS_AFTER_CJK_END = re.compile(r"(?<=[。！？])[”’」』）)\"']+$")
_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(
    "the a an of and or is are was were be been to in on at by for with from that this these those which who "
    "whom what when where why how does did do has have had it its as about according into than then there "
    "le la les des du de un une et ou est sont a au aux en dans pour par sur avec que qui quoi quand comment "
    "pourquoi combien quel quelle quels quelles ce cette ces il elle ils elles on se sa son ses leur d l".split()
)
# Weights of the sentence score; chosen on ../shared/eval (dev.jsonl and xquad-dev together).
_SENTENCE_WEIGHT, _PASSAGE_WEIGHT, _KEYWORD_WEIGHT = 0.6, 0.4, 0.3
# A further sentence joins the answer only if it scores nearly as well as the best one.
_SECOND_SENTENCE_MARGIN = 0.05


def check_question(question: str, settings: QASettings) -> str:
    """The question stripped, or a QuestionError saying what is wrong with it."""
    stripped = (question or "").strip()
    if not stripped:
        raise QuestionError("the question is empty: ask something, e.g. \"Who created Chatbot Arena?\"")
    if len(stripped) > settings.max_question_chars:
        raise QuestionError(
            f"the question is {len(stripped)} characters long; the limit is {settings.max_question_chars}"
        )
    return stripped


def retrieve_passages(question: str, store: ChromaStore, embedder: Embedder, k: int) -> list[Passage]:
    """The k stored passages closest in meaning to the question, best first."""
    return store.search(embedder.embed_query(question), k)


def answer_question(
    question: str, store: ChromaStore, embedder: Embedder, settings: QASettings, k: int | None = None
) -> Answer:
    """Answer one question from the store, citing the passages it rests on.

    Raises:
        QuestionError: the question is empty or too long.
        EmptyIndexError: nothing has been ingested.
    """
    started = time.perf_counter()
    question = check_question(question, settings)
    if store.chunk_count() == 0:
        raise EmptyIndexError(f"nothing is ingested in {store.location} yet: run `corpus-qa ingest` first")
    passages = retrieve_passages(question, store, embedder, k or settings.top_k)
    answer = compose_answer(question, passages, embedder, settings)
    return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)


def compose_answer(question: str, passages: list[Passage], embedder: Embedder, settings: QASettings) -> Answer:
    """Pick the one to three sentences of the top passages that best answer the question."""
    lang = detect_language(question)
    if not passages or passages[0].score < settings.min_score:
        citations = tuple(Citation.from_passage(rank, p) for rank, p in enumerate(passages, 1))
        return Answer(question, ABSTENTION[lang], False, citations, lang, None)
    candidates = _candidate_sentences(passages[: settings.answer_passages])
    scores = _score_sentences(question, candidates, passages, embedder)
    chosen = _choose_sentences(candidates, scores, settings.max_answer_chars)
    spans_by_rank: dict[int, list[Span]] = {}
    for rank, span, _ in chosen:
        spans_by_rank.setdefault(rank, []).append(span)
    citations = tuple(
        Citation.from_passage(rank, p, tuple(spans_by_rank.get(rank, ()))) for rank, p in enumerate(passages, 1)
    )
    text = " ".join(f"{sentence} [{rank}]" for rank, _, sentence in chosen)
    source_lang = passages[chosen[0][0] - 1].chunk.lang if chosen else passages[0].chunk.lang
    return Answer(question, text, True, citations, lang, source_lang)


def _candidate_sentences(passages: list[Passage]) -> list[tuple[int, Span, str]]:
    """(rank, document span, text) of each sentence of the passages that could answer something.

    The title is left out: it names the topic, so it is close to every question about it.
    """
    out = []
    seen = set()  # overlapping chunks share sentences; each is a candidate once, under its best rank
    for rank, passage in enumerate(passages, 1):
        chunk = passage.chunk
        for start, end in split_sentences(chunk.text):
            text = chunk.text[start:end]
            key = (chunk.doc_id, chunk.start + start)
            if text.strip() == chunk.title or key in seen:
                continue
            # A marker must follow the 。 itself: readers (and verify.py) end the sentence there.
            closers = _CLOSERS_AFTER_CJK_END.search(text)
            if closers:
                text, end = text[: closers.start()], end - len(closers.group())
            if len(_WORD.findall(text)) >= 2 or len(_HAN.findall(text)) >= 4:
                seen.add(key)
                out.append((rank, Span(chunk.start + start, chunk.start + end), text))
    return out


def _score_sentences(question: str, candidates, passages: list[Passage], embedder: Embedder) -> np.ndarray:
    if not candidates:
        return np.zeros(0)
    vectors = embedder.embed_documents([text for _, _, text in candidates])
    similarity = vectors @ embedder.embed_query(question)
    question_terms = keyword_terms(question)
    coverage = np.array([_coverage(question_terms, keyword_terms(text)) for _, _, text in candidates])
    passage_scores = np.array([passages[rank - 1].score for rank, _, _ in candidates])
    return _SENTENCE_WEIGHT * similarity + _PASSAGE_WEIGHT * passage_scores + _KEYWORD_WEIGHT * coverage


def _choose_sentences(candidates, scores: np.ndarray, max_chars: int) -> list[tuple[int, Span, str]]:
    """The best sentence, then up to two more that score nearly as well."""
    if not len(candidates):
        return []
    order = np.argsort(-scores, kind="stable")
    best = scores[order[0]]
    chosen, used = [], 0
    for i in order[:3]:
        rank, span, text = candidates[i]
        if chosen and (scores[i] < best - _SECOND_SENTENCE_MARGIN or used + len(text) + 1 > max_chars):
            break
        if not chosen and len(text) > max_chars:
            span, text = _shorten(span, text, max_chars)
        chosen.append((rank, span, text))
        used += len(text) + 1
    return chosen


def _shorten(span: Span, text: str, max_chars: int) -> tuple[Span, str]:
    """The first clause-aligned prefix of an over-long sentence that fits."""
    cut = max(text.rfind(mark, 0, max_chars) for mark in (",", "，", ";", "；", ":", " "))
    cut = cut if cut > max_chars // 2 else max_chars
    text = text[:cut].rstrip()
    return Span(span.start, span.start + len(text)), text


def keyword_terms(text: str) -> set[str]:
    """Lower-cased, accent-folded words (stopwords dropped) and Chinese character bigrams."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    terms = set()
    for word in _WORD.findall(folded):
        han = _HAN.findall(word)
        if han:
            terms.update(a + b for a, b in zip(han, han[1:]))
            word = _HAN.sub(" ", word)
            terms.update(w for w in word.split() if len(w) > 1 and w not in _STOPWORDS)
        elif len(word) > 1 and word not in _STOPWORDS:
            terms.add(word)
    return terms


def _coverage(question_terms: set[str], sentence_terms: set[str]) -> float:
    return len(question_terms & sentence_terms) / len(question_terms) if question_terms else 0.0
