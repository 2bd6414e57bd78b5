"""How generic each passage is: close to many passages of other articles, and so to many questions.

In a corpus on one topic some passages restate it ("Whoever understands open source supports
open source") and sit near every question about it, whatever the question asks: hubs, as
nearest-neighbour search in high dimensions calls them. A passage's hubness is the mean
similarity of its nearest passages in other documents, above its language's average (each
language has its own level, see `qa.language_spread`); fusion subtracts a share of it.
This is the hub correction of CSLS (Conneau et al. 2018), applied to passages rather than words
(`qa.keywords.TermVectors` applies it to words, with `nearest_neighbours` and `mean_of_top`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

# Neighbours a passage's hubness is the mean similarity of.
NEIGHBOURS = 5
# A passage this similar to another is a copy of it (the same article filed twice), not a neighbour.
_COPY = 0.95
# Neighbourhoods are measured among at most this many passages, so the cost grows with the
# corpus, not with its square.
_SAMPLE = 8192
# Rows compared at a time, at least: a few MB of similarities, not the whole corpus squared.
_BLOCK = 256
_BLOCK_VALUES = _BLOCK * 4096


@dataclass(frozen=True)
class Neighbourhoods:
    """How generic each row (passage, or word) is, and the nearest rows it was measured from: kept,
    they let the next measure (with `earlier`) compare only what a change added or took away."""

    hubness: np.ndarray  # (rows,) float32: how generic each row is (see `passage_hubness`, `nearest_neighbours`)
    keys: np.ndarray  # (rows,) uint64: each row's key (`row_keys`); all in the rows' order
    nearest: np.ndarray  # (rows, neighbours) float32: similarities to the nearest, -inf where none
    nearest_keys: np.ndarray  # (rows, neighbours) uint64: whose they are
    reference: np.ndarray  # sorted uint64 keys of the rows neighbours were sought among


def row_keys(names: Sequence[str]) -> np.ndarray:
    """Rows' 64-bit keys, from their names (a passage's chunk id and document version, a word):
    the same in every process."""
    return np.array([int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
                     for name in names], np.uint64)


def passage_hubness(vectors: np.ndarray, keys: np.ndarray, doc_ids: Sequence[str] | np.ndarray, langs: Sequence[str],
                    neighbours: int = NEIGHBOURS, earlier: Neighbourhoods | None = None,
                    sample: int = _SAMPLE) -> Neighbourhoods:
    """Each passage's hubness (0 for a passage no more generic than its language's average).

    `doc_ids`: each passage's document, by id or by number. `keys` name the passages (`row_keys`
    of a chunk id with its document's version: a changed document's passages are new ones). A
    passage with fewer than `neighbours` passages of other documents to compare with gets 0: a
    corpus of one article has no hubs to tell. See `nearest_neighbours` for `earlier` and `sample`.
    """
    documents = np.asarray(doc_ids)
    if documents.dtype.kind not in "iu":  # numbered already, by the caller that has them in order
        documents = np.unique(documents.astype(str), return_inverse=True)[1]
    found = nearest_neighbours(vectors, keys, documents.reshape(len(vectors)), neighbours, _COPY, earlier, sample)
    measured = np.isfinite(found.nearest).all(axis=1) if neighbours > 0 else np.zeros(len(vectors), bool)
    level = np.full(len(vectors), np.nan, np.float32)
    level[measured] = found.nearest[measured].mean(axis=1)
    hubness = np.zeros(len(vectors), np.float32)
    langs = np.asarray(langs)
    for lang in np.unique(langs):
        mine = (langs == lang) & measured
        if mine.any():
            hubness[mine] = np.maximum(level[mine] - level[mine].mean(), 0.0)
    return replace(found, hubness=hubness)


def nearest_neighbours(vectors: np.ndarray, keys: np.ndarray, groups: np.ndarray, neighbours: int, copy: float,
                       earlier: Neighbourhoods | None = None, sample: int = _SAMPLE) -> Neighbourhoods:
    """Each row's `neighbours` most similar rows (by cosine) of another group (rows named by
    `keys`, see `row_keys`), not copies (similarity
    `copy` or more), sought among at most `sample` rows: those with the smallest keys, so the same
    rows give the same neighbours whatever their order, and an added row rarely changes the sample.
    Its `hubness` is each row's mean similarity to them (-1 for a missing one).

    With `earlier` (this function's result on an earlier state of the rows), only new rows, and
    rows that lost a neighbour, are compared with the whole sample; the rest only with the rows
    that joined it. The result is the same as without.
    """
    count = len(vectors)
    matrix = np.asarray(vectors, np.float32)
    matrix = matrix if matrix.ndim == 2 else matrix.reshape(count, -1)
    # Rows are divided by their norms where compared, not all copied as unit vectors first.
    norms = np.maximum(np.sqrt(np.einsum("ij,ij->i", matrix, matrix)), 1e-12)
    hashed = np.asarray(keys, np.uint64)
    reference_rows = np.argsort(hashed, kind="stable")[:sample]
    reference = hashed[reference_rows]
    k = max(neighbours, 0)
    nearest = np.full((count, k), -np.inf, np.float32)
    nearest_keys = np.zeros((count, k), np.uint64)
    redo = np.ones(count, bool)
    if earlier is not None and earlier.nearest.shape[1] == k and len(earlier.keys) and count:
        by_key = np.argsort(earlier.keys, kind="stable")
        at = by_key[np.minimum(np.searchsorted(earlier.keys, hashed, sorter=by_key), len(by_key) - 1)]
        known = earlier.keys[at] == hashed
        nearest[known], nearest_keys[known] = earlier.nearest[at[known]], earlier.nearest_keys[at[known]]
        # A neighbour that left the sample (removed, or pushed out) leaves a hole only a full search
        # fills. Every kept neighbour was in the earlier sample: it left if it is not in this one.
        left = earlier.reference[~_held_in(earlier.reference, reference)]
        lost = _held_in(nearest_keys, left) & np.isfinite(nearest)
        redo = ~known | lost.any(axis=1)
        joined = reference_rows[~_held_in(reference, earlier.reference)]
        update = np.flatnonzero(~redo)
        if len(joined) and len(update):
            _merge_nearest(matrix, norms, groups, hashed, update, joined, nearest, nearest_keys, copy)
    if redo.any():
        rows = np.flatnonzero(redo)
        nearest[rows], nearest_keys[rows] = -np.inf, 0
        _merge_nearest(matrix, norms, groups, hashed, rows, reference_rows, nearest, nearest_keys, copy)
    hubness = np.where(np.isfinite(nearest), nearest, -1.0).mean(axis=1) if k else np.zeros(count)
    return Neighbourhoods(hubness.astype(np.float32), hashed, nearest, nearest_keys, np.sort(reference))


def _held_in(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Which of `values` are among `sorted_keys` (sorted): `np.isin`, without sorting them again."""
    at = np.minimum(np.searchsorted(sorted_keys, values), max(len(sorted_keys) - 1, 0))
    return sorted_keys[at] == values if len(sorted_keys) else np.zeros(values.shape, bool)


def _merge_nearest(matrix: np.ndarray, norms: np.ndarray, groups: np.ndarray, keys: np.ndarray, rows: np.ndarray,
                   candidates: np.ndarray, nearest: np.ndarray, nearest_keys: np.ndarray, copy: float) -> None:
    """Fold the `candidates` (row positions) into the nearest of each of `rows` (sorted), in place:
    rows of another group and not copies (cosine `copy` or more). `norms`: each row's of `matrix`."""
    k = nearest.shape[1]
    if not k or not len(candidates) or not len(rows):
        return
    reference = matrix[candidates]  # a copy: divided in place
    reference /= norms[candidates, None]
    reference_groups, reference_keys = groups[candidates], keys[candidates]
    # As many rows a block as keep its similarities to a few MB, however few the candidates.
    size = max(_BLOCK, _BLOCK_VALUES // len(candidates))
    for block, similarity in _row_similarities(matrix, rows, reference, size):
        similarity /= norms[block, None]
        similarity[(groups[block, None] == reference_groups[None, :]) | (similarity >= copy)] = -np.inf
        # Only rows with a candidate nearer than their farthest kept neighbour change: after an
        # add, a few of all the rows compared.
        gains = (similarity > nearest[block].min(axis=1)[:, None]).any(axis=1)
        if not gains.all():
            block, similarity = block[gains], similarity[gains]
        # The k best of the candidates, then of those and the k kept: no row-wide copy of the kept.
        if similarity.shape[1] > k:
            best = largest_columns(similarity, k)
        else:
            best = np.broadcast_to(np.arange(similarity.shape[1]), (len(block), similarity.shape[1]))
        joined = np.concatenate([nearest[block], np.take_along_axis(similarity, best, axis=1)], axis=1)
        owners = np.concatenate([nearest_keys[block], reference_keys[best]], axis=1)
        top = np.argpartition(joined, -k, axis=1)[:, -k:]
        nearest[block] = np.take_along_axis(joined, top, axis=1)
        nearest_keys[block] = np.take_along_axis(owners, top, axis=1)


def _row_similarities(matrix: np.ndarray, rows: np.ndarray, reference: np.ndarray, size: int):
    """(block, its rows of `matrix` times `reference`) for `rows` (sorted), `size` at a time. Where
    they are most of the matrix, it is read in place a slice at a time, not gathered row by row."""
    if 2 * len(rows) <= len(matrix):
        for at in range(0, len(rows), size):
            yield rows[at : at + size], matrix[rows[at : at + size]] @ reference.T
        return
    for start in range(0, len(matrix), size):
        lo, hi = np.searchsorted(rows, [start, start + size])
        if hi > lo:
            similarity = matrix[start : start + size] @ reference.T
            yield rows[lo:hi], similarity if hi - lo == len(similarity) else similarity[rows[lo:hi] - start]


def largest_columns(values: np.ndarray, k: int, per_set: int = 32) -> np.ndarray:
    """Each row's `k` largest values' columns (in no order), as `np.argpartition(values, -k)[:, -k:]`
    finds them, several times faster on wide rows; numpy has no faster top-k and torch's costs a
    second to import. The columns are split into strided sets of `per_set`: the k-th largest of the
    sets' maxima is at most the k-th largest value, so only the values at least that are ranked."""
    rows, width = values.shape
    sets = width // per_set
    if sets < 2 * k:
        return np.argpartition(values, -k, axis=1)[:, -k:]
    maxima = values[:, : sets * per_set].reshape(rows, per_set, sets).max(axis=1)
    if sets * per_set < width:
        maxima = np.concatenate([maxima, values[:, sets * per_set :].max(axis=1, keepdims=True)], axis=1)
    floor = np.partition(maxima, -k, axis=1)[:, -k]
    row, column = np.divmod(np.flatnonzero(values >= floor[:, None]), width)  # several times np.nonzero's speed in 2-D
    order = np.lexsort((-values[row, column], row))  # by row, largest first
    row, column = row[order], column[order]
    rank = np.arange(len(row)) - np.searchsorted(row, np.arange(rows))[row]
    kept = rank < k
    best = np.empty((rows, k), np.int64)
    best[row[kept], rank[kept]] = column[kept]
    return best


def mean_of_top(similarity: np.ndarray, k: int) -> np.ndarray:
    """Each row's mean of its `k` largest values (of all, in a row of fewer)."""
    k = min(k, similarity.shape[1])
    return np.partition(similarity, -k, axis=1)[:, -k:].mean(axis=1) if k else np.zeros(len(similarity))
