"""Keyword retrieval: language-aware tokens, a BM25 index, and how much of a query a chunk covers.

The index is derived from the store: it is rebuilt from the stored chunks whenever the
store's fingerprint changes, and cached on disk next to the store, so it can never
silently diverge from what the store holds (not even after a crash mid-ingest).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+")
# Function words of the three languages: they match everywhere and say nothing.
_STOPWORDS = frozenset(
    """the a an of and or is are was were be been being to in on at by for with from that this these those
    which who whom whose what when where why how does did do has have had it its as about into than then there
    their they them he she his her we you your our not no can could would should will may might also any all
    le la les des du de un une et ou est sont au aux en dans pour par sur avec que qui quoi quand comment
    pourquoi combien quel quelle quels quelles ce cette ces il elle ils elles on se sa son ses leur leurs
    ne pas plus été être ont fait selon
    的 了 是 在 和 与 及 或 有 也 都 而 被 把 对 为 从 以 之 于 其 这 那 这个 那个 什么 哪 哪个 哪些 哪位
    谁 吗 呢 吧 啊 个 上 中 下 一个 如何 怎么 怎样 多少 几 是否 什么样 时候 何时""".split()
)


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
    tokens = []
    cursor = 0
    for run in _HAN_RUN.finditer(text):
        tokens += _latin_tokens(text[cursor : run.start()])
        tokens += [w for w in _jieba().cut_for_search(run.group()) if w not in _STOPWORDS]
        cursor = run.end()
    tokens += _latin_tokens(text[cursor:])
    return tokens


def _latin_tokens(text: str) -> list[str]:
    words = (_fold(w.lower()) for w in _WORD.findall(text))
    return [_stem(w) for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())]


@dataclass(frozen=True)
class KeywordHits:
    """Keyword evidence for a query: the best chunks by BM25, and each chunk's query coverage."""

    chunk_ids: list[str]
    coverage: dict[str, float]


class KeywordIndex:
    """BM25 over the store's chunks, plus the IDF share of a query each chunk contains."""

    def __init__(self, fingerprint: str, chunk_ids: list[str], token_lists: list[list[str]]):
        import bm25s
        import scipy.sparse as sp

        self.fingerprint = fingerprint
        self.chunk_ids = chunk_ids
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for row, tokens in enumerate(token_lists):
            for token in set(tokens):
                rows.append(row)
                cols.append(vocab.setdefault(token, len(vocab)))
        self.vocab = vocab
        n = max(len(chunk_ids), 1)
        self.presence = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, max(len(vocab), 1)))
        df = np.asarray(self.presence.sum(axis=0)).ravel()
        self.idf = np.log((n - df + 0.5) / (df + 0.5) + 1.0).astype(np.float32)
        # A query word no chunk contains is as informative as the rarest word.
        self.unseen_idf = float(np.log((n + 0.5) / 0.5 + 1.0))
        self.bm25 = bm25s.BM25()
        if chunk_ids:
            self.bm25.index([tokens or [""] for tokens in token_lists], show_progress=False)

    def search(self, query: str, k: int) -> KeywordHits:
        """The top-k chunks by BM25 and, for every chunk with any match, its query coverage."""
        tokens = list(dict.fromkeys(keyword_tokens(query)))
        if not tokens or not self.chunk_ids:
            return KeywordHits([], {})
        known = [self.vocab[t] for t in tokens if t in self.vocab]
        total = float(self.idf[known].sum()) + self.unseen_idf * (len(tokens) - len(known))
        if not known:
            return KeywordHits([], {})
        matched = self.presence[:, known] @ self.idf[known]
        coverage = {self.chunk_ids[i]: float(matched[i] / total) for i in np.flatnonzero(matched)}
        scores = self.bm25.get_scores([t for t in tokens if t in self.vocab])
        top = np.argsort(-scores)[:k]
        return KeywordHits([self.chunk_ids[i] for i in top if scores[i] > 0], coverage)


def load_keyword_index(store, cache_dir: Path) -> KeywordIndex:
    """The keyword index of the store's current contents: from the disk cache, else rebuilt and cached."""
    fingerprint = store.fingerprint()
    path = Path(cache_dir) / f"keywords-{store.collection_key}.pkl"
    try:
        with open(path, "rb") as f:
            index = pickle.load(f)
        if index.fingerprint == fingerprint:
            return index
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    ids, texts = [], []
    for chunk_id, text in store.iter_chunks():
        ids.append(chunk_id)
        texts.append(text)
    index = KeywordIndex(fingerprint, ids, [keyword_tokens(t) for t in texts])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with open(partial, "wb") as f:
        pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)  # atomic: a reader sees the old index or the new one, never half
    return index
