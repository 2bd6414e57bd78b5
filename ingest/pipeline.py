"""Turn files into embedded chunks in the store, skipping files that have not changed."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from ingest.chunking import following_sentence_end, split_into_chunks
from ingest.clean import find_content_spans
from ingest.embedder import Embedder
from ingest.errors import IngestInputError, UnreadableFileError
from ingest.readers import DecodedFile, file_content_hash, read_document, supported_suffixes
from ingest.settings import IngestSettings
from ingest.text import detect_document_language, heading_text, one_line
from store import ChromaStore, Chunk, Document


@dataclass(frozen=True)
class IngestReport:
    """What one ingest run did."""

    documents_added: int = 0
    documents_updated: int = 0  # a file already in the store, changed (or split under another `preparation`)
    documents_unchanged: int = 0
    documents_failed: int = 0
    documents_renamed: int = 0
    documents_removed: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    failures: tuple[tuple[str, str], ...] = field(default=())
    skipped: tuple[tuple[str, str], ...] = field(default=())
    # Files ingested as read, with what their owner should know of it (see `DecodedFile.note`).
    notes: tuple[tuple[str, str], ...] = field(default=())
    # Per ingested file: (reason, first characters of the line) of each line cleaning left out.
    dropped: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = field(default=())
    # The manifest as this run left it, sorted by id: what the keyword index is brought in step with,
    # without reading it back (on a server, a request that grows with the corpus).
    documents: tuple[Document, ...] | None = None

    @property
    def changed(self) -> bool:
        """Whether the run changed what the store holds."""
        return bool(self.documents_added or self.documents_updated or self.documents_renamed or self.documents_removed)

    def to_json(self) -> dict:
        """The summary object `ingest --json` prints."""
        return {
            "documents_added": self.documents_added,
            "documents_updated": self.documents_updated,
            "documents_unchanged": self.documents_unchanged,
            "documents_failed": self.documents_failed,
            "documents_renamed": self.documents_renamed,
            "documents_removed": self.documents_removed,
            "chunks_embedded": self.chunks_embedded,
            "chunks_total": self.chunks_total,
            "failures": [{"path": path, "reason": reason} for path, reason in self.failures],
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "notes": [{"path": path, "note": note} for path, note in self.notes],
        }


def bundled_corpus() -> Path:
    """The folder of sample articles shipped with corpus-qa."""
    return Path(str(resources.files("ingest") / "corpus"))


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand folders into the files to ingest; report the ones skipped for their type.

    Inside a folder, hidden files and folders (".git", ".obsidian", ".trash", macOS's "._" files)
    are left out, and so are files of a type no reader reads. A file given by name is read even if
    hidden, and fails (rather than being skipped) if of such a type.

    Raises:
        IngestInputError: a path does not exist.
    """
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise IngestInputError(f"no such file or folder: {given}")
        if not os.access(path, os.R_OK):
            raise IngestInputError(f"cannot read {given}: permission denied")
        if not path.is_dir():
            files.append(path.resolve())
            continue
        for candidate in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
            if any(part.startswith(".") for part in candidate.relative_to(path).parts):
                continue
            candidate = candidate.absolute()  # every line names its file one way: in full
            unusable = _unusable_link(candidate)
            if unusable:
                skipped.append((str(candidate), unusable))
            elif candidate.suffix.lower() in supported_suffixes():
                files.append(candidate.resolve())
            else:
                skipped.append((str(candidate), f"unsupported file type (supported: {', '.join(supported_suffixes())})"))
    return list(dict.fromkeys(files)), skipped


def _unusable_link(path: Path) -> str | None:
    """Why a link inside a folder is not followed, or None for a file to read."""
    try:
        target = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link loop: it points back at itself"
        return "broken link: its target is missing"
    if stat.S_ISDIR(target.st_mode):
        return "a link to a folder, not followed: give the folder itself to ingest it"
    return None


@dataclass(frozen=True)
class PreparedDocument:
    """A document cleaned and split, ready to embed."""

    title: str
    lang: str
    chunks: list[Chunk]
    dropped: tuple[tuple[int, int, str], ...]


# Bumped whenever reading (HTML extraction), cleaning, sentence splitting or language detection changes
# what chunks a file gives.
PREPARATION_VERSION = 23
# The widest sentence a citation shows after its chunk (see `Chunk.following`), in display width as
# chunks are measured: as long as an answer may be.
_LONGEST_FOLLOWING = 300


def preparation(settings: IngestSettings) -> str:
    """What decides a file's chunks besides its bytes: an ingest under another one splits it again."""
    return (f"v{PREPARATION_VERSION}/{settings.chunk_chars}/{settings.overlap_sentences}"
            f"/{'title' if settings.embed_title else 'text'}")


def make_chunks(doc_id: str, source: str, decoded: DecodedFile, settings: IngestSettings) -> PreparedDocument:
    """Clean and split a document's text into chunks that are exact spans of it."""
    text = decoded.text
    cleaned = find_content_spans(text)
    spans = split_into_chunks(text, cleaned.spans, settings.chunk_chars, settings.overlap_sentences)
    title = heading_text(decoded.title) or cleaned.title
    lang = detect_document_language("\n".join(text[s:e] for s, e in cleaned.spans))
    span_starts = [s for s, _ in cleaned.spans]
    chunks = []
    for position, (start, end) in enumerate(spans):
        span_end = cleaned.spans[bisect_right(span_starts, start) - 1][1]  # the kept span the chunk lies in
        following = text[end : following_sentence_end(text, end, span_end, _LONGEST_FOLLOWING)]
        chunks.append(Chunk(
            chunk_id=f"{doc_id}:{position}:{start}-{end}",
            doc_id=doc_id,
            text=text[start:end],
            start=start,
            end=end,
            position=position,
            source=source,
            title=title,
            lang=lang,
            encoding=decoded.encoding,
            following=following,
            first_page=bisect_right(decoded.page_starts, start) if decoded.page_starts else 0,
            last_page=bisect_right(decoded.page_starts, end - 1) if decoded.page_starts else 0,
        ))
    return PreparedDocument(title, lang, chunks, cleaned.dropped)


def embedded_text(chunk: Chunk, settings: IngestSettings) -> str:
    """What gets embedded for a chunk: its text, with the title in front when configured and not already there."""
    if settings.embed_title and chunk.title and not heading_text(chunk.text).startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


def ingest_paths(
    paths: Sequence[Path],
    store: ChromaStore,
    embedder: Embedder,
    settings: IngestSettings,
    progress: bool = True,
    prune: bool = False,
    on_written: Callable[[Sequence[tuple[Document, Sequence[Chunk], Sequence[Sequence[float]]]]], None] | None = None,
) -> IngestReport:
    """Ingest files and folders: unchanged files embed nothing, changed ones (or ones split under
    another `preparation`) replace their chunks, renamed ones keep their vectors; with `prune`,
    documents whose files are gone are removed.

    `on_written` is called with each batch of (document, chunks, vectors) the store has written:
    what a caller derives from them needs no reading back."""
    files, skipped = collect_files(paths)
    known = store.documents()
    manifest = {doc.doc_id: doc for doc in known}
    by_source = {doc.source: doc for doc in known}
    by_hash: dict[str, list[Document]] = {}
    for doc in known:
        by_hash.setdefault(doc.content_hash, []).append(doc)
    taken_ids = {doc.doc_id: doc.source for doc in known}
    unchanged = renamed = removed = 0
    prepared_with = preparation(settings)
    failures: list[tuple[str, str]] = []
    dropped: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    notes: list[tuple[str, str]] = []
    batch = _PendingDocuments(store, embedder, settings, on_written)
    for n, path in enumerate(_progress(files, progress, batch), 1):
        source = str(path)
        try:
            _check_name(source)
            decoded = read_document(path, settings.max_file_bytes)
        except UnreadableFileError as exc:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")  # `source` itself, for a UTF-8 name
            forgotten = _forget_if_changed(store, manifest, by_source.get(source), file_content_hash(path))
            removed += bool(forgotten)
            reason = f"{exc}{forgotten}"
            failures.append((shown, reason))
            _plain_line(progress, f"[{n}/{len(files)}] failed {shown}: {reason}")
            continue
        previous = by_source.get(source)
        if previous and previous.content_hash == decoded.content_hash and previous.prepared == prepared_with:
            unchanged += 1
            continue
        moved = _claim_vanished(by_hash, decoded.content_hash) if previous is None else None
        if moved is not None:
            store.move_document(moved, source)
            manifest[moved.doc_id] = replace(moved, source=source)
            renamed += 1
            _plain_line(progress, f"[{n}/{len(files)}] renamed {moved.source} -> {source}")
            if moved.prepared == prepared_with:
                continue
            previous = moved  # and split anew, below
        doc_id = previous.doc_id if previous else _free_doc_id(path, taken_ids)
        prepared = make_chunks(doc_id, source, decoded, settings)
        dropped.append((source, tuple((reason, line[:60]) for reason, line in decoded.left_out)
                        + tuple((reason, decoded.text[s:e].strip()[:60]) for s, e, reason in prepared.dropped)))
        if not prepared.chunks:
            forgotten = _forget_if_changed(store, manifest, previous, decoded.content_hash)
            removed += bool(forgotten)
            failures.append((source, f"no article text left after removing boilerplate{forgotten}"))
            continue
        taken_ids[doc_id] = source
        manifest[doc_id] = Document(doc_id, source, decoded.content_hash, prepared.title, prepared.lang,
                                    decoded.encoding, len(prepared.chunks), prepared_with)
        batch.add(manifest[doc_id], prepared.chunks, replaces=previous is not None)
        if decoded.note:
            notes.append((source, decoded.note))
        _plain_line(progress, f"[{n}/{len(files)}] {source}: {len(prepared.chunks)} chunks")
    batch.flush()
    if prune:
        for doc in list(manifest.values()):
            if not Path(doc.source).exists():
                store.remove_document(doc.doc_id)
                del manifest[doc.doc_id]
                removed += 1
    return IngestReport(
        documents_added=batch.documents_added,
        documents_updated=batch.documents_updated,
        documents_unchanged=unchanged,
        documents_failed=len(failures),
        documents_renamed=renamed,
        documents_removed=removed,
        chunks_embedded=batch.chunks_embedded,
        chunks_total=store.chunk_count(),
        failures=tuple(failures),
        skipped=tuple(skipped),
        notes=tuple(notes),
        dropped=tuple(dropped),
        documents=tuple(sorted(manifest.values(), key=lambda d: d.doc_id)),
    )


def _progress(files: list[Path], progress: bool, batch: _PendingDocuments):
    """A progress bar (files, chunks, rate, ETA) on a terminal; elsewhere the files as they are."""
    if not (progress and sys.stderr.isatty()):
        return files
    from tqdm import tqdm

    bar = tqdm(files, desc="ingest", unit="file", dynamic_ncols=True)
    batch.on_progress = lambda chunks: bar.set_postfix(chunks=chunks)
    return bar


def _plain_line(progress: bool, line: str) -> None:
    """One line per file on stderr when it is not a terminal (CI logs, pipes); the bar says it otherwise."""
    if progress and not sys.stderr.isatty():
        print(one_line(line), file=sys.stderr, flush=True)


class _PendingDocuments:
    """Documents waiting to be embedded and written together: one store write per few hundred
    chunks instead of one per file, since each write has a fixed cost that small files can't hide."""

    def __init__(self, store: ChromaStore, embedder: Embedder, settings: IngestSettings, on_written=None):
        self._store, self._embedder, self._settings = store, embedder, settings
        self._on_written = on_written or (lambda written: None)
        self._items: list[tuple[Document, list[Chunk]]] = []
        self._replacing = 0  # of `_items`, those replacing a document's earlier chunks
        self.pending_chunks = self.chunks_embedded = self.documents_added = self.documents_updated = 0
        self.on_progress = lambda chunks: None

    def add(self, document: Document, chunks: list[Chunk], replaces: bool = False) -> None:
        self._items.append((document, chunks))
        self._replacing += replaces
        self.pending_chunks += len(chunks)
        self.on_progress(self.chunks_embedded + self.pending_chunks)
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
        self._on_written(items)
        self.documents_added += len(self._items) - self._replacing
        self.documents_updated += self._replacing
        self.chunks_embedded += self.pending_chunks
        self._items, self.pending_chunks, self._replacing = [], 0, 0


def _claim_vanished(by_hash: dict[str, list[Document]], content_hash: str) -> Document | None:
    """The document of these bytes whose file is gone, if any: a new path holding them is that
    file, renamed. Each content is claimed once; only its own documents' files are looked for."""
    gone = [doc for doc in by_hash.pop(content_hash, ()) if not Path(doc.source).exists()]
    return gone[-1] if gone else None


def _forget_if_changed(store: ChromaStore, manifest: dict[str, Document], stored: Document | None,
                       content_hash: str | None) -> str:
    """Remove `stored` (the document a file that now fails was ingested as) when the file's bytes
    (`content_hash`, None when they cannot be read) changed since: its chunks would cite text the
    file no longer holds. What to add to the failure's reason: nothing when it stays (unchanged,
    or unreadable, so not known to have changed)."""
    if stored is None or stored.doc_id not in manifest or content_hash in (None, stored.content_hash):
        return ""
    store.remove_document(stored.doc_id)
    del manifest[stored.doc_id]
    return "; the version ingested before is removed, so no answer cites text the file no longer holds"


def _check_name(source: str) -> None:
    """The store keeps names as UTF-8 text: another name would fail the whole write batch."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, kept as surrogates by os.fsdecode
        raise UnreadableFileError("its name is not UTF-8 text: rename the file (e.g. with `convmv`)") from None


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
