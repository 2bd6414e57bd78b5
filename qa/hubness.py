"""How generic each passage is: close to many passages of other articles, and so to many questions.

In a corpus on one topic some passages restate it ("Whoever understands open source supports
open source") and sit near every question about it, whatever the question asks: hubs, as
nearest-neighbour search in high dimensions calls them. A passage's hubness is the mean
similarity of its nearest passages in other documents, above its language's average (each
language has its own level, see `qa.language_spread`); fusion subtracts a share of it.
This is the hub correction of CSLS (Conneau et al. 2018), applied to passages rather than words
(`qa.keywords.TermVectors` applies it to words, with the two helpers below).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Neighbours a passage's hubness is the mean similarity of.
NEIGHBOURS = 5
# A passage this similar to another is a copy of it (the same article filed twice), not a neighbour.
_COPY = 0.95
# Neighbourhoods are measured among at most this many passages, so the cost grows with the
# corpus, not with its square (about 1 s per 10,000 passages on 2 cores).
_SAMPLE = 8192
# Rows compared at a time: a few MB of similarities, not the whole corpus squared.
_BLOCK = 256


def passage_hubness(vectors: np.ndarray, chunk_ids: Sequence[str], doc_ids: Sequence[str], langs: Sequence[str],
                    neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Each passage's hubness (0 for a passage no more generic than its language's average).

    A passage with fewer than `neighbours` passages of other documents to compare with gets 0:
    a corpus of one article has no hubs to tell. In a corpus of more than `_SAMPLE` passages,
    the neighbours are sought among that many, picked by chunk id so that the same corpus
    always gives the same hubness, whatever order its chunks come in.
    """
    count = len(vectors)
    if count == 0 or neighbours < 1:
        return np.zeros(count, np.float32)
    matrix = np.asarray(vectors, np.float32)
    norms = np.maximum(np.sqrt(np.einsum("ij,ij->i", matrix, matrix)), 1e-12)
    _, documents = np.unique(np.asarray(doc_ids), return_inverse=True)
    sample = sample_by_key(chunk_ids, _SAMPLE)
    if len(sample) == count:  # all of them: no copy
        reference, reference_norms, reference_documents = matrix, norms, documents
    else:
        reference, reference_norms, reference_documents = matrix[sample], norms[sample], documents[sample]
    level = np.full(count, np.nan, np.float32)
    for at in range(0, count, _BLOCK):
        rows = slice(at, at + _BLOCK)
        similarity = matrix[rows] @ reference.T
        similarity /= norms[rows, None]
        similarity /= reference_norms[None, :]
        similarity[(documents[rows, None] == reference_documents[None, :]) | (similarity >= _COPY)] = -np.inf
        enough = np.isfinite(similarity).sum(axis=1) >= neighbours
        if enough.any():
            level[rows][enough] = mean_of_top(similarity[enough], neighbours)
    hubness = np.zeros(count, np.float32)
    langs = np.asarray(langs)
    for lang in np.unique(langs):
        measured = (langs == lang) & ~np.isnan(level)
        if measured.any():
            hubness[measured] = np.maximum(level[measured] - level[measured].mean(), 0.0)
    return hubness


def sample_by_key(keys: Sequence[str], size: int) -> np.ndarray:
    """The positions of at most `size` items, evenly spaced in the order of their keys: the same
    items whatever order they come in."""
    by_key = np.argsort(np.asarray(keys), kind="stable")
    return by_key[np.linspace(0, len(keys) - 1, min(size, len(keys))).astype(np.int64)]


def mean_of_top(similarity: np.ndarray, k: int) -> np.ndarray:
    """Each row's mean of its `k` largest values (of all, in a row of fewer)."""
    k = min(k, similarity.shape[1])
    return np.partition(similarity, -k, axis=1)[:, -k:].mean(axis=1) if k else np.zeros(len(similarity))
