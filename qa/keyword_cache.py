"""The keyword index on disk, kept in step with the store by every process that reads it.

Three kinds of files, in the cache dir, for each collection:
- `keywords-<key>.pkl`: the index itself (`qa.keywords.KeywordIndex`), rewritten at each change;
- `records-<key>/`: the documents' records (`IndexedDocument`), in segments (`RecordSegment`):
  a change writes a segment of the records it made, read back only to change the index;
- `words-<key>/`: the word vectors, in segments (`WordSegment`): a change writes the vectors of
  its new words, not all of them again.
A reader sees the index file of before a write or after it (it is replaced whole), and any file
it names that another process removed meanwhile is measured again, not trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.cache import read_cached, write_cached
from qa.hubness import passage_hubness
from qa.keywords import INDEX_FORMAT, IndexedDocument, KeywordIndex, built_with
from qa.lexicon import Lexicon
from store import Chunk, Document, fingerprint_of


@dataclass(frozen=True)
class WordSegment:
    """One file of word vectors: `words`' vectors, in that order, as one float32 array."""

    name: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class RecordSegment:
    """One file of records: those of `versions` ((document id, version) pairs), in that order."""

    name: str
    versions: tuple[tuple[str, tuple[str, str]], ...]


def load_keyword_index(store, cache_dir: Path, embedder=None, documents: Sequence[Document] | None = None,
                       lexicon: Lexicon | None = None, shared_cache: Path | None = None,
                       current: KeywordIndex | None = None,
                       fresh: Mapping[str, IndexedDocument] | None = None) -> KeywordIndex:
    """The keyword index of the store's current contents: from the disk cache, else brought in step and cached.

    With an embedder, the index also holds the vector of each indexed word (see `TermVectors`).
    With a lexicon, its words also match their dictionary translations (see `held_translations`).
    The same pass over the store measures how each language's vectors spread (see `LanguageSpread`;
    with an embedder, its bias too, once per `shared_cache`) and how generic each chunk is (see
    `qa.hubness`).
    `documents`: the store's, when the caller has just read them (on a server it is a request).
    `current`: this process's index, brought in step from where it is, without reading the disk,
    when it is still the one on disk (no other process has changed it since).
    `fresh`: records of documents just written, made from the chunks in hand (see `read_records`):
    those of the current versions are not read back from the store.
    """
    documents = store.documents() if documents is None else documents
    fingerprint = fingerprint_of(documents)
    files = _Files(Path(cache_dir), store.collection_key)
    previous = current if current is not None and current.stamp is not None and current.stamp == files.stamp() else None
    from_disk = previous is None
    previous = files.read_index() if from_disk else previous
    same_format = getattr(previous, "format", None) == INDEX_FORMAT
    if same_format and previous.fingerprint == fingerprint and (embedder is None or previous.term_vectors is not None):
        if from_disk and embedder is not None:
            previous.languages.measure_bias(embedder, shared_cache)  # not in the file: the shared cache has it
        previous.lexicon = lexicon
        return previous
    # Otherwise brought in step from each document's record, read from the store only where the
    # document changed since the last build; the last build's word vectors and neighbourhoods are
    # reused (not its languages' bias: the new index measures its own).
    kept, complete = files.kept_records(previous) if same_format else ({}, False)
    indexed = _indexed_documents(store, documents, kept, fresh or {})
    # Without every earlier record, what the last build counted cannot be taken away from: counted afresh.
    index = KeywordIndex(fingerprint, indexed, previous if complete else None)
    ids, langs = index.chunk_ids, [lang for d in indexed.values() for lang in d.langs]
    doc_numbers = np.repeat(np.arange(len(indexed)), [len(d.chunk_ids) for d in indexed.values()])
    matrix = (np.concatenate([d.vectors for d in indexed.values()]) if indexed
              else np.zeros((0, store.dimension), np.float32))
    if embedder is not None:
        index.languages.measure_bias(embedder, shared_cache)
    else:
        index.languages.finish()
    keys = np.concatenate([d.keys for d in indexed.values()]) if indexed else np.zeros(0, np.uint64)
    index.neighbourhoods = passage_hubness(matrix, keys, doc_numbers, langs,
                                           earlier=previous.neighbourhoods if same_format else None)
    generic = np.flatnonzero(index.neighbourhoods.hubness > 0)
    index.hubness = dict(zip([ids[i] for i in generic], index.neighbourhoods.hubness[generic].tolist()))
    earlier = previous if same_format and getattr(previous, "term_vectors", None) is not None else None
    if embedder is not None:
        fresh = index.embed_terms(embedder, earlier)
        index.word_segments = files.write_word_segments(index, earlier.word_segments if earlier else [], fresh)
    # Records and word vectors first: an index on disk names only files already there.
    # The last build's segments hold the records kept, when all were read; else all are written anew.
    earlier_records = previous.record_segments if same_format and complete else []
    index.record_segments = files.write_record_segments(
        index, earlier_records,
        [doc_id for doc_id, record in indexed.items() if not earlier_records or kept.get(doc_id) is not record])
    write_cached(files.index, index)
    index.stamp = files.stamp()
    # A process's first change sweeps every file no index names (a build killed before writing
    # its index leaves some); later ones remove only what the last build named and this one does not.
    files.remove_unnamed(index, previous if same_format and getattr(previous, "swept", False) else None)
    index.swept = True
    index.lexicon = lexicon
    return index


def read_records(written: Iterable[tuple[Document, Sequence[Chunk], Sequence]]) -> dict[str, IndexedDocument]:
    """The records of documents from their chunks and vectors in hand, as `ingest_paths` writes them."""
    return {document.doc_id: IndexedDocument.read(_version(document), list(zip(chunks, vectors)))
            for document, chunks, vectors in written}


def _version(document: Document) -> tuple[str, str]:
    return document.content_hash, document.prepared


def _indexed_documents(store, documents: Sequence[Document], kept: Mapping[str, IndexedDocument],
                       fresh: Mapping[str, IndexedDocument]) -> dict[str, IndexedDocument]:
    """Every document as the index reads it: from `kept` (the last build's) where the document has
    not changed since, or from `fresh`, else read from the store and tokenised."""
    versions = {d.doc_id: _version(d) for d in documents}
    found = {}
    for doc_id, version in versions.items():
        for records in (kept, fresh):
            if doc_id in records and records[doc_id].version == version:
                found[doc_id] = records[doc_id]
                break
    missing = [doc_id for doc_id in versions if doc_id not in found]
    chunks_of: dict[str, list] = {doc_id: [] for doc_id in missing}
    for chunk, vector in store.document_chunks(missing):
        chunks_of[chunk.doc_id].append((chunk, vector))
    found.update({doc_id: IndexedDocument.read(versions[doc_id], chunks) for doc_id, chunks in chunks_of.items()})
    return {doc_id: found[doc_id] for doc_id in versions if found[doc_id].chunk_ids}


class _Files:
    """Where one collection's keyword index lives in a cache dir (see the module's docstring)."""

    def __init__(self, cache_dir: Path, collection_key: str):
        self.cache_dir = cache_dir
        self.index = cache_dir / f"keywords-{collection_key}.pkl"
        self.records = cache_dir / f"records-{collection_key}"
        self.words = cache_dir / f"words-{collection_key}"

    def stamp(self) -> tuple | None:
        """What tells one write of the index file from another (each replaces it: a new inode)."""
        try:
            found = self.index.stat()
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_size

    def read_index(self) -> KeywordIndex | None:
        """The index on disk, with its word vectors, or None when there is none this code can build on."""
        stamp = self.stamp()
        index = read_cached(self.index)
        if not isinstance(index, KeywordIndex):
            return None
        if getattr(index, "built_with", None) != built_with():
            logging.getLogger(__name__).warning(
                "rebuilding the keyword index in %s: it was built with %s, this is %s",
                self.cache_dir, getattr(index, "built_with", "older code"), built_with())
            return None
        index.stamp = stamp
        if getattr(index, "format", None) != INDEX_FORMAT:  # the next build reads every chunk again: say why it waits
            logging.getLogger(__name__).warning(
                "rebuilding the keyword index in %s: it was written by another version of corpus-qa "
                "(index format %s; this one reads %s)", self.cache_dir, getattr(index, "format", "unknown"), INDEX_FORMAT)
        elif index.term_vectors is not None:
            stored = index.term_vectors
            stored.vectors = self._word_vectors(index.word_segments, stored.words, stored.vectors.shape[1])
            if index.term_vectors.vectors is None:  # a segment gone: the words are embedded again
                index.term_vectors, index.word_segments = None, []
        return index

    def kept_records(self, previous: KeywordIndex) -> tuple[dict[str, IndexedDocument], bool]:
        """The records of the documents `previous` was built from, in memory or read from their
        segments, and whether all of them were there (another process may have removed a segment
        it superseded)."""
        if previous.records is not None:
            return previous.records, True
        records = {}
        for segment in previous.record_segments:
            found = read_cached(self.records / segment.name)
            if not isinstance(found, list) or len(found) != len(segment.versions):
                continue
            for record, (doc_id, version) in zip(found, segment.versions):
                if isinstance(record, IndexedDocument) and previous.record_versions.get(doc_id) == version == record.version:
                    records[doc_id] = record
        previous.records = records  # kept for the next build (answering never reads them)
        return records, len(records) == len(previous.record_versions)

    def write_record_segments(self, index: KeywordIndex, earlier: list[RecordSegment],
                              fresh: list[str]) -> list[RecordSegment]:
        """The segments that hold the record of every document of `index`: the `earlier` ones plus
        one of the `fresh` documents' (see `_segments` for how they merge)."""
        live = set(index.record_versions.items())

        def write(versions: list) -> RecordSegment:
            return self._write_records([entry for entry in versions if entry in live], index)

        fresh_versions = [(doc_id, index.record_versions[doc_id]) for doc_id in fresh]
        return _segments(earlier, fresh_versions, lambda segment: segment.versions, write, self.records)

    def _write_records(self, versions: list[tuple[str, tuple[str, str]]], index: KeywordIndex) -> RecordSegment:
        # Named by what it holds: the same document versions, as this code and these libraries read
        # them, are the same records, whoever writes them.
        named = json.dumps([INDEX_FORMAT, built_with(), versions], sort_keys=True, ensure_ascii=False)
        name = hashlib.blake2b(named.encode(), digest_size=16).hexdigest() + ".pkl"
        write_cached(self.records / name, [index.records[doc_id] for doc_id, _ in versions])
        return RecordSegment(name, tuple((doc_id, tuple(version)) for doc_id, version in versions))

    def write_word_segments(self, index: KeywordIndex, earlier: list[WordSegment],
                            fresh: list[str]) -> list[WordSegment]:
        """The segments that hold the vectors of every word of `index`: the `earlier` ones plus one
        of the `fresh` words (see `_segments` for how they merge)."""
        vectors = index.term_vectors
        row_of = {word: row for row, word in enumerate(vectors.words)}

        def write(words: list[str]) -> WordSegment:
            return self._write_segment(list(dict.fromkeys(w for w in words if w in row_of)), vectors.vectors, row_of)

        return _segments(earlier, fresh, lambda segment: segment.words, write, self.words)

    def _write_segment(self, words: list[str], vectors: np.ndarray, row_of: dict[str, int]) -> WordSegment:
        # Named by its words: the same words of one embedder are the same vectors, whoever writes them.
        name = hashlib.blake2b(json.dumps(words, ensure_ascii=False).encode(), digest_size=16).hexdigest() + ".pkl"
        write_cached(self.words / name, vectors[[row_of[w] for w in words]])
        return WordSegment(name, tuple(words))

    def _word_vectors(self, segments: list[WordSegment], words: list[str], dimension: int) -> np.ndarray | None:
        """The vectors of `words`, from the segments; None when one is missing or does not fit."""
        parts, names = [np.zeros((0, dimension), np.float32)], []  # no words (an empty store): no rows
        for segment in segments:
            part = read_cached(self.words / segment.name)
            if not isinstance(part, np.ndarray) or part.shape != (len(segment.words), dimension):
                return None
            parts.append(part)
            names += segment.words
        row_of = {word: row for row, word in enumerate(names)}
        if any(word not in row_of for word in words):
            return None
        return np.concatenate(parts)[np.array([row_of[w] for w in words], np.int64)]

    def remove_unnamed(self, index: KeywordIndex, previous: KeywordIndex | None) -> None:
        """Remove the record and segment files `index` does not name: those `previous` named, or,
        built without one, every other (left by older code, or by an index since replaced)."""
        segments = {segment.name for segment in index.word_segments}
        records = {segment.name for segment in index.record_segments}
        if previous is not None:
            unnamed = [self.records / s.name for s in previous.record_segments if s.name not in records]
            unnamed += [self.words / s.name for s in previous.word_segments if s.name not in segments]
        else:
            unnamed = [p for p in self.records.glob("*.pkl") if p.name not in records]
            unnamed += [p for p in self.words.glob("*.pkl") if p.name not in segments]
        for path in unnamed:
            path.unlink(missing_ok=True)


def _segments(earlier: list, fresh: list, held, write, folder: Path) -> list:
    """Segments after a change: the `earlier` ones plus one `write` of the `fresh` entries, the
    last two merged (`write` of what both hold, `held(segment)`) while the last is at least half
    the one before. So segments shrink geometrically: a few files, and each entry rewritten a few
    times over the index's life, not at every change. Files written and merged away are removed."""
    segments = list(earlier) + ([write(list(fresh))] if fresh else [])
    written = set(segments[len(earlier):])
    while len(segments) > 1 and 2 * len(held(segments[-1])) >= len(held(segments[-2])):
        segments[-2:] = [write([entry for segment in segments[-2:] for entry in held(segment)])]
        written.add(segments[-1])
    kept = [segment for segment in segments if held(segment)]  # a merge of entries all gone holds none
    for segment in written - set(kept) - set(earlier):  # merged or emptied as soon as written: no index names it
        (folder / segment.name).unlink(missing_ok=True)
    return kept
