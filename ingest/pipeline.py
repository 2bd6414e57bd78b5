"""Turn files into embedded chunks in the store, skipping files that have not changed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ingest.chunking import split_into_chunks
from ingest.clean import find_content_spans
from ingest.embedder import Embedder
from ingest.errors import IngestInputError, UnreadableFileError
from ingest.language import detect_language
from ingest.readers import SUPPORTED_SUFFIXES, read_document
from ingest.settings import IngestSettings
from store import ChromaStore, Chunk, Document


@dataclass(frozen=True)
class IngestReport:
    """What one ingest run did."""

    documents_added: int = 0
    documents_unchanged: int = 0
    documents_failed: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    failures: tuple[tuple[str, str], ...] = field(default=())
    skipped: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict:
        """The summary object `ingest --json` prints."""
        return {
            "documents_added": self.documents_added,
            "documents_unchanged": self.documents_unchanged,
            "documents_failed": self.documents_failed,
            "chunks_embedded": self.chunks_embedded,
            "chunks_total": self.chunks_total,
            "failures": [{"path": path, "reason": reason} for path, reason in self.failures],
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
        }


def bundled_corpus() -> Path:
    """The folder of sample articles shipped with corpus-qa."""
    return Path(str(resources.files("ingest") / "corpus"))


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders into the files to ingest; report the ones skipped for their type.

    Raises:
        IngestInputError: a path does not exist.
    """
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise IngestInputError(f"no such file or folder: {given}")
        candidates = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.name.startswith("."):
                continue
            if candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(candidate.resolve())
            else:
                skipped.append((str(candidate), f"unsupported file type (supported: {', '.join(SUPPORTED_SUFFIXES)})"))
    return list(dict.fromkeys(files)), skipped


def make_chunks(doc_id: str, source: str, text: str, encoding: str, settings: IngestSettings) -> tuple[str, str, list[Chunk]]:
    """Clean and split a document's text; returns its title, language and chunks."""
    cleaned = find_content_spans(text)
    spans = split_into_chunks(text, cleaned.spans, settings.chunk_chars, settings.overlap_sentences)
    lang = detect_language("\n".join(text[s:e] for s, e in cleaned.spans))
    chunks = [
        Chunk(
            chunk_id=f"{doc_id}:{position}:{start}-{end}",
            doc_id=doc_id,
            text=text[start:end],
            start=start,
            end=end,
            position=position,
            source=source,
            title=cleaned.title,
            lang=lang,
            encoding=encoding,
        )
        for position, (start, end) in enumerate(spans)
    ]
    return cleaned.title, lang, chunks


def embedded_text(chunk: Chunk, settings: IngestSettings) -> str:
    """What gets embedded for a chunk: its text, with the title in front when configured and not already there."""
    if settings.embed_title and chunk.title and not chunk.text.startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


def ingest_paths(
    paths: Sequence[Path],
    store: ChromaStore,
    embedder: Embedder,
    settings: IngestSettings,
    progress: bool = True,
) -> IngestReport:
    """Ingest files and folders: unchanged files embed nothing, changed ones replace their chunks."""
    from tqdm import tqdm

    files, skipped = collect_files(paths)
    known = store.documents()
    by_source = {doc.source: doc for doc in known}
    taken_ids = {doc.doc_id: doc.source for doc in known}
    unchanged = 0
    failures: list[tuple[str, str]] = []
    batch = _PendingDocuments(store, embedder, settings)
    bar = tqdm(files, desc="ingest", unit="file", disable=not progress or None, dynamic_ncols=True)
    for path in bar:
        source = str(path)
        try:
            decoded = read_document(path, int(settings.max_file_mb * 1e6))
        except UnreadableFileError as exc:
            failures.append((source, str(exc)))
            continue
        previous = by_source.get(source)
        if previous and previous.content_hash == decoded.content_hash:
            unchanged += 1
            continue
        doc_id = previous.doc_id if previous else _free_doc_id(path, taken_ids)
        title, lang, chunks = make_chunks(doc_id, source, decoded.text, decoded.encoding, settings)
        if not chunks:
            failures.append((source, "no article text left after removing boilerplate"))
            continue
        taken_ids[doc_id] = source
        batch.add(Document(doc_id, source, decoded.content_hash, title, lang, decoded.encoding, len(chunks)), chunks)
        bar.set_postfix(chunks=batch.chunks_embedded + batch.pending_chunks)
    batch.flush()
    return IngestReport(
        documents_added=batch.documents_added,
        documents_unchanged=unchanged,
        documents_failed=len(failures),
        chunks_embedded=batch.chunks_embedded,
        chunks_total=store.chunk_count(),
        failures=tuple(failures),
        skipped=tuple(skipped),
    )


class _PendingDocuments:
    """Documents waiting to be embedded and written together: one store write per few hundred
    chunks instead of one per file, since each write has a fixed cost that small files can't hide."""

    def __init__(self, store: ChromaStore, embedder: Embedder, settings: IngestSettings):
        self._store, self._embedder, self._settings = store, embedder, settings
        self._items: list[tuple[Document, list[Chunk]]] = []
        self.pending_chunks = self.chunks_embedded = self.documents_added = 0

    def add(self, document: Document, chunks: list[Chunk]) -> None:
        self._items.append((document, chunks))
        self.pending_chunks += len(chunks)
        if self.pending_chunks >= self._settings.write_batch_chunks:
            self.flush()

    def flush(self) -> None:
        if not self._items:
            return
        texts = [embedded_text(c, self._settings) for _, chunks in self._items for c in chunks]
        vectors = _embed_in_batches(self._embedder, texts, self._settings.batch_size)
        items, offset = [], 0
        for document, chunks in self._items:
            items.append((document, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        self._store.put_documents(items)
        self.documents_added += len(self._items)
        self.chunks_embedded += self.pending_chunks
        self._items, self.pending_chunks = [], 0


def _free_doc_id(path: Path, taken: dict[str, str]) -> str:
    """The file's stem, or the stem plus a hash of its path when another file has that stem."""
    stem = path.stem
    if stem in taken and taken[stem] != str(path):
        return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    return stem


def _embed_in_batches(embedder: Embedder, texts: list[str], batch_size: int):
    import numpy as np

    parts = [embedder.embed_documents(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)
