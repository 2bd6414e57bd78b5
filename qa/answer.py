"""Question -> passages -> a short extractive answer whose sentences cite their passages."""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Container
from dataclasses import dataclass, replace

import numpy as np

from ingest import detect_language
from ingest.text import (
    CLOSING_MARKS,
    HAN,
    LANGUAGE_NAMES,
    ends_with_full_stop,
    heading_text,
    is_field,
    is_heading,
    is_question,
    readable,
)
from qa.answer_type import asked_type, holds_type
from qa.conversation import Turn
from qa.errors import EmptyIndexError, QuestionError
from qa.generate import (
    GenerationError,
    Generator,
    OnToken,
    build_messages,
    marked_sentences_grammar,
    supported_sentences,
    without_markers,
)
from qa.keywords import QueryTerms, names_something
from qa.records import Answer, Citation, Quote, Span, no_article_note, unwritten_note
from qa.retrieve import (
    Evidence,
    Query,
    Retrieval,
    Sentence,
    find_evidence,
    make_query,
    spacing_aside,
    with_following_sentences,
)
from qa.rewrite import rewrite_follow_up
from qa.scoring import ScoringModel, SentenceSignals, SwitchSignals, answer_features
from qa.settings import MOST_CITED, QASettings

ABSTENTION = {
    "en": "The articles don't say.",
    "zh": "这些文章没有提到。",
    "fr": "Les articles ne le disent pas.",
}

_CLOSERS_AFTER_CJK_END = re.compile(f"(?<=[。！？])[{re.escape(CLOSING_MARKS)}]+$")
_WORD = re.compile(r"[^\W_]+")
_BULLET = re.compile(r"\s*(?:[-*•·–]|\d{1,2}[.)])\s+")
_QUOTATION_MARKS = re.compile(r"\s*(?:>\s*)+")
# What may follow them: a task's box ("- [x] "), a callout's type ("> [!note] ").
_CHECKBOX = re.compile(r"\[[ xX]\]\s+")
_CALLOUT = re.compile(r"\[![\w-]+\][+-]?\s*")
# Where verify.py (and a reader's splitter) ends a sentence inside a quoted one.
_READER_BREAK = re.compile(r"(?<=[.!?])(?=\s+[A-Z\u4e00-\u9fff«\"“])")
_CLAUSE_MARKS = ",，;；:："
_CLAUSE_END = re.compile(rf"[{_CLAUSE_MARKS}]\s*")
# Marks where an answer sentence was cut to fit.
_CUT = "…"
# A sentence ending so introduces what follows it (a list).
_INTRODUCES = (":", "：")
# A further sentence cut shorter than this would say too little to be worth its place.
_SHORTEST_CUT = 80
# The most sentences an answer quotes, list items aside.
_MOST_SENTENCES = 3
# The least share of its length a best sentence keeps when it is cut to fit the one after it.
_LEAST_KEPT = 0.9
# A person written as a pronoun ("He is remembered for…", "Popular in the 1970s, his biggest hit…",
# "Il a fondé…", "她曾…"); 其他 ("other") and 吉他 ("guitar") hold the character but are no pronoun.
_PERSON_WORDS = "he|she|his|her|il|elle"
_PRONOUN = re.compile(rf"\b(?:{_PERSON_WORDS}|him)\b|(?<![其吉])[他她]", re.IGNORECASE)
# The same, opening the sentence or one of its clauses ("Best known for the lamp, she taught …").
_OPENING_PRONOUN = re.compile(rf"(?:^|[{_CLAUSE_MARKS}])\s*(?:(?:{_PERSON_WORDS})\b|[他她])", re.IGNORECASE)
# A name within a sentence: a capitalised word after another word (the first word is capitalised anyway).
_NAME_WITHIN = re.compile(r"(?<=[\w,;:)] )[A-Z][a-zà-ÿ]+")


def check_options(k: int | None, lang: str | None) -> tuple[int | None, str | None]:
    """`k` and `lang` as a question's options, the code lower-cased; a QuestionError saying what is wrong otherwise."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise QuestionError(f"k, the passages to cite, must be a whole number from 1 to {MOST_CITED}, not {k!r:.40}")
    if lang is not None and not isinstance(lang, str):
        raise QuestionError(f"lang must be a language code such as en, zh or fr, not {lang!r:.40}")
    lang = lang.strip().lower() if lang is not None else None
    if lang is not None and not re.fullmatch(r"[a-z]{2,3}", lang):
        raise QuestionError(f"unknown language filter {lang!r}: use a code such as en, zh or fr")
    if k is not None and not 1 <= k <= MOST_CITED:
        raise QuestionError(f"cannot cite {k} passages: ask for 1 to {MOST_CITED}")
    return k, lang


def check_question(question: str, settings: QASettings) -> str:
    """The question stripped, or a QuestionError saying what is wrong with it."""
    stripped = (question or "").strip()
    if not stripped:
        raise QuestionError("the question is empty: ask something, e.g. \"Who created Chatbot Arena?\"")
    if not _WORD.search(stripped):
        raise QuestionError(f"the question {stripped[:40]!r} has no words to search for: ask in English, Chinese or French")
    if len(stripped) > settings.max_question_chars:
        raise QuestionError(
            f"the question is {len(stripped)} characters long; the limit is {settings.max_question_chars}"
        )
    return stripped


def answer_question(
    question: str,
    retrieval: Retrieval,
    settings: QASettings,
    k: int | None = None,
    lang: str | None = None,
    generator: Generator | None = None,
    on_token: OnToken | None = None,
    history: tuple[Turn, ...] = (),
) -> Answer:
    """Answer one question from the store, citing the passages it rests on; with `history`, the
    earlier turns of its conversation, a follow-up is read against them (and, with a local model and
    `llm_rewrite`, searched as the model rewrote it to stand alone, when the rewrite passes `qa.rewrite`'s checks).

    Raises:
        QuestionError: the question is empty or too long, asked alone with only words that name
            nothing ("the", "的"), `lang` is not a language code, or `k` is not 1 to MOST_CITED.
        EmptyIndexError: nothing has been ingested.
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__} ({question!r:.40})")
    k, lang = check_options(k, lang)
    started = time.perf_counter()
    question = check_question(question, settings)
    if not retrieval.keywords.chunk_ids:  # the index of the store's contents: no request to the store
        raise EmptyIndexError(f"nothing is ingested in {retrieval.store.location} yet: run `corpus-qa ingest` first")
    if not history and not names_something(question):  # "the", "的": any passage would do as well as another
        raise QuestionError(f"the question {question[:40]!r} has only words that name nothing ('the', 'who', '的'): "
                            "ask about something, e.g. \"Who created Chatbot Arena?\"")
    searched_question = question
    if generator is not None and history and settings.llm_rewrite:
        searched_question = rewrite_follow_up(question, history, generator, settings).text or question
    reading = read_with_history(searched_question, history, retrieval, settings, k, lang)
    query, evidence, searched = reading.query, reading.evidence, reading.searched
    answer = replace(compose_answer(query, evidence, settings, retrieval.scoring), question=question,
                     searched_language=searched, search_query=query.search_text)
    if lang is not None and not evidence:
        # "The articles don't say." alone reads as if the question were at fault, not the filter.
        held = sorted(retrieval.keywords.languages.counts)
        answer = replace(answer, remark=no_article_note(answer.answer_language, lang, held))
    if generator is not None and answer.answerable and settings.llm_generate:
        answer = generate_answer(answer, generator, settings, on_token)
    return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)


@dataclass(frozen=True)
class Reading:
    """A question searched one way: its query, the passages it cites (`evidence_to_cite`), and
    the language searched when the question named one."""

    query: Query
    evidence: list[Evidence]
    searched: str | None


def read_with_history(question: str, history: tuple[Turn, ...], retrieval: Retrieval, settings: QASettings,
                      k: int | None = None, lang: str | None = None) -> Reading:
    """The question read against its conversation, unless the fitted topic-switch model finds it
    better answered alone, as a new topic ("Et Mistral ?" leans on the turns before; "When did
    the Warsaw exchange reopen?" does not)."""
    with_history, alone = read_both_ways(question, history, retrieval, settings, k, lang)
    if alone is not None and retrieval.scoring.is_topic_switch(switch_signals(with_history, alone, retrieval.scoring)):
        return alone
    return with_history


def read_both_ways(question: str, history: tuple[Turn, ...], retrieval: Retrieval, settings: QASettings,
                   k: int | None = None, lang: str | None = None) -> tuple[Reading, Reading | None]:
    """The question read against its conversation, and alone: the second None without history,
    or when either reading finds nothing (then there is nothing to choose)."""
    query = make_query(question, retrieval, settings, history)
    with_history = Reading(query, *evidence_to_cite(query, retrieval, settings, k, lang))
    if not history or not with_history.evidence:
        return with_history, None
    query = replace(query, context=None)  # the question's own query is the same either way: not made twice
    alone = Reading(query, *evidence_to_cite(query, retrieval, settings, k, lang))
    return with_history, alone if alone.evidence else None


def switch_signals(with_history: Reading, alone: Reading, scoring: ScoringModel) -> SwitchSignals:
    """What the topic-switch model reads: how answerable each reading finds the question, the best
    passage's signals about the conversation, and whether the two readings lead to one article."""
    evidence = with_history.evidence
    best, alone_best = evidence[0], alone.evidence[0]
    return SwitchSignals(
        alone_probability=answer_probability(alone.query, alone.evidence, scoring),
        history_probability=answer_probability(with_history.query, evidence, scoring),
        question_held=best.signals.question_held,
        context_cosine=best.signals.context_cosine,
        context_coverage=best.signals.context_coverage,
        context_document_coverage=best.signals.context_document_coverage,
        same_best_document=float(best.passage.chunk.doc_id == alone_best.passage.chunk.doc_id),
        alone_best_among_history=float(alone_best.passage.chunk.doc_id in {e.passage.chunk.doc_id for e in evidence}),
    )


def evidence_to_cite(query: Query, retrieval: Retrieval, settings: QASettings, k: int | None = None,
                     lang: str | None = None) -> tuple[list[Evidence], str | None]:
    """The passages an answer cites, best first, each with the sentence that follows it, and the
    language searched when the question named one (`lang` filters; without it, a language the
    question names does, unless no article is in it)."""
    found = find_evidence(query, retrieval, settings, lang or query.scoped_language)
    inferred = lang is None and query.scoped_language is not None
    searched = query.scoped_language if inferred and found else None
    if inferred and not found:
        found = find_evidence(query, retrieval, settings)  # no article is in the language the question names
    return with_following_sentences(query, found[: k or settings.top_k], retrieval.embedder), searched


def generate_answer(extractive: Answer, generator: Generator, settings: QASettings, on_token: OnToken | None) -> Answer:
    """A generated answer from the cited passages, keeping only sentences they support; the
    extractive answer, with a remark, when generation fails, times out, cites nothing or is
    written in another language than the question."""
    messages = build_messages(extractive.question, extractive.citations, extractive.answer_language)
    try:
        text = generator.generate(messages, settings.llm_max_tokens, settings.llm_timeout, on_token,
                                  marked_sentences_grammar(len(extractive.citations)))
    except GenerationError as exc:
        return replace(extractive, remark=f"Generation failed ({exc}); this is the extractive answer.")
    kept, dropped = supported_sentences(text, extractive.citations, extractive.question)
    if not kept:
        return replace(extractive, remark="The generated answer had no sentence its cited passages support; "
                                          "this is the extractive answer.")
    written_in = detect_language(without_markers(" ".join(kept)))
    if written_in != extractive.answer_language:
        # Small models often answer a Chinese or French question in English: not what was asked.
        asked_in = LANGUAGE_NAMES[extractive.answer_language]
        return replace(extractive, remark=f"The generated answer was in {LANGUAGE_NAMES[written_in]}, not "
                                          f"{asked_in}; this is the extractive answer.")
    remark = (f"{len(dropped)} generated sentence(s) left out (unsupported, repeated or asking)."
              if dropped else None)
    return replace(extractive, text=" ".join(kept), mode="generated", remark=remark)


def compose_answer(query: Query, evidence: list[Evidence], settings: QASettings, scoring: ScoringModel) -> Answer:
    """Pick the one to three sentences of the top passages that best answer the question."""
    question = query.text
    lang = detect_language(question)
    passages = [e.passage for e in evidence]
    # Nothing found (a language filter no chunk matches), a question about a version of a model
    # that no article writes (passages on its siblings score well), or too weak a best passage.
    follow_up = query.context is not None
    threshold = scoring.threshold(follow_up) if settings.answer_threshold is None else settings.answer_threshold
    unsupported = (not evidence or bool(query.unknown_versions)
                   or answer_probability(query, evidence, scoring) < threshold)
    candidates = [] if unsupported else candidate_sentences(evidence[: settings.answer_passages])
    # Said answered or not: an answer given anyway is about something else than the question asks.
    caveat = unwritten_note(lang, query.unknown_names, query.unknown_versions, query.written_versions)
    # Or no candidate sentence: the best passages hold only headings and questions, nothing that tells.
    if not candidates:
        citations = tuple(Citation.from_passage(rank, p) for rank, p in enumerate(passages, 1))
        return Answer(question, ABSTENTION[lang], False, citations, lang, None, caveat=caveat)
    kind = asked_type(question)
    scores = np.array([scoring.sentence_score(s) for s in sentence_signals(kind, candidates, evidence)])
    chosen = choose_sentences(candidates, scores, scoring.sentence_margin, settings.max_answer_chars, query.terms,
                               kind, continued_in_paragraph(candidates, evidence))
    spans_by_rank: dict[int, list[Span]] = {}
    for rank, sentence, _ in chosen:
        spans_by_rank.setdefault(rank, []).append(Span(sentence.start, sentence.end))
    citations = tuple(
        Citation.from_passage(rank, p, tuple(spans_by_rank.get(rank, ()))) for rank, p in enumerate(passages, 1)
    )
    text = quoted_text(chosen)
    source_lang = passages[chosen[0][0] - 1].chunk.lang
    quotes = tuple(Quote(rank, sentence.text, passages[rank - 1].chunk.lang) for rank, sentence, _ in chosen)
    return Answer(question, text, True, citations, lang, source_lang, caveat=caveat, quotes=quotes)


def answer_probability(query: Query, evidence: list[Evidence], scoring: ScoringModel) -> float:
    """How likely the fitted model finds the question answerable from its best passage (`qa.scoring`).

    It reads the best passage's signals, whether it holds every word of the question or a
    translation of each (a question of one rare name, "NASUWT是什么？", embeds too poorly to judge
    by meaning), how far it ranks ahead of the next, and whether the question names something
    that no article holds.
    """
    best = evidence[0]
    signals = replace(best.signals, every_word=query.terms.matches_every_word(best.passage.chunk.text))
    runner_up = evidence[1] if len(evidence) > 1 else None
    margin = best.passage.score - runner_up.passage.score if runner_up else 0.0
    follow_up = query.context is not None
    features = answer_features(signals, runner_up and runner_up.signals, margin, bool(query.unknown_names),
                               query.unheld_share, follow_up)
    return scoring.answer_probability(features, follow_up)


def sentence_signals(kind: str | None, candidates: list[tuple[int, Sentence, str]],
                     evidence: list[Evidence]) -> list[SentenceSignals]:
    """The signals of each candidate sentence (`candidate_sentences`) that sentence choice reads,
    for a question that asks for `kind` (`qa.answer_type.asked_type`)."""
    return [SentenceSignals(similarity=sentence.similarity, coverage=sentence.coverage,
                            passage_score=evidence[rank - 1].passage.score, passage_rank=1.0 / rank,
                            holds_type=holds_type(kind, sentence.text), length=math.log1p(len(sentence.text)))
            for rank, sentence, _ in candidates]


def candidate_sentences(evidence: list[Evidence]) -> list[tuple[int, Sentence, str]]:
    """(rank, sentence, its list bullet or "") of each sentence of the passages that could answer something.

    The title and headings are left out: they name a topic, so they are close to every question
    about it. So are sentences that are questions themselves: they resemble the question, never answer it.
    A first line that ends with a full stop is no headline but the article's opening sentence (the
    file has none), and may answer.
    """
    out = []
    # Overlapping chunks share sentences, and one article may repeat another's: each text is a
    # candidate once, under its best rank.
    seen = set()
    for rank, ev in enumerate(evidence, 1):
        chunk = ev.passage.chunk
        # The title as a headline line reads, or None when it is the opening sentence (full stop).
        headline = None if ends_with_full_stop(chunk.title) else heading_text(chunk.title)
        for sentence in ev.sentences:
            text = sentence.text
            key = spacing_aside(text)
            if key in seen or heading_text(text) == headline or is_question(text) or (
                    is_heading(text) and not is_field(text)):
                continue
            # A marker must follow the 。 itself: readers (and verify.py) end the sentence there.
            closers = _CLOSERS_AFTER_CJK_END.search(sentence.text)
            if closers:
                cut = len(closers.group())
                sentence = replace(sentence, text=sentence.text[:-cut], end=sentence.end - cut)
            # A Markdown quotation is quoted without its "> " marks (they are the file's layout) and a
            # callout's type, a list item without its bullet ("- ", "2. ") and a task's box: the
            # answer is not a list.
            sentence, quotation = _without_lead(sentence, _QUOTATION_MARKS)
            sentence, _ = _without_lead(sentence, _CALLOUT) if quotation else (sentence, None)
            sentence, bullet = _without_lead(sentence, _BULLET)
            sentence, _ = _without_lead(sentence, _CHECKBOX) if bullet else (sentence, None)
            if len(_WORD.findall(sentence.text)) >= 2 or len(HAN.findall(sentence.text)) >= 4:
                seen.add(key)
                out.append((rank, sentence, bullet.group().strip() if bullet else ""))
    return out


def _without_lead(sentence: Sentence, lead: re.Pattern) -> tuple[Sentence, re.Match | None]:
    """The sentence without what `lead` matches at its start (where something is left), and the match."""
    found = lead.match(sentence.text)
    if found and found.end() < len(sentence.text):
        sentence = replace(sentence, text=sentence.text[found.end():], start=sentence.start + found.end())
    return sentence, found


def continued_in_paragraph(candidates: list[tuple[int, Sentence, str]], evidence: list[Evidence]) -> set[int]:
    """The indices i of the candidates that candidate i + 1 follows directly, in the same paragraph."""
    continued = set()
    for i, ((rank, sentence, _), (next_rank, after, bullet)) in enumerate(zip(candidates, candidates[1:])):
        chunk = evidence[rank - 1].passage.chunk
        between = chunk.text[sentence.end - chunk.start : after.start - chunk.start]
        if next_rank == rank and not bullet and after.start >= sentence.end and "\n" not in between \
                and not between.strip(CLOSING_MARKS + " \t"):
            continued.add(i)
    return continued


def quoted_text(chosen: list[tuple[int, Sentence, str]]) -> str:
    """An extractive answer's text: each chosen sentence (`choose_sentences`) as shown, then its passage's marker."""
    return " ".join(f"{_marked(shown, rank)} [{rank}]" for rank, _, shown in chosen)


def _marked(shown: str, rank: int) -> str:
    """A quoted sentence with its marker after each full stop inside it that readers break at
    (after a name's initial or a title): every part a reader sees as a sentence carries the marker."""
    return _READER_BREAK.sub(f" [{rank}]", shown)


def choose_sentences(
    candidates, scores: np.ndarray, margin: float, max_chars: int, terms: QueryTerms, kind: str | None = None,
    continued_in_paragraph: Container[int] = (),
) -> list[tuple[int, Sentence, str]]:
    """The best sentence, then up to two more that score within `margin` of it (or the items of the list
    it introduces), each cut to the room left:
    (rank, the sentence or the part of it kept, how it is shown: with "…" where it was cut).

    Where fewer than three score nearly as well, the sentence after the best one joins them if it
    continues the best one's paragraph (`continued_in_paragraph`: the candidates' indices where it
    does) and all fit whole; or, where the best one stands alone, if it fits whole once the best
    one gives up at most a tenth of itself. Where a name is asked for and the best one writes its
    person as a pronoun, the sentence before it that names them comes first (`_antecedent`).
    """
    kept_for_follower = 0  # room the best sentence leaves for the one after it, when it is cut for it
    order = np.argsort(-scores, kind="stable")
    picks = [i for i in order[:_MOST_SENTENCES] if scores[i] >= scores[order[0]] - margin]
    first_rank, first, _ = candidates[picks[0]]
    after = picks[0] + 1
    bullet = candidates[after][2] if after < len(candidates) and candidates[after][0] == first_rank else ""
    if bullet and (first.text.rstrip().endswith(_INTRODUCES) or bullet.rstrip(".)") == "1"):
        # "Several factors are democratizing AI development:" answers nothing without the list it
        # introduces, nor does "Google still has two advantages." without its items 1. and 2.:
        # they come next, as far as room allows.
        items = itertools.takewhile(lambda j: candidates[j][0] == first_rank and candidates[j][2],
                                    range(after, len(candidates)))
        picks = [picks[0], *items]
    elif picks[0] in continued_in_paragraph and after not in picks and len(picks) < _MOST_SENTENCES:
        # A best sentence often leads in, and the next one says what it announced: "While open-source
        # AI fosters innovation, it also raises safety concerns." is followed by which. It displaces
        # no sentence that scored nearly as well: forced in second, it lost more answers than it
        # gained. It is quoted whole, right after the best one, or not at all: nothing but its
        # place speaks for it, and its head alone rarely says what was announced.
        follower = candidates[after][1].text
        if len(follower) <= _room_left([candidates[i][1].text for i in picks], max_chars):
            picks = [picks[0], after, *picks[1:]]
        elif len(picks) == 1 and _room_left([follower], max_chars) - len(_CUT) >= _LEAST_KEPT * len(first.text):
            # A long lead-in gives up its last words for what it announces ("… where the code is
            # put up, then developers contribute and that's all." -> "The collaboration on large
            # models shows in the community."), but no more: a best sentence cut by more than that
            # often loses the answer it already held.
            kept_for_follower = len(follower) + 2
            picks = [picks[0], after]
    # Only where a name is asked for: elsewhere the sentence holds its answer, and the one before would
    # displace a sentence that scored nearly as well.
    antecedent = _antecedent(candidates, picks[0]) if kind == "name" and not kept_for_follower else None
    # The room it has once the sentence it explains is whole.
    room_for_antecedent = _room_left([candidates[picks[0]][1].text], max_chars)
    if antecedent is not None and antecedent not in picks and (
            len(candidates[antecedent][1].text) <= room_for_antecedent
            or room_for_antecedent - len(_CUT) >= _SHORTEST_CUT):
        # "He is remembered for his order …" answers "who gave the order?" only with the sentence that
        # says who he is: it comes first, cut to its head (where a sentence names its subject) if need be.
        picks = [antecedent, *picks][:_MOST_SENTENCES]
    else:
        antecedent = None  # quoted already, or no room: the others are chosen as they would be
    chosen = []
    for i in picks:
        rank, whole, _ = candidates[i]
        room = _room_left([shown for _, _, shown in chosen], max_chars) - (0 if chosen else kept_for_follower)
        sentence = whole
        if i == antecedent and len(whole.text) > room_for_antecedent:
            sentence = _head(whole, room_for_antecedent - len(_CUT))
        elif len(whole.text) > room:
            if chosen and room < _SHORTEST_CUT:
                break
            sentence = _shorten(whole, room - len(_CUT), terms, kind)
            if sentence.start > whole.start and sentence.end < whole.end:  # cut at both ends: room for two marks
                sentence = _shorten(whole, room - 2 * len(_CUT), terms, kind)
        shown = (_CUT if sentence.start > whole.start else "") + readable(sentence.text) + (
            _CUT if sentence.end < whole.end else "")
        chosen.append((rank, sentence, shown))
    return chosen


def _refers_back(text: str) -> bool:
    """Whether a sentence writes a person as a pronoun before it names anyone: as the first word of
    the sentence or of one of its clauses, or (where names are capitalised) before any name."""
    if _OPENING_PRONOUN.search(text):
        return True
    pronoun, name = _PRONOUN.search(text), _NAME_WITHIN.search(text)
    return pronoun is not None and not HAN.match(pronoun.group()) and (name is None or pronoun.start() < name.start())


def _antecedent(candidates, best: int) -> int | None:
    """For a best sentence that refers back (`_refers_back`), the index of the nearest sentence
    before it in its passage that does not: the one that says who "he" is; else None."""
    rank = candidates[best][0]
    if not _refers_back(candidates[best][1].text):
        return None
    before = itertools.takewhile(lambda j: candidates[j][0] == rank, range(best - 1, -1, -1))
    return next((j for j in before if not _refers_back(candidates[j][1].text)), None)


def _room_left(shown: list[str], max_chars: int) -> int:
    """How long one more sentence may be after those shown, as verify.py counts an answer without
    its markers: "A [1] B [2]" is "A  B ", so each sentence shown takes its length + 2, the next its length + 1."""
    return max_chars - sum(len(text) + 2 for text in shown) - 1


def _shorten(sentence: Sentence, max_chars: int, terms: QueryTerms, kind: str | None) -> Sentence:
    """The part of an over-long sentence that fits: its head, or a clause-aligned part holding
    more of the question's words (of the parts holding the kind of thing asked, if any does).

    The head names what a sentence is about ("Hugging Face, a start-up, ..."), but a long
    sentence may come to the question's point only in its last clauses, past the room an answer
    has. Of the parts that hold the most, one that runs to the sentence's end is preferred, the
    longest such: what follows the question's words is where the answer usually is.
    """
    starts = [0] + [m.end() for m in _CLAUSE_END.finditer(sentence.text)]
    parts = [_head(replace(sentence, text=sentence.text[at:], start=sentence.start + at), max_chars) for at in starts]
    parts = [part for part in parts if holds_type(kind, part.text)] or parts
    coverages = [terms.coverage(part.text) for part in parts]
    richest = [part for part, coverage in zip(parts, coverages) if coverage >= max(coverages)]
    if richest[0].start == sentence.start:
        return richest[0]
    return next((part for part in richest if part.end == sentence.end), richest[-1])


def _head(sentence: Sentence, max_chars: int) -> Sentence:
    """The longest prefix of a sentence that fits, ending at a clause mark or else between words
    (the sentence itself if it fits)."""
    text = sentence.text
    if len(text) <= max_chars:
        return sentence
    cut = max(text.rfind(mark, 0, max_chars) for mark in _CLAUSE_MARKS + " ")
    cut = cut if cut > max_chars // 2 else max_chars
    text = text[:cut].rstrip()
    return replace(sentence, text=text, end=sentence.start + len(text))
