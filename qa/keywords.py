"""Keyword retrieval: language-aware tokens, a BM25 index, and how much of a query a chunk covers.

The index is derived from the store: whenever the store's fingerprint changes it is brought
in step from each document's record, so it can never silently diverge from what the store holds
(not even after a crash mid-ingest). `qa.keyword_cache` keeps it on disk and in step.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ingest.text import HAN_CHARACTERS
from store import Chunk
from qa.hubness import Neighbourhoods, mean_of_top, nearest_neighbours, row_keys
from qa.language_spread import LanguageSpread
from qa.lexicon import LONGEST_GLOSS, Lexicon, phrase

_HAN_RUN = re.compile(f"[{HAN_CHARACTERS}]+")
_WORD = re.compile(r"[^\W_]+")
# An acronym written with dots, of three letters or more ("Z.E.A.T.", "N.A.S.A."): one word, not
# single letters, which are no keywords. Two-letter ones ("U.S.") would read as words ("us").
_ACRONYM = re.compile(r"(?<![\w.])(?:[^\W\d_]\.){3,}")
# Function words of the three languages: they match everywhere and say nothing.
_STOPWORDS = frozenset(
    """the a an of and or is are was were be been being to in on at by for with from that this these those
    which who whom whose what when where why how does did do has have had it its as about into than then there
    their they them he she his her we you your our not no can could would should will may might also any all
    le la les des du de un une et ou est sont au aux en dans pour par sur avec que qui quoi quand comment
    pourquoi combien quel quelle quels quelles ce cette ces il elle ils elles on se sa son ses leur leurs
    ne pas plus été être ont fait selon qu lorsqu puisqu jusqu
    的 了 是 在 和 与 及 或 有 也 都 而 被 把 对 为 从 以 之 于 其 这 那 这个 那个 什么 哪 哪个 哪些 哪位
    谁 吗 呢 吧 啊 个 上 中 下 一个 如何 怎么 怎样 多少 几 是否 什么样 时候 何时 哪里 哪儿 为什么 为何 多久
    给 让 向 跟 将 会 能 要 就 还 又 很 所 等 但 并 不 着 过 可以 已经 因为 所以 如果 虽然 但是 没有
    我 你 他 她 它 我们 你们 他们 她们 它们 自己""".split()
)


# Words that only ask, as 多少 and combien do (stopwords): "much" in "how much" is no keyword,
# though in "for much of his life" it is; nor is "tell me about" in a request, nor 介绍一下.
_ASKING = re.compile(
    r"\bhow (much|many)\b|\b(tell|show|give) me( more)?( about)?\b|\bwhat about\b|"
    r"\b(parle|parlez|dis|dites|explique|expliquez|raconte|racontez|décris|décrivez)(-| )moi\b|"
    r"请问|介绍一下|介绍|讲讲|说说|谈谈|告诉我",
    re.IGNORECASE,
)


# A name written with its version: "GPT-4", "GPT 3.5", "Llama 2", "Llama2", "Mistral 7B". The
# name has a capital; the version at most three digits before its point, so "in 2023" is no version.
_VERSIONED = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]*[A-Z][A-Za-z]*)([- ]?)(\d{1,3}(?:\.\d+)?[A-Za-z]?)(?![0-9A-Za-z]|[.,]\d)")


def versioned_names(text: str) -> dict[tuple[str, str], str]:
    """The names a text writes with a version, as (name, version) in lower case, each with how it
    is written: {("gpt", "4"): "GPT-4", ("llama", "2"): "Llama 2"}."""
    return {(m.group(1).lower(), m.group(3).lower()): m.group() for m in _VERSIONED.finditer(text)}


def version_mentions(text: str) -> list[str]:
    """Each place a text writes a name with its version, as written: ["GPT-4", "Llama 2", "GPT-4"]."""
    return [m.group() for m in _VERSIONED.finditer(text)]


def name_versions(mentions: Iterable[str]) -> dict[str, set[str]]:
    """The versions written of each name that is versioned, from `version_mentions`, as written:
    {"gpt": {"2", "3.5", "4"}, "mistral": {"7B"}}.

    A name is versioned where it is written at least once joined to its number ("GPT-4",
    "Llama2"), as a model's or a product's is. A date's day never is ("October 6", "6 October").
    """
    versions: dict[str, set[str]] = {}
    joined = set()
    for m in map(_VERSIONED.fullmatch, mentions):
        name = m.group(1).lower()
        versions.setdefault(name, set()).add(m.group(3))
        if m.group(2) != " ":
            joined.add(name)
    return {name: versions[name] for name in joined}


@functools.cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def _stem(word: str) -> str:
    """A light stem for English and French: plural and a few common endings, nothing clever."""
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix, replacement in (("ies", "y"), ("ement", ""), ("ment", ""), ("ing", ""), ("ed", ""), ("es", ""),
                                ("s", ""), ("x", ""), ("e", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


def keyword_tokens(text: str) -> list[str]:
    """Tokens for keyword search: jieba words for Chinese, folded and stemmed words otherwise."""
    return list(_cached_tokens(text))


@functools.lru_cache(maxsize=20_000)
def _cached_tokens(text: str) -> tuple[str, ...]:
    # Answering tokenises the same candidate sentences question after question.
    return tuple(token for token, _ in keyword_terms(text))


def keyword_terms(text: str, chinese_words: Callable[[str], Iterable[str]] | None = None) -> list[tuple[str, str]]:
    """(token, word) pairs: each keyword token with the word it came from, as written but lower-cased.

    `chinese_words` splits a run of Chinese into words; by default jieba's search mode, which
    gives long words and their sub-words too (华沙证券交易所: 华沙, 证券, 交易, 交易所, ...).
    """
    split = chinese_words or _jieba().cut_for_search
    terms = []
    cursor = 0
    for run in _HAN_RUN.finditer(text):
        terms += _latin_terms(text[cursor : run.start()])
        terms += [(w, w) for w in split(run.group()) if w not in _STOPWORDS]
        cursor = run.end()
    terms += _latin_terms(text[cursor:])
    return terms


def _whole_words(run: str) -> list[str]:
    """Chinese words whole (jieba's precise mode), for questions.

    Search mode's overlapping sub-words would weigh one name many times over: 维多利亚州
    gives 维多, 多利, 利亚, 维多利, 多利亚, 利亚州 and itself, seven rare words for one. A
    whole word the index lacks still matches its nearest indexed words (see `TermVectors`):
    维多利亚州 matches 维多利亚.
    """
    return list(_jieba().cut(run))


def _in_corpus_words(words: list[str], vocab: dict[str, int]) -> list[str]:
    """Chinese words as jieba split them, except where two in a row that the corpus lacks split
    otherwise into a word it holds and one character or another word it holds.

    jieba guesses at words its dictionary lacks, and may glue a character of the next word on:
    "OpenAI和谷歌开了什么" gave 谷 / 歌开, where the corpus holds 谷歌 (and 开 is a word of its own).
    """
    words = list(words)
    for i in range(len(words) - 1):
        first, second = words[i], words[i + 1]
        if first in vocab and second in vocab:
            continue
        joined, splits = first + second, []
        for cut in range(1, len(joined)):
            parts = (joined[:cut], joined[cut:])
            if cut != len(first) and any(len(w) >= 2 and w in vocab and (o in vocab or len(o) == 1)
                                         for w, o in (parts, parts[::-1])):
                splits.append(parts)
        if splits:  # the one holding the longest corpus word
            words[i : i + 2] = max(splits, key=lambda parts: max(len(w) for w in parts if w in vocab))
    return words


def _in_letters(word: str) -> bool:
    """Whether a word is written in letters, without Chinese characters."""
    return not _HAN_RUN.search(word)


def names_something(text: str) -> bool:
    """Whether a text holds a word that is no function word ("the", "的"); a single letter counts,
    though no keyword: "Z.E.A.T." names something."""
    latin = _WORD.findall(_HAN_RUN.sub(" ", text))
    return any(_fold(word.lower()) not in _STOPWORDS for word in latin) or bool(keyword_terms(text))


def word_tokens(text: str) -> list[str]:
    """Keyword tokens of the words of a text, Chinese left out: folded, lightly stemmed."""
    return [token for token, _ in _latin_terms(_HAN_RUN.sub(" ", text))]


def _latin_terms(text: str) -> list[tuple[str, str]]:
    terms = []
    for word in _WORD.findall(_ACRONYM.sub(lambda m: m.group().replace(".", ""), text)):
        word = word.lower()
        token = _latin_token(word)
        if token is not None:
            terms.append((token, word))
    return terms


@functools.lru_cache(maxsize=200_000)
def _latin_token(word: str) -> str | None:
    # Words recur far more than texts do: the dictionary's 200,000 glosses hold 50,000 words.
    folded = _fold(word)
    return _stem(folded) if folded not in _STOPWORDS and (len(folded) > 1 or folded.isdigit()) else None


@dataclass(frozen=True)
class QueryTerms:
    """A query's keyword tokens, each with its weight (IDF) and the tokens that match it: itself
    with credit 1.0, and indexed words that translate it with their similarity."""

    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    matches: tuple[dict[str, float], ...]
    # Each token's other spellings that are the query's own words too: two words written as one
    # ("huggingfac" for both "hugging" and "face"). Empty, or one tuple per token.
    respellings: tuple[tuple[str, ...], ...] = ()

    @property
    def total(self) -> float:
        return sum(self.weights)

    def own_spellings(self, i: int) -> tuple[str, ...]:
        """The i-th token and its other spellings: what counts as the query's own word, not a translation."""
        return (self.tokens[i],) + (self.respellings[i] if self.respellings else ())

    @functools.cached_property
    def credits(self) -> dict[str, float]:
        """Every token that matches one of the query's words, with its best credit."""
        found: dict[str, float] = {}
        for match in self.matches:
            for token, credit in match.items():
                found[token] = max(found.get(token, 0.0), credit)
        return found

    def matches_every_word(self, text: str) -> bool:
        """Whether a text holds each of the query's words, or a translation of it, however loose."""
        present = set(keyword_tokens(text))
        return bool(self.tokens) and all(not present.isdisjoint(match) for match in self.matches)

    def coverage(self, text: str, exact: bool = False) -> float:
        """The share of the query's weight that a text's words match (`exact`: by the query's own words only)."""
        present = set(keyword_tokens(text))
        if not self.tokens or not present:
            return 0.0
        if exact:
            matched = sum(w for i, w in enumerate(self.weights) if not present.isdisjoint(self.own_spellings(i)))
        else:
            matched = sum(w * max((c for t, c in m.items() if t in present), default=0.0)
                          for w, m in zip(self.weights, self.matches))
        return matched / self.total


@dataclass(frozen=True)
class KeywordHits:
    """Keyword evidence for a query: the best chunks by BM25, and each chunk's query coverage.

    `coverage` also credits a chunk for words that translate a query word (see `TermVectors`);
    `exact_coverage` counts the query's own words only. `document_coverage` is `coverage` of
    each document's chunks taken together, by document id.
    """

    chunk_ids: list[str]
    coverage: dict[str, float]
    exact_coverage: dict[str, float]
    document_coverage: dict[str, float] = field(default_factory=dict)


# Between two words written in letters, closeness is often spelling rather than meaning: the
# embedder reads both in the same pieces ("called" is 0.70 from "LLaMA", "source" 0.66 from
# "ressources"), while a French word and the English one it translates are closer ("open" and
# "ouverte" 0.92, "companies" and "entreprises" 0.92). Chosen on ../shared/eval and bench/questions.
_LATIN_TRANSLATION = 0.75


class TermVectors:
    """The embedder's vector of every indexed word, to find a query word's translations in the corpus.

    A multilingual sentence embedder places "moat", "douve" and "护城河" near each other, so the
    nearest indexed words of a query word are, often, its translations. Raw nearest neighbours are
    dominated by hubs (vague words close to everything); CSLS scoring (Conneau et al. 2018,
    "Word translation without parallel data") subtracts each word's mean similarity to its own
    neighbourhood, which removes most of them.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, neighbours: int = 10,
                 earlier: Neighbourhoods | None = None, keys: np.ndarray | None = None):
        """`earlier`: the `neighbourhoods` of a previous index's word vectors, to measure only what
        changed. `keys`: the words' `row_keys`, when the caller has them."""
        self.words = words
        self.vectors = np.asarray(vectors, np.float32)
        self.neighbours = neighbours
        # A word is not its own neighbour, nor is another of the same vector.
        self.neighbourhoods = nearest_neighbours(self.vectors, row_keys(words) if keys is None else keys,
                                                 np.arange(len(words)), neighbours, 0.9999, earlier)
        self.hubness = self.neighbourhoods.hubness

    @functools.cached_property
    def _latin(self) -> np.ndarray:
        """Which words are written in letters, not Chinese characters (computed on first use, then kept)."""
        return np.array([_in_letters(word) for word in self.words], bool)

    @functools.cached_property
    def _columns_by_script(self) -> tuple[np.ndarray, np.ndarray]:
        """The columns of the words in letters, then of those in Chinese characters (kept after first use)."""
        return np.flatnonzero(self._latin), np.flatnonzero(~self._latin)

    def translations(self, query_vectors: np.ndarray, threshold: float, limit: int,
                     latin: Iterable[bool] = ()) -> list[dict[int, float]]:
        """For each query word vector: {column: similarity} of up to `limit` words in letters and
        `limit` in Chinese characters whose CSLS >= threshold.

        `latin`: whether each query word is written in letters. Between two such words the
        similarity must reach `_LATIN_TRANSLATION` as well.
        """
        similarity = query_vectors @ self.vectors.T
        csls = 2 * similarity - mean_of_top(similarity, self.neighbours)[:, None] - self.hubness[None, :]
        for row, in_letters in enumerate(latin):
            if in_letters:
                csls[row, self._latin & (similarity[row] < _LATIN_TRANSLATION)] = -np.inf
        # Each script has its own `limit` places: in letters, the words spelled like a question
        # word ("coûte": "coût", "cost", "coûteuse") would otherwise take them all and leave out
        # its translation in Chinese characters (成本), and a larger corpus has more of them.
        found = []
        for row in range(len(query_vectors)):
            kept = {}
            for columns in self._columns_by_script:
                best = columns[np.argpartition(-csls[row, columns], limit)[:limit]] if limit < len(columns) else columns
                kept.update({int(c): float(similarity[row, c]) for c in best if csls[row, c] >= threshold})
            found.append(kept)
        return found


# Bumped whenever what the index holds changes (the parallel paragraphs of `qa.language_spread`
# included): a cached index of another format is rebuilt.
INDEX_FORMAT = 27
# Most dictionary translations kept per word, the rarest first: "open" lists a dozen Chinese words.
_LISTED_PER_WORD = 4
# BM25's term saturation and length normalisation: bm25s's defaults.
_BM25_K1, _BM25_B = 1.5, 0.75


@functools.cache
def built_with() -> dict[str, str]:
    """The versions of the libraries whose objects and tokens a cached index holds: after an
    upgrade of any of them, the index is rebuilt rather than read."""
    from importlib.metadata import version

    return {name: version(name) for name in ("jieba", "numpy", "scipy")}


class KeywordIndex:
    """BM25 over the store's chunks, plus the IDF share of a query each chunk, and each document, contains.

    It also holds what else is measured over the whole corpus: how each language's vectors spread
    (`languages`) and how generic each chunk is (`hubness`). Built from each document's
    `IndexedDocument`, which it keeps (`records`): the next build reuses those of the documents
    that did not change, and counts again only what the changed ones add and take away.
    """

    def __init__(self, fingerprint: str, documents: dict[str, IndexedDocument], previous: KeywordIndex | None = None):
        """`previous`: the index of an earlier state of the same store, with its `records`: what
        it counted is counted on from, never changed (other threads may be answering from it)."""
        self.format = INDEX_FORMAT
        self.built_with = built_with()
        self.fingerprint = fingerprint
        # On disk (see `qa.keyword_cache`): the records are in files of their own, read back only
        # to change the index; `stamp` tells which write of the index file this is.
        self.records: dict[str, IndexedDocument] | None = documents
        self.record_versions = {doc_id: d.version for doc_id, d in documents.items()}
        self.stamp: tuple | None = None
        self.swept = False  # whether this process has swept the files no index names (`qa.keyword_cache`)
        self.word_segments: list = []  # the files holding the word vectors (`qa.keyword_cache.WordSegment`)
        self.record_segments: list = []  # the files holding the records (`qa.keyword_cache.RecordSegment`)
        self.documents = list(documents)
        self.chunk_ids = [chunk_id for document in documents.values() for chunk_id in document.chunk_ids]
        kept = previous.records if previous is not None else {}
        # What changed since `previous`: each document gone or changed (-1) and each new or changed (+1).
        changes = [(d, -1) for doc_id, d in kept.items() if getattr(documents.get(doc_id), "version", None) != d.version]
        changes += [(d, 1) for doc_id, d in documents.items() if getattr(kept.get(doc_id), "version", None) != d.version]
        self.spellings, self._word_of = _count_spellings(changes, previous)
        # How each language's vectors spread, counted by document as the spellings are.
        self.language_totals = previous.language_totals.counted() if previous is not None else LanguageSpread()
        for document, sign in changes:
            if document.vectors.size:
                self.language_totals.add_vectors(document.vectors, document.langs, sign)
        # Finished by `measure_bias`, or `finish` without an embedder (see `LanguageSpread`).
        self.languages = self.language_totals.counted()
        # Columns in the order of the tokens, so that any sequence of changes gives the same index.
        self.tokens = sorted(self.spellings)
        self.vocab = {token: column for column, token in enumerate(self.tokens)}
        # The word each token is most often written as: what the embedder understands best.
        self.words = [self._word_of[token] for token in self.tokens]
        self.term_vectors: TermVectors | None = None
        self.lexicon: Lexicon | None = None  # attached when loaded, never pickled (see `held_translations`)
        self.hubness: dict[str, float] = {}  # chunk id -> its hubness, where above 0 (see `qa.hubness`)
        self.neighbourhoods: Neighbourhoods | None = None  # what the hubness was measured from
        # Each name written with its version ("GPT-4"), and how often, counted by document as the
        # spellings are; then each versioned name's versions (see `name_versions`).
        self.mentions = _counted_mentions(changes, previous)
        self.versions: dict[str, set[str]] = name_versions(self.mentions)
        n, width = max(len(self.chunk_ids), 1), max(len(self.tokens), 1)
        moved = None
        if previous is not None:  # where each column of `previous` moved to (-1: its token is gone)
            moved = np.fromiter((self.vocab.get(t, -1) for t in previous.tokens), np.int64, len(previous.tokens))
        counted_on = _counted_on(previous, documents, moved, self.vocab, (n, width)) if previous is not None else None
        if counted_on is not None:
            self.counts, self.document_presence = counted_on
            self._columns = None  # read off `document_presence` if ever needed
        else:
            self._count_afresh(documents, previous, moved, (n, width))
        df = np.diff(self.counts.indptr)  # the chunks holding each token
        self.idf = np.log((n - df + 0.5) / (df + 0.5) + 1.0).astype(np.float32)
        # A query word no chunk contains is as informative as the rarest word.
        self.unseen_idf = float(np.log((n + 0.5) / 0.5 + 1.0))
        # BM25 (the Lucene variant, as bm25s scores it) is summed at query time from the counts:
        # precomputed scores, as bm25s keeps them, would all change with each added document.
        lengths = np.maximum(np.asarray(self.counts.sum(axis=1)).ravel(), 1.0)
        self._bm25_norm = (_BM25_K1 * (1 - _BM25_B + _BM25_B * lengths / lengths.mean())).astype(np.float32)

    def _count_afresh(self, documents: dict[str, IndexedDocument], previous: KeywordIndex | None,
                      moved: np.ndarray | None, shape: tuple[int, int]) -> None:
        """`counts` and `document_presence` from every document's own counts."""
        import scipy.sparse as sp

        # Each document's columns: where its tokens fall among all of them (both sorted); for a
        # document `previous` held, where its columns there moved to.
        kept = previous.records if previous is not None else {}
        sorted_tokens = None
        self._columns = {}
        earlier_columns = previous.document_columns() if previous is not None else {}
        for doc_id, d in documents.items():
            if kept.get(doc_id) is d and doc_id in earlier_columns:  # held by `previous`, so `moved` is set
                self._columns[doc_id] = moved[earlier_columns[doc_id]]
            else:
                sorted_tokens = np.array(self.tokens, dtype=str) if sorted_tokens is None else sorted_tokens
                self._columns[doc_id] = np.searchsorted(sorted_tokens, d.tokens).astype(np.int64)
        columns = list(self._columns.values())
        blocks = [d.counts for d in documents.values()]
        indptr = np.concatenate([[0]] + [b.indptr[1:] + offset for b, offset in
                                         zip(blocks, np.cumsum([0] + [b.nnz for b in blocks[:-1]]))]).astype(np.int64)
        indices = np.concatenate([c[b.indices] for c, b in zip(columns, blocks)] or [np.zeros(0, np.int64)])
        data = np.concatenate([b.data for b in blocks] or [np.zeros(0, np.float32)])
        if not self.chunk_ids:
            indptr = np.zeros(2, np.int64)
        # How often each chunk holds each token, by column: a query reads a handful of words' columns.
        self.counts = sp.csr_matrix((data, indices, indptr), shape=shape).tocsc()
        # Which documents hold each token, in any of their chunks.
        held = np.concatenate(columns or [np.zeros(0, np.int64)])
        starts = np.concatenate([[0], np.cumsum([len(c) for c in columns])]) if columns else np.zeros(2, np.int64)
        self.document_presence = sp.csr_matrix((np.ones(len(held), np.float32), held, starts),
                                               shape=(max(len(self.documents), 1), shape[1])).tocsc()

    @classmethod
    def from_token_lists(cls, fingerprint: str, chunk_ids: list[str], token_lists: list[list[str]],
                         doc_ids: list[str] | None = None) -> KeywordIndex:
        """An index of chunks given as their tokens (each chunk a document of its own, without `doc_ids`)."""
        doc_ids = doc_ids if doc_ids is not None else chunk_ids
        grouped: dict[str, list[int]] = {}
        for row, doc_id in enumerate(doc_ids):
            grouped.setdefault(doc_id, []).append(row)
        return cls(fingerprint, {doc_id: IndexedDocument.of_terms(
            ("", ""), [chunk_ids[r] for r in rows], [""] * len(rows), np.zeros((len(rows), 0), np.float32),
            [[(t, t) for t in token_lists[r]] for r in rows]) for doc_id, rows in grouped.items()})

    def embed_terms(self, embedder, previous: KeywordIndex | None = None) -> list[str]:
        """Give every indexed word its vector, reusing those of a previous index of the same embedder;
        returns the words embedded anew."""
        earlier = getattr(previous, "term_vectors", None)  # None too for a pickle from an older version
        row_of = {word: row for row, word in enumerate(earlier.words)} if earlier is not None else {}
        rows = np.fromiter((row_of.get(w, -1) for w in self.words), np.int64, len(self.words))
        missing = sorted({w for w, row in zip(self.words, rows) if row < 0})
        known = rows >= 0
        if known.any():  # one gather, the rows of new words filled in after
            vectors = earlier.vectors[np.maximum(rows, 0)]
        else:
            vectors = np.empty((len(self.words), embedder.dimension), np.float32)
        if missing:  # one call: the model batches by tokens
            fresh = dict(zip(missing, embedder.embed_documents(missing)))
            vectors[~known] = [fresh[w] for w, row in zip(self.words, rows) if row < 0]
        same_format = getattr(previous, "format", None) == INDEX_FORMAT
        reused = earlier.neighbourhoods if same_format and earlier else None
        keys = row_keys(self.words) if reused is None else _reused_keys(self.words, rows, reused.keys)
        self.term_vectors = TermVectors(self.words, vectors, earlier=reused, keys=keys)
        return missing

    def document_columns(self) -> dict[str, np.ndarray]:
        """Each document's columns, sorted: where its tokens fall among all. Kept from the build;
        for an index read from disk, read off `document_presence` (which holds the same) once."""
        if self._columns is None:
            presence = self.document_presence.tocsr()
            presence.sort_indices()
            self._columns = {doc_id: presence.indices[presence.indptr[row] : presence.indptr[row + 1]].astype(np.int64)
                             for row, doc_id in enumerate(self.documents)}
        return self._columns

    def __getstate__(self) -> dict:
        # An open dictionary is this process's, not the cache's. The records and the word vectors
        # are files of their own, written once, not again with every change (`qa.keyword_cache`).
        # What another field holds or the shared cache keeps is not written again with every change:
        # the columns (in `document_presence`) and the languages' bias (see `LanguageSpread.measure_bias`).
        state = {**self.__dict__, "lexicon": None, "records": None, "stamp": None, "swept": False, "_columns": None}
        if self.term_vectors is not None:
            state["term_vectors"] = copy.copy(self.term_vectors)
            state["term_vectors"].vectors = self.term_vectors.vectors[:0]  # no rows: only their width
        if self.languages.bias is not None:
            state["languages"] = copy.copy(self.languages)
            state["languages"].bias = None
        # Counts are small whole numbers, and every document holds a token once: written as such.
        state["counts"] = _packed_columns(self.counts)
        state["document_presence"] = _packed_columns(self.document_presence, values=False)
        return state

    def __setstate__(self, state: dict) -> None:
        for name in ("counts", "document_presence"):
            if isinstance(state.get(name), tuple):  # not so in a file of another format, which is rebuilt
                state[name] = _unpacked_columns(*state[name])
        self.__dict__.update(state)

    def held_translations(self, key: str) -> dict[int, float]:
        """The lexicon's translations of a token (or `phrase`) that this index holds, {column: credit}:
        at most `_LISTED_PER_WORD`, the rarest first."""
        if self.lexicon is None:
            return {}
        held = {self.vocab[t]: credit for t, credit in self.lexicon.translations(key).items() if t in self.vocab}
        if len(held) > _LISTED_PER_WORD:
            held = dict(sorted(held.items(), key=lambda item: -self.idf[item[0]])[:_LISTED_PER_WORD])
        return held

    def query_terms(self, query: str, embedder=None, threshold: float = 0.1, limit: int = 3) -> QueryTerms:
        """The query's words as this index weighs them, each with the tokens that match it.

        Each query word also matches the indexed words the lexicon lists as its translations
        (see `held_translations`) and, with an embedder, up to `limit` indexed words of each script whose
        vectors say they translate it, credited by their similarity. A query word the corpus
        lacks weighs as much as its rarest translation.
        """
        terms = list(dict.fromkeys(keyword_terms(_ASKING.sub(" ", query),
                                                 lambda run: _in_corpus_words(_whole_words(run), self.vocab))))
        translations: list[dict[int, float]] = [{} for _ in terms]
        if terms and embedder is not None and self.term_vectors is not None and self.tokens:
            query_vectors = embedder.embed_cached([word for _, word in terms])
            latin = [_in_letters(word) for _, word in terms]
            translations = self.term_vectors.translations(query_vectors, threshold, limit, latin)
        # Words in a row may translate as one ("University of Chicago": 芝加哥大学): each matches it.
        tokens = [token for token, _ in terms]
        listed = [[self.held_translations(token)] for token in tokens]
        for n in range(2, LONGEST_GLOSS + 1):
            for i in range(len(tokens) - n + 1):
                held = self.held_translations(phrase(*tokens[i : i + n]))
                for at in range(i, i + n):
                    listed[at].append(held)
        weights, matches, own_tokens = [], [], []
        for (token, _), found, lists in zip(terms, translations, listed):
            for column, credit in (item for held in lists for item in held.items()):
                found[column] = max(found.get(column, 0.0), credit)
            own = self.vocab.get(token)
            if own is not None:
                weights.append(float(self.idf[own]))
            else:
                weights.append(max((float(self.idf[c]) for c in found), default=self.unseen_idf))
            matches.append({**{self.tokens[c]: sim for c, sim in found.items()}, token: 1.0})
            own_tokens.append(token)
        respellings: list[tuple[str, ...]] = [() for _ in own_tokens]
        for i, joined in self._joined_spellings(terms):
            for at in (i, i + 1):
                matches[at][joined] = 1.0
                respellings[at] += (joined,)
        return QueryTerms(tuple(own_tokens), tuple(weights), tuple(matches), tuple(respellings))

    def _joined_spellings(self, terms: list[tuple[str, str]]) -> list[tuple[int, str]]:
        """(i, token) where query words i and i + 1, written as one word, are an indexed token:
        a name is written both ways ("Hugging Face" and "HuggingFace", "Open AI" and "OpenAI")."""
        found = []
        for i, ((_, first), (_, second)) in enumerate(zip(terms, terms[1:])):
            joined = word_tokens(first + second)
            if len(joined) == 1 and joined[0] in self.vocab and _in_letters(first + second):
                found.append((i, joined[0]))
        return found

    def search(self, query: str, k: int, embedder=None, threshold: float = 0.1, limit: int = 3) -> KeywordHits:
        """The top-k chunks by BM25 and, for every chunk with any match, its query coverage."""
        return self.search_terms(self.query_terms(query, embedder, threshold, limit), k)

    def bm25_scores(self, terms: QueryTerms) -> np.ndarray:
        """Every chunk's BM25 (in `chunk_ids` order) for a query's words and their translations."""
        columns = {self.vocab[t] for match in terms.matches for t in match if t in self.vocab}
        return self._bm25_of_columns(sorted(columns))

    def _bm25_of_columns(self, columns: list[int]) -> np.ndarray:
        """Every chunk's BM25 for the indexed tokens in these columns (zeros for none)."""
        if not columns or not self.chunk_ids:
            return np.zeros(len(self.chunk_ids))
        held = self.counts[:, columns].tocoo()
        weights = self.idf[columns][held.col] * held.data / (held.data + self._bm25_norm[held.row])
        return np.bincount(held.row, weights=weights, minlength=len(self.chunk_ids))

    def name_held(self, terms: QueryTerms, name: str) -> float:
        """The share of a name's weight (its words' IDF) that a query holds, by its own words or
        their translations: 1.0 for a question that names an article's whole title ("where was the
        1993 movie the secret garden filmed", "The Secret Garden (1993 film)"), whatever else it says."""
        tokens = set(keyword_tokens(name))
        if not tokens:
            return 0.0
        weights = {t: float(self.idf[self.vocab[t]]) if t in self.vocab else self.unseen_idf for t in tokens}
        return sum(w * terms.credits.get(t, 0.0) for t, w in weights.items()) / sum(weights.values())

    def search_terms(self, terms: QueryTerms, k: int) -> KeywordHits:
        """`search` for a query already weighed by `query_terms`."""
        known = [{self.vocab[t]: credit for t, credit in match.items() if t in self.vocab} for match in terms.matches]
        if not self.chunk_ids or not any(known):
            return KeywordHits([], {}, {})
        wanted = sorted({c for credit in known for c in credit})
        position = {c: i for i, c in enumerate(wanted)}
        own = [{self.vocab[t]: 1.0 for t in terms.own_spellings(i) if t in self.vocab} for i in range(len(known))]
        present = (self.counts[:, wanted].toarray() > 0).astype(np.float32)  # one slice: chunks x the query's columns
        matched = _matched_weight(present, terms.weights, known, position)
        exact = _matched_weight(present, terms.weights, own, position)
        in_documents = _matched_weight(self.document_presence[:, wanted].toarray(), terms.weights, known, position)
        total = terms.total
        coverage = {self.chunk_ids[i]: float(matched[i] / total) for i in np.flatnonzero(matched)}
        exact_coverage = {self.chunk_ids[i]: float(exact[i] / total) for i in np.flatnonzero(exact)}
        document_coverage = {self.documents[i]: float(in_documents[i] / total) for i in np.flatnonzero(in_documents)}
        scores = self._bm25_of_columns(wanted)  # the columns just looked up, not looked up again
        top = np.argsort(-scores)[:k]
        return KeywordHits([self.chunk_ids[i] for i in top if scores[i] > 0], coverage, exact_coverage,
                           document_coverage)


def _counted_on(previous: KeywordIndex, documents: dict[str, IndexedDocument], moved: np.ndarray,
                vocab: dict[str, int], shape: tuple[int, int]):
    """(counts, document_presence) as `previous` counted them, less the documents that changed or
    left and plus those that changed or came, in time that grows with the entries moved rather
    than with a document loop; None where the documents `previous` kept changed order (then
    counted afresh)."""
    kept = previous.records
    stays = np.array([documents.get(doc_id) is kept[doc_id] for doc_id in previous.documents], bool)
    position = {doc_id: i for i, doc_id in enumerate(documents)}
    doc_map = np.array([position[d] if s else -1 for d, s in zip(previous.documents, stays)], np.int64)
    if np.any(np.diff(doc_map[stays]) <= 0):
        return None
    sizes = np.array([len(d.chunk_ids) for d in documents.values()], np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    old_sizes = np.array([len(kept[doc_id].chunk_ids) for doc_id in previous.documents], np.int64)
    old_starts = np.concatenate([[0], np.cumsum(old_sizes)])[:-1]
    # A document that left has no start (-1): any index does, masked; starts[0] is there even with no document left.
    row_map = np.arange(old_sizes.sum()) + np.repeat(np.where(stays, starts[np.maximum(doc_map, 0)] - old_starts, 0),
                                                     old_sizes)
    row_map[np.repeat(~stays, old_sizes)] = -1
    held = np.zeros(len(documents), bool)
    held[doc_map[stays]] = True
    chunk_rows, chunk_columns, chunk_counts, doc_rows, doc_columns = [], [], [], [], []
    for i, record in enumerate(documents.values()):
        if held[i]:
            continue
        columns = np.fromiter((vocab[t] for t in record.tokens), np.int64, len(record.tokens))
        block = record.counts.tocoo()
        chunk_rows.append(starts[i] + block.row)
        chunk_columns.append(columns[block.col])
        chunk_counts.append(block.data)
        doc_rows.append(np.full(len(columns), i))
        doc_columns.append(columns)
    counts = _merged_columns(previous.counts, row_map, moved, chunk_rows, chunk_columns, chunk_counts, shape)
    presence = _merged_columns(previous.document_presence, doc_map, moved, doc_rows, doc_columns,
                               [np.ones(len(c), np.float32) for c in doc_columns], (max(len(documents), 1), shape[1]))
    return counts, presence


def _merged_columns(matrix, row_map: np.ndarray, column_map: np.ndarray, rows: list, columns: list, values: list,
                    shape: tuple[int, int]):
    """A CSC matrix (rows sorted in each column): `matrix`'s entries moved by `row_map` and
    `column_map` (both increasing; -1: dropped), and the new entries (`rows`, `columns`, `values`
    as lists of arrays) put in their places."""
    import scipy.sparse as sp

    if not matrix.has_sorted_indices:
        matrix = matrix.sorted_indices()
    moved_to = np.full(matrix.shape[1], -1, np.int64)
    moved_to[: len(column_map)] = column_map
    old_rows, old_values = row_map[matrix.indices], matrix.data
    per_column = np.diff(matrix.indptr)
    kept = old_rows >= 0
    if not kept.all():
        per_column = np.bincount(np.repeat(np.arange(len(per_column)), per_column)[kept], minlength=len(per_column))
        old_rows, old_values = old_rows[kept], old_values[kept]
    # Each entry's place in (column, row) order: a dropped column has no entries left.
    keys = np.repeat(moved_to * shape[0], per_column)
    keys += old_rows
    new_rows = np.concatenate(rows or [np.zeros(0, np.int64)]).astype(np.int64)
    new_columns = np.concatenate(columns or [np.zeros(0, np.int64)]).astype(np.int64)
    new_values = np.concatenate(values or [np.zeros(0, np.float32)]).astype(np.float32)
    order = np.lexsort((new_rows, new_columns))
    at = np.searchsorted(keys, new_columns[order] * shape[0] + new_rows[order])
    held = moved_to >= 0
    per_new_column = np.bincount(new_columns, minlength=shape[1])
    per_new_column[moved_to[held]] += per_column[held]
    indptr = np.concatenate([[0], np.cumsum(per_new_column)])
    return sp.csc_matrix((np.insert(old_values, at, new_values[order]), np.insert(old_rows, at, new_rows[order]),
                          indptr), shape=shape)


def _packed_columns(matrix, values: bool = True) -> tuple:
    """A CSC matrix of whole numbers as (shape, indptr, indices, values or None for all ones), each
    array in the narrowest integer type that holds it."""
    values = _narrowest(matrix.data.astype(np.int64)) if values else None
    return matrix.shape, _narrowest(matrix.indptr), _narrowest(matrix.indices), values


def _unpacked_columns(shape: tuple[int, int], indptr: np.ndarray, indices: np.ndarray, values: np.ndarray | None):
    """The float32 CSC matrix `_packed_columns` packed."""
    import scipy.sparse as sp

    data = np.ones(len(indices), np.float32) if values is None else values.astype(np.float32)
    return sp.csc_matrix((data, indices, indptr), shape=shape)


def _narrowest(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in the narrowest unsigned type that holds them all."""
    top = int(values.max()) if len(values) else 0
    return values.astype(next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max))


def _reused_keys(words: list[str], rows: np.ndarray, earlier_keys: np.ndarray) -> np.ndarray:
    """The words' `row_keys`: an earlier index's where it held the word (`rows`, -1 where not),
    hashed for the others."""
    keys = np.empty(len(words), np.uint64)
    known = rows >= 0
    keys[known] = earlier_keys[rows[known]]
    keys[~known] = row_keys([w for w, row in zip(words, rows) if row < 0])
    return keys


def _matched_weight(present: np.ndarray, weights: Iterable[float], credits: list[dict[int, float]],
                    position: dict[int, int]) -> np.ndarray:
    """The query weight each row of `present` (rows x the query's columns) holds: each query word's
    weight times the best credit among the columns that match it (`credits`: {column: credit} per word)."""
    matched = np.zeros(len(present), np.float32)
    for weight, credit in zip(weights, credits):
        if credit:
            at = [position[c] for c in credit]
            matched += weight * (present[:, at] * np.array(list(credit.values()), np.float32)).max(axis=1)
    return matched


# Between a word and its count, and between tokens: no token or word holds a control character.
_SEPARATOR, _TOKENS = "\x1f", "\x1e"


@dataclass(frozen=True)
class IndexedDocument:
    """One document's chunks as the keyword index reads them, kept from one build to the next, so
    that tokenising (jieba on every Chinese chunk) and reading vectors back from the store are
    paid once per document version, not once per change to the store."""

    version: tuple[str, str]  # the document's (content_hash, prepared): other chunks under another
    chunk_ids: tuple[str, ...]
    langs: tuple[str, ...]
    vectors: np.ndarray  # (chunks, dimension) float32
    tokens: tuple[str, ...]  # its distinct keyword tokens, sorted (not a numpy str array: that pads each to the longest)
    counts: object  # scipy CSR (chunks, tokens) float32: how often each chunk holds each token
    # How often each token (in `tokens` order) is written each way, packed into one string (see
    # `written`): one string a document pickles far faster than a dict a token.
    spellings: str
    mentions: tuple[str, ...]  # `version_mentions` of all its chunks
    keys: np.ndarray  # each chunk's `row_keys`, of its id and the version: a changed document's chunks are new ones

    @classmethod
    def read(cls, version: tuple[str, str], chunks: Sequence[tuple[Chunk, Sequence[float]]]) -> IndexedDocument:
        """Tokenise a document's chunks (with their vectors, in order)."""
        return cls.of_terms(version, [c.chunk_id for c, _ in chunks], [c.lang for c, _ in chunks],
                            np.array([v for _, v in chunks], np.float32).reshape(len(chunks), -1),
                            [keyword_terms(chunk.text) for chunk, _ in chunks],
                            [m for chunk, _ in chunks for m in version_mentions(chunk.text)])

    @classmethod
    def of_terms(cls, version: tuple[str, str], chunk_ids: Sequence[str], langs: Sequence[str], vectors: np.ndarray,
                 terms: Sequence[Sequence[tuple[str, str]]], mentions: Sequence[str] = ()) -> IndexedDocument:
        """A document of chunks given as their (token, word) pairs (`keyword_terms`)."""
        import scipy.sparse as sp

        spellings: dict[str, Counter] = {}
        for found in terms:
            for token, word in found:
                spellings.setdefault(token, Counter())[word] += 1
        tokens = sorted(spellings)
        column = {token: i for i, token in enumerate(tokens)}
        rows, columns, counts = [], [], []
        for row, found in enumerate(terms):
            for token, count in Counter(token for token, _ in found).items():
                rows.append(row)
                columns.append(column[token])
                counts.append(count)
        matrix = sp.csr_matrix((np.array(counts, np.float32), (rows, columns)), shape=(len(chunk_ids), len(tokens)))
        matrix.sort_indices()
        packed = _TOKENS.join(_SEPARATOR.join(f"{word}{_SEPARATOR}{count}" for word, count in spellings[token].items())
                              for token in tokens)
        return cls(version, tuple(chunk_ids), tuple(langs), vectors, tuple(tokens), matrix, packed,
                   tuple(mentions), row_keys([f"{chunk_id}@{'/'.join(version)}" for chunk_id in chunk_ids]))

    def written(self) -> dict[str, dict[str, int]]:
        """token -> {word as written: how often}."""
        found = {}
        for token, packed in zip(self.tokens, self.spellings.split(_TOKENS) if self.tokens else ()):
            parts = packed.split(_SEPARATOR)
            found[token] = {word: int(count) for word, count in zip(parts[::2], parts[1::2])}
        return found


def _counted_mentions(changes: list[tuple[IndexedDocument, int]], previous: KeywordIndex | None) -> dict[str, int]:
    """How often each `version_mentions` mention is written over all documents: the previous
    index's counts (copied, not changed), less each document of the `changes` with -1, plus each with +1."""
    counted = dict(previous.mentions) if previous is not None else {}
    for document, sign in changes:
        for mention, count in Counter(document.mentions).items():
            counted[mention] = counted.get(mention, 0) + sign * count
            if not counted[mention]:
                del counted[mention]
    return counted


def _count_spellings(changes: list[tuple[IndexedDocument, int]],
                     previous: KeywordIndex | None) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """How often each token is written each way over all documents, and the way it is most often
    written (the first in alphabetical order among equals): the previous index's counts, less
    each document of the `changes` with -1, plus each with +1. The previous index's own are
    copied where they change, never changed: other threads may be answering from it."""
    spellings = dict(previous.spellings) if previous is not None else {}
    word_of = dict(previous._word_of) if previous is not None else {}
    touched = set()
    for document, sign in changes:
        for token, words in document.written().items():
            if token not in touched:
                touched.add(token)
                spellings[token] = dict(spellings.get(token, {}))
            counted = spellings.setdefault(token, {})
            for word, count in words.items():
                counted[word] = counted.get(word, 0) + sign * count
                if not counted[word]:
                    del counted[word]
            if not counted:
                del spellings[token]
    for token in touched:
        if token in spellings:
            word_of[token] = min(spellings[token].items(), key=lambda item: (-item[1], item[0]))[0]
        else:
            word_of.pop(token, None)
    return spellings, word_of
