"""How generic each passage is: close to many passages of other articles, and so to many questions.

In a corpus on one topic some passages restate it ("Whoever understands open source supports
open source") and sit near every question about it, whatever the question asks: hubs, as
nearest-neighbour search in high dimensions calls them. A passage's hubness is the mean
similarity of its nearest passages in other documents, above its language's average (each
language has its own level, see `ingest.keywords.LanguageSpread`); fusion subtracts a share of it.
This is the hub correction of CSLS (Conneau et al. 2018), applied to passages rather than words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Neighbours a passage's hubness is the mean similarity of.
NEIGHBOURS = 5
# A passage this similar to another is a copy of it (the same article filed twice), not a neighbour.
_COPY = 0.95
# Rows compared at a time: a few MB of similarities, not the whole corpus squared.
_BLOCK = 512


def passage_hubness(vectors: np.ndarray, doc_ids: Sequence[str], langs: Sequence[str],
                    neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Each passage's hubness (0 for a passage no more generic than its language's average).

    A passage with fewer than `neighbours` passages of other documents to compare with gets 0:
    a corpus of one article has no hubs to tell.
    """
    count = len(vectors)
    if count == 0:
        return np.zeros(0, np.float32)
    unit = np.asarray(vectors, np.float32)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    _, documents = np.unique(np.asarray(doc_ids), return_inverse=True)
    level = np.full(count, np.nan, np.float32)
    for at in range(0, count, _BLOCK):
        similarity = unit[at : at + _BLOCK] @ unit.T
        apart = (documents[at : at + _BLOCK, None] != documents[None, :]) & (similarity < _COPY)
        similarity[~apart] = -np.inf
        enough = apart.sum(axis=1) >= neighbours
        if enough.any() and neighbours:
            top = np.partition(similarity[enough], -neighbours, axis=1)[:, -neighbours:]
            level[at : at + _BLOCK][enough] = top.mean(axis=1)
    hubness = np.zeros(count, np.float32)
    langs = np.asarray(langs)
    for lang in np.unique(langs):
        measured = (langs == lang) & ~np.isnan(level)
        if measured.any():
            hubness[measured] = np.maximum(level[measured] - level[measured].mean(), 0.0)
    return hubness
