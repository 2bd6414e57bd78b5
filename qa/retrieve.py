"""Find the passages for a question: dense and keyword candidates, fused, then re-scored by sentence."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import PurePath

import numpy as np

from ingest import Embedder, detect_language
from ingest.text import HAN, NAME, ends_with_full_stop, is_question, split_sentences
from qa.conversation import Turn, context_text, named_in_conversation
from qa.keywords import KeywordHits, KeywordIndex, QueryTerms, keyword_terms, versioned_names
from qa.language_mention import language_mentioned
from qa.rerank import Reranker
from qa.scoring import ScoringModel, Signals
from qa.settings import QASettings
from store import ChromaStore, Chunk, Passage

# A question of at least this many letters, this share of them capitals, is typed in capitals
# (acronyms such as "GPT" or "LLaMA" in a question are far fewer).
_SHOUTED_LETTERS, _SHOUTED_SHARE = 8, 0.8
# How much deeper the candidates are searched again when copies crowd them.
_DEEPER = 4
# A word vector has some nearest word for any name; for one the articles lack it is a loose one,
# for one they write otherwise a close one (Einstein -> 爱因斯坦 0.65; a dictionary's translations
# count 1.0). In the name's own script closeness is often spelling: under 0.75 a word there is
# no translation at all (ChatGLM -> "chatbot" 0.73, Samsung -> "android" 0.54; see
# `qa.keywords._LATIN_TRANSLATION`), and to hold the name it must be nearly the same word
# (China -> "chinois" 0.84).
_NAME_TRANSLATION, _NAME_IN_SAME_SCRIPT = 0.6, 0.8


@dataclass(frozen=True)
class Sentence:
    """One sentence of a candidate passage: its offsets in the document, its similarity to the
    question, and the share of the question's keyword weight it holds (translations included)."""

    start: int
    end: int
    text: str
    similarity: float
    coverage: float = 0.0


@dataclass(frozen=True)
class Evidence:
    """A candidate passage, the signals behind its score, and its sentences once re-scored."""

    passage: Passage  # passage.score is the ranking score
    signals: Signals
    sentences: tuple[Sentence, ...] = ()

    @property
    def statements(self) -> list[Sentence]:
        """Its sentences that tell rather than ask (empty if not re-scored).

        A sentence that is a question itself ("Who needs a closed model?") resembles every
        question, and lifted off-topic questions over the abstention threshold.
        """
        return [s for s in self.sentences if not is_question(s.text)]

    @property
    def best_sentence(self) -> float:
        """The highest similarity of one of its statements to the question (0 if none)."""
        return max((s.similarity for s in self.statements), default=0.0)

    @property
    def best_sentence_coverage(self) -> float:
        """The largest share of the question's keyword weight one of its statements holds (0 if none)."""
        return max((s.coverage for s in self.statements), default=0.0)


@dataclass(frozen=True)
class Retrieval:
    """What questions are answered from: the store, its keyword index, and the models (each loaded once)."""

    store: ChromaStore
    embedder: Embedder
    keywords: KeywordIndex
    scoring: ScoringModel
    reranker: Reranker | None = None


@dataclass(frozen=True)
class Query:
    """A question as retrieval reads it: its text, its vector, its weighed keyword terms, and the
    language of the articles it names, if it names one (see `qa.language_mention`)."""

    text: str
    vector: np.ndarray
    terms: QueryTerms
    named_language: str | None = None
    unknown_names: tuple[str, ...] = ()  # what it names that the articles hold in no spelling nor close translation
    unknown_versions: tuple[str, ...] = ()  # the versions it names, where the articles write only others
    written_versions: tuple[str, ...] = ()  # those others ("GPT-2", "GPT-3.5", "GPT-4"), for the reader
    unheld_share: float = 0.0  # share of its words' IDF mass that no article writes, translations aside
    context: Query | None = None  # the conversation so far, as a query of its own, for a follow-up

    @property
    def scoped_language(self) -> str | None:
        """The language whose articles to search: the one the question names, else, for a
        follow-up that speaks of the article, the one its conversation named ("根据英文文章…"
        then "文章里说…"). A question read alone (on a topic switch) is not scoped by its conversation."""
        return self.named_language or (self.context.named_language if self.context is not None else None)

    @property
    def search_text(self) -> str:
        """What was searched with: the question, and the conversation it was read against."""
        return self.text if self.context is None else f"{self.text} | {self.context.text}"


def make_query(question: str, retrieval: Retrieval, settings: QASettings, history: tuple[Turn, ...] = ()) -> Query:
    """Embed a question and weigh its words (with their translations) against the keyword index,
    leaving out a mention of the articles' language ("According to the French article, …").

    With earlier turns, the conversation's last turns become a query of their own (`context`):
    a follow-up ("How much did it cost to train?") leans on what they name.
    """
    named_language, searched = language_mentioned(question)
    terms = retrieval.keywords.query_terms(searched, retrieval.embedder, settings.translation_threshold,
                                           settings.translations_per_word)
    # Typed in capitals, every word would look like a name: the capitals say nothing.
    unshouted = _unshouted(searched)
    return Query(question, retrieval.embedder.embed_query(unshouted), terms, named_language,
                 unknown_names(unshouted, terms, retrieval.keywords), *unknown_versions(unshouted, retrieval.keywords),
                 unheld_share=unheld_share(terms, retrieval.keywords),
                 context=replace(make_query(context_text(history, settings.max_question_chars), retrieval, settings),
                                 named_language=named_in_conversation(question, history))
                 if history else None)


def unheld_share(terms: QueryTerms, keywords: KeywordIndex) -> float:
    """The share of a question's IDF mass in words that no article writes in any of their spellings:
    a question about what the articles leave out often names it in words they never use."""
    if not terms.tokens:
        return 0.0
    unheld = sum(w for i, w in enumerate(terms.weights)
                 if not any(spelling in keywords.vocab for spelling in terms.own_spellings(i)))
    return unheld / terms.total


def unknown_names(question: str, terms: QueryTerms, keywords: KeywordIndex) -> tuple[str, ...]:
    """The names in a question ("Anthropic", "DeepSeek") with a word that the articles hold in no
    spelling nor close translation: they cannot say anything about what it names."""
    unknown = []
    for name in NAME.findall(question):
        for token, _ in keyword_terms(name):
            at = terms.tokens.index(token) if token in terms.tokens else None
            if at is not None and not any(
                match in keywords.vocab and credit >= (_NAME_TRANSLATION if HAN.search(match) else _NAME_IN_SAME_SCRIPT)
                for match, credit in terms.matches[at].items()
            ):
                unknown.append(name)
                break
    return tuple(unknown)


def unknown_versions(question: str, keywords: KeywordIndex) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The versions of names that a question asks about ("GPT-5"), when the articles write none
    of them, and the versions of those names they write, spelled as the question spells the name
    ("GPT-2", "GPT-3.5", "GPT-4"): what they say is about another model.

    A question naming one version they write as well ("Is Llama 2 better than Llama 1?") is
    about it too, and has none.
    """
    asked = {(name, version): written for (name, version), written in versioned_names(question).items()
             if name in keywords.versions}
    written = {name: {v.lower(): v for v in keywords.versions[name]} for name, _ in asked}
    if any(version in written[name] for name, version in asked):
        return (), ()
    others = []
    for (name, version), spelled in asked.items():
        stem = spelled[: len(spelled) - len(version)]  # "GPT-" of "GPT-5"
        others += [stem + v for v in sorted(written[name].values(), key=_version_order) if stem + v not in others]
    return tuple(asked.values()), tuple(others)


def _version_order(version: str) -> tuple[float, str]:
    """"2" < "3.5" < "4" < "4o" < "10": by number, then by what follows it."""
    number = re.match(r"\d+(?:\.\d+)?", version).group()
    return float(number), version[len(number):]


def _unshouted(question: str) -> str:
    """The question in lower case if it is typed in capitals: the embedder reads "WHICH
    UNIVERSITY CREATED CHATBOT ARENA?" as other tokens than the same words in lower case."""
    if HAN.search(question):
        return question  # "LLAMA和GPT哪个更好？" only writes names in capitals
    cased = [c for c in question if c.lower() != c.upper()]
    shouted = len(cased) >= _SHOUTED_LETTERS and sum(c.isupper() for c in cased) >= _SHOUTED_SHARE * len(cased)
    return question.lower() if shouted else question


def find_evidence(query: Query, retrieval: Retrieval, settings: QASettings, lang: str | None = None) -> list[Evidence]:
    """Candidates from both retrievers, fused, and the best of them re-scored by their sentences
    (and by the cross-encoder, when one is configured), best first."""
    candidates = fuse_candidates(query, retrieval, settings, lang)
    fused = drop_repeated_passages(candidates)
    if len(fused) < min(len(candidates), settings.rescore_candidates):
        # Copies crowded the others out of the candidates (one article ingested many times):
        # search again, deeper, so that as many distinct passages compete.
        deeper = settings.model_copy(update={"dense_candidates": _DEEPER * settings.dense_candidates,
                                             "keyword_candidates": _DEEPER * settings.keyword_candidates})
        fused = drop_repeated_passages(fuse_candidates(query, retrieval, deeper, lang))
    head = rescore_by_sentences(query, fused[: settings.rescore_candidates], retrieval.embedder, retrieval.scoring)
    if retrieval.reranker is not None:
        head = rescore_by_cross_encoder(query.text, head, retrieval.reranker, settings.reranker_weight)
    return head + fused[settings.rescore_candidates :]


def with_following_sentences(query: Query, evidence: list[Evidence], embedder: Embedder) -> list[Evidence]:
    """Each passage with the sentence that follows it in its document (`Chunk.following`, kept
    by ingest when short), scored as its other sentences are, so that an answer may quote it.

    A chunk ends where the chunker ran out of room, not where its thought does: "… that is,
    the alpaca family." is followed by "For example, Stanford's Alpaca, Berkeley's Vicuna, …".
    The order stays as it was: the sentence did not find its passage.
    """
    widening = [i for i, ev in enumerate(evidence) if ev.passage.chunk.following]
    if not widening:
        return evidence
    # `following` is the whitespace after the chunk, then one trimmed sentence.
    texts = [evidence[i].passage.chunk.following.lstrip() for i in widening]
    similarities = embedder.embed_cached(texts) @ query.vector
    widened = list(evidence)
    for i, text, similarity in zip(widening, texts, similarities):
        ev, chunk = evidence[i], evidence[i].passage.chunk
        end = chunk.end + len(chunk.following)
        sentence = Sentence(end - len(text), end, text, float(similarity), query.terms.coverage(text))
        longer = replace(chunk, text=chunk.text + chunk.following, end=end, following="")
        # A passage never re-scored has no sentences to quote (see `find_evidence`); it gets none.
        widened[i] = replace(ev, passage=Passage(longer, ev.passage.score),
                             sentences=ev.sentences + ((sentence,) if ev.sentences else ()))
    return widened


def drop_repeated_passages(evidence: list[Evidence]) -> list[Evidence]:
    """The evidence without passages whose text repeats a better one's (spacing aside).

    The same article ingested from two folders, or reposted whole by another site, would
    otherwise fill the citations with copies and the answer with the same sentence twice.
    """
    seen: set[str] = set()
    distinct = []
    for ev in evidence:
        text = spacing_aside(ev.passage.chunk.text)
        if text not in seen:
            seen.add(text)
            distinct.append(ev)
    return distinct


def spacing_aside(text: str) -> str:
    """The text with each run of whitespace as one space: what two copies of a passage share."""
    return " ".join(text.split())


def rescore_by_cross_encoder(
    question: str, evidence: list[Evidence], reranker: Reranker, weight: float
) -> list[Evidence]:
    """Add the cross-encoder's score of each (question, passage) pair, and re-sort."""
    scores = reranker.score(question, [e.passage.chunk.text for e in evidence])
    rescored = [replace(e, passage=Passage(e.passage.chunk, e.passage.score + weight * float(s)))
                for e, s in zip(evidence, scores)]
    return sorted(rescored, key=lambda e: e.passage.score, reverse=True)


def fuse_candidates(query: Query, retrieval: Retrieval, settings: QASettings, lang: str | None = None) -> list[Evidence]:
    """Dense and keyword candidates with their signals, ranked by the fitted model (`qa.scoring`)
    on calibrated cosine, keyword coverage, how far the passage's document is behind the best
    candidate's in coverage, and its hubness (see `qa.hubness`), best first.

    The cosine is calibrated per language (see `qa.language_spread`), so chunks of
    every language compete on one scale. Coverage is the share of the question's IDF mass a
    chunk contains, not a normalised BM25 score: on a cross-lingual question BM25 still ranks
    something first on a stray shared word, while its coverage stays near zero and so does its
    say in the ranking. Corpus words that translate a query word count too (see
    `qa.keywords.TermVectors`).

    A question's words are often spread over its article: "according to the leaked memo" names
    what the whole article is about, not what the passage that answers says. So the article
    that holds more of the question, in any of its passages, is the likelier source of each.
    """
    hits = retrieval.keywords.search_terms(query.terms, settings.keyword_candidates)
    context = query.context
    context_hits = retrieval.keywords.search_terms(context.terms, settings.keyword_candidates) if context else None
    candidates, context_cosines = _gather_candidates(query, hits, context_hits, retrieval, settings, lang)
    calibration = retrieval.keywords.languages.calibration(query.vector)
    context_calibration = retrieval.keywords.languages.calibration(context.vector) if context else {}
    in_document = {p.chunk.doc_id: hits.document_coverage.get(p.chunk.doc_id, 0.0) for p in candidates.values()}
    best_document = max(in_document.values(), default=0.0)
    question_lang = detect_language(query.text)
    chunk_of_document = {p.chunk.doc_id: p.chunk for p in candidates.values()}
    named = {doc_id: query.terms.coverage(" ".join(document_names(chunk))) for doc_id, chunk in chunk_of_document.items()}
    name_held = {doc_id: max(retrieval.keywords.name_held(query.terms, name) for name in article_names(chunk))
                 for doc_id, chunk in chunk_of_document.items()}
    question_held = max(hits.coverage.values(), default=0.0)
    evidence = []
    for chunk_id, p in candidates.items():
        shift, scale = calibration.get(p.chunk.lang, (0.0, 1.0))
        signals = Signals(
            calibrated_cosine=shift + scale * p.score,
            coverage=hits.coverage.get(chunk_id, 0.0),
            document_behind=_behind(in_document[p.chunk.doc_id], best_document),
            document_coverage=in_document[p.chunk.doc_id],
            name_coverage=named[p.chunk.doc_id],
            name_held=name_held[p.chunk.doc_id],
            hubness=retrieval.keywords.hubness.get(chunk_id, 0.0),
            cosine=p.score,
            exact_coverage=hits.exact_coverage.get(chunk_id, 0.0),
            same_language=p.chunk.lang == question_lang,
        )
        if context_hits is not None:
            shift, scale = context_calibration.get(p.chunk.lang, (0.0, 1.0))
            signals = replace(
                signals,
                context_cosine=shift + scale * context_cosines[chunk_id],
                context_coverage=context_hits.coverage.get(chunk_id, 0.0),
                context_document_coverage=context_hits.document_coverage.get(p.chunk.doc_id, 0.0),
                question_held=question_held,
            )
        evidence.append(Evidence(Passage(p.chunk, retrieval.scoring.rank_score(signals)), signals))
    return sorted(evidence, key=lambda e: e.passage.score, reverse=True)


def _gather_candidates(query: Query, hits: KeywordHits, context_hits: KeywordHits | None, retrieval: Retrieval,
                       settings: QASettings, lang: str | None) -> tuple[dict[str, Passage], dict[str, float]]:
    """The dense and keyword candidates by chunk id, each scored by its cosine to the question;
    for a follow-up, the conversation's candidates too, and each one's cosine to the conversation."""
    dense = retrieval.store.search(query.vector, settings.dense_candidates, lang)
    if context_hits is None:
        candidates = {p.chunk.chunk_id: p for p in dense}
        wanted, context_cosines = [c for c in hits.chunk_ids if c not in candidates], {}
    else:
        in_context = retrieval.store.search(query.context.vector, settings.dense_candidates, lang)
        candidates, context_cosines = {}, {}
        wanted = list(dict.fromkeys([p.chunk.chunk_id for p in dense + in_context] + hits.chunk_ids
                                    + context_hits.chunk_ids))
    for chunk, vector in retrieval.store.get_chunks(wanted):
        if lang is None or chunk.lang == lang:
            vector = np.asarray(vector, np.float32)
            candidates[chunk.chunk_id] = Passage(chunk, float(np.dot(vector, query.vector)))
            if context_hits is not None:
                context_cosines[chunk.chunk_id] = float(np.dot(vector, query.context.vector))
    return candidates, context_cosines


_NOT_A_WORD = re.compile(r"[_\W]+")


def document_names(chunk: Chunk) -> tuple[str, str]:
    """What names a passage's article: its title and its file's name, whose words are often the title's."""
    return chunk.title, _NOT_A_WORD.sub(" ", PurePath(chunk.source).stem).strip()


def article_names(chunk: Chunk) -> tuple[str, ...]:
    """What names a passage's article and nothing else: its file's name, and its title where that
    is a headline (a first line ending with a full stop is the opening sentence, not a name)."""
    title, file_name = document_names(chunk)
    return (file_name,) if ends_with_full_stop(title) else (title, file_name)


def _behind(in_document: float, best_document: float) -> float:
    """How far a passage's document is behind the best candidate's in keyword coverage.

    A document holding none of the question's words is not behind: its passage was found by
    meaning alone, as a cross-lingual question's is where no word of it could be translated,
    and keyword evidence that is silent says nothing against it.
    """
    return best_document - in_document if in_document > 0 else 0.0


def rescore_by_sentences(
    query: Query, evidence: list[Evidence], embedder: Embedder, scoring: ScoringModel
) -> list[Evidence]:
    """Add each passage's best sentence similarity, and the keyword coverage of its best-covering
    sentence, to its signals, and rank again.

    A 400-character window that holds the answer in one sentence among unrelated ones is
    diluted as a whole, not per sentence. And the question's words close together, in one
    sentence, say more than the same words scattered across the window.
    """
    spans = [(i, s, e) for i, ev in enumerate(evidence) for s, e in split_sentences(ev.passage.chunk.text)]
    if not spans:
        return evidence
    texts = [evidence[i].passage.chunk.text[s:e] for i, s, e in spans]
    similarities = embedder.embed_cached(texts) @ query.vector
    per_passage: dict[int, list[Sentence]] = {}
    for (i, s, e), text, similarity in zip(spans, texts, similarities):
        offset = evidence[i].passage.chunk.start
        sentence = Sentence(offset + s, offset + e, text, float(similarity), query.terms.coverage(text))
        per_passage.setdefault(i, []).append(sentence)
    rescored = []
    for i, ev in enumerate(evidence):
        candidate = replace(ev, sentences=tuple(per_passage.get(i, ())))
        signals = replace(ev.signals, best_sentence=candidate.best_sentence,
                          best_sentence_coverage=candidate.best_sentence_coverage)
        rescored.append(replace(candidate, signals=signals, passage=Passage(ev.passage.chunk, scoring.rank_score(signals))))
    return sorted(rescored, key=lambda e: e.passage.score, reverse=True)
