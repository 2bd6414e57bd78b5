"""Chunks, vectors and the document manifest in Chroma, through llama-index's Chroma vector store."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, replace
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

from store.errors import IndexMismatchError, StoreError, StoreFolderError, StoreUnavailableError
from store.records import Chunk, Document, Passage
from store.settings import StoreSettings

# Metadata keys a chunk keeps in Chroma besides llama-index's own.
_CHUNK_KEYS = ("doc_id", "start", "end", "position", "source", "title", "lang", "encoding", "following",
               "first_page", "last_page")
# What a chunk stored before a key existed reads as (the next ingest stores it).
_CHUNK_DEFAULTS = {"following": "", "first_page": 0, "last_page": 0}
# The metadata key of a chunk's text. Not Chroma's document: Chroma indexes every document's
# trigrams for full-text search, which nothing here asks for and which doubled the cost of a write.
_TEXT = "text"
# Seconds a manifest read is trusted while the count of writes stays the same: a writer of older
# code counts nothing, and is seen within this time.
_MANIFEST_TRUSTED_S = 60.0


@dataclass(frozen=True)
class _Manifest:
    """The manifest as read (or as this process's own write left it), and the count of writes then."""

    writes: int
    documents: tuple[Document, ...]
    read_at: float


class _LocalFolder:
    """The embedded Chroma client of one folder in this process, kept in step with other processes.

    Chroma's embedded client caches its vector index in memory and never sees another process's
    writes: a reader then fails with "Error finding id" until restarted (chroma-core/chroma#3792).
    So every write takes an exclusive lock on the folder and leaves a new generation mark, and
    every read takes a shared lock and first reopens the client if the mark moved.
    """

    _LOCK, _MARK = "corpus-qa.lock", "corpus-qa.generation"

    def __init__(self, path: Path):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder should be, or no permission
            raise StoreFolderError(f"cannot make the store's folder {path} ({exc.strerror}): set CORPUS_QA_DATA_DIR "
                             "(or --data-dir) to a folder you can write") from exc
        self.path = path
        self.opened = 0  # how many times the client was (re)opened: collections fetched before are stale
        self._held = threading.local()  # this thread's lock depth, so that nested calls don't lock again
        self._reopening = threading.Lock()
        self.client = self._open()
        self._seen = self._mark()

    def _open(self):
        import chromadb
        from chromadb.config import Settings

        try:
            client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
        except Exception as exc:  # chromadb raises plain exceptions for unusable folders
            raise StoreError(f"cannot open the Chroma store at {self.path}: {exc}") from exc
        self.opened += 1
        return client

    def _mark(self) -> tuple[int, int] | None:
        try:
            stat = (self.path / self._MARK).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _catch_up(self) -> None:
        """Reopen the client if another process wrote since it last looked: its caches are stale."""
        with self._reopening:  # two threads that both saw the mark move reopen once
            mark = self._mark()
            if mark != self._seen:
                self.client.close()
                self.client = self._open()
                self._seen = mark

    @contextlib.contextmanager
    def access(self, write: bool):
        """Hold the folder's lock (exclusive to write) with a client that has seen every earlier write."""
        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        fd = os.open(self.path / self._LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            if self._mark() != self._seen:
                self._catch_up()
            if write:
                # Marked before writing: a writer killed midway still sends readers back to the disk.
                mark = self.path / self._MARK
                tmp = mark.with_name(f"{mark.name}.{os.getpid()}")
                tmp.write_text(f"{os.getpid()} {time.time_ns()}\n")
                os.replace(tmp, mark)
                self._seen = self._mark()
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
        finally:
            os.close(fd)  # closing the descriptor releases the lock


@functools.cache
def _local_folder(path: str) -> _LocalFolder:
    """One embedded client per folder and process: Chroma refuses two on one folder."""
    return _LocalFolder(Path(path))


@functools.cache
def _http_client(url: str, token: str | None, tenant: str, database: str):
    """One HTTP client per server and process."""
    import chromadb
    from chromadb.config import Settings

    parsed = urlparse(url)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            headers=headers,
            tenant=tenant,
            database=database,
            settings=Settings(anonymized_telemetry=False),
        )
    except Exception as exc:  # chromadb raises ValueError("Could not connect ...") and friends
        raise StoreUnavailableError(f"cannot reach the Chroma server at {url}: {exc}") from exc


def _is_connection_error(exc: Exception) -> bool:
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError)) or "could not connect" in str(exc).lower()


@contextlib.contextmanager
def _connection_errors(message: str):
    """Re-raise a lost or refused connection as StoreUnavailableError(message: cause)."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if _is_connection_error(exc):
            raise StoreUnavailableError(f"{message}: {exc}") from exc
        raise


def _store_call(write: bool):
    """A store method's access: under the folder's lock in embedded mode, on collections that have
    seen every write; a lost server connection re-raised as StoreUnavailableError naming it."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with _connection_errors(f"lost the Chroma server at {self.location}"):
                if self._folder is None:
                    return method(self, *args, **kwargs)
                with self._folder.access(write):
                    self._attach()
                    return method(self, *args, **kwargs)

        return wrapper

    return decorate


_reads, _writes = _store_call(write=False), _store_call(write=True)


def fingerprint_of(documents: Sequence[Document]) -> str:
    """A hash of a manifest's ids, content hashes and how each document was split."""
    pairs = sorted(f"{d.doc_id}={d.content_hash}/{d.prepared}" for d in documents)
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def collection_key(embedder_name: str) -> str:
    """A Chroma-safe collection suffix naming one embedder, so vectors of two models never mix."""
    key = re.sub(r"[^a-zA-Z0-9._-]+", "-", embedder_name).strip("-._")
    return key[:200] or "default"


class ChromaStore:
    """The chunks of one embedder, and the manifest of the documents they came from."""

    def __init__(self, client, location: str, embedder_name: str, dimension: int, folder: _LocalFolder | None = None):
        self.location = location
        self.embedder_name = embedder_name
        self.dimension = dimension
        self.collection_key = collection_key(embedder_name)
        self._folder = folder  # the embedded store's folder; None for a server
        self._client, self._opened = client, 0
        self._manifest: _Manifest | None = None
        if folder is None:
            self._fetch_collections(client)
        else:
            with folder.access(write=False):
                self._attach()

    def _attach(self) -> None:
        """Fetch the collections again if the folder's client was reopened since they were fetched."""
        if self._folder is not None and self._opened != self._folder.opened:
            self._fetch_collections(self._folder.client)
            self._opened = self._folder.opened

    def _fetch_collections(self, client) -> None:
        key, dimension = self.collection_key, self.dimension
        self._chunks = client.get_or_create_collection(
            f"chunks-{key}",
            metadata={"hnsw:space": "cosine", "embedder": self.embedder_name, "dimension": dimension},
            embedding_function=None,
        )
        stored_dimension = (self._chunks.metadata or {}).get("dimension")
        if stored_dimension is not None and stored_dimension != dimension:
            raise IndexMismatchError(
                f"the index for embedder {self.embedder_name!r} at {self.location} holds {stored_dimension}-dim "
                f"vectors but the embedder now gives {dimension}; remove that data dir or pick another"
            )
        # The manifest needs no vectors; Chroma wants one, so each entry gets a constant 1-dim one.
        self._documents = client.get_or_create_collection(f"documents-{key}", embedding_function=None)
        # One entry per write, added after it: a reader reads the manifest again only when there
        # are more than when it last did (a count, not thousands of entries).
        self._write_log = client.get_or_create_collection(f"writes-{key}", embedding_function=None)
        self._vectors = None  # made on first use (`_vector_store`)
        self._max_batch = client.get_max_batch_size()

    def _vector_store(self):
        """llama-index's view of the chunks collection, made when first written: importing
        llama-index takes about a second that reading and searching need not pay."""
        if self._vectors is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vectors = ChromaVectorStore(chroma_collection=self._chunks)
        return self._vectors

    def warm(self) -> None:
        """Make now what the first write would wait for (see `_vector_store`)."""
        self._vector_store()

    @_reads
    def documents(self) -> list[Document]:
        """Every document in the manifest, sorted by id: read again only when a write was counted
        since (in any process), or `_MANIFEST_TRUSTED_S` passed."""
        writes, known = self._write_log.count(), self._manifest
        if known is not None and known.writes == writes and time.monotonic() - known.read_at < _MANIFEST_TRUSTED_S:
            return list(known.documents)
        got = self._documents.get(include=["metadatas"])
        docs = sorted((_document_from_metadata(doc_id, meta) for doc_id, meta in zip(got["ids"], got["metadatas"])),
                      key=lambda d: d.doc_id)
        self._manifest = _Manifest(writes, tuple(docs), time.monotonic())
        return docs

    def _count_write(self, written: Sequence[Document] = (), removed: Sequence[str] = ()) -> None:
        """Count a write, once its data is in; when it is the only write since the manifest was
        read, bring the manifest held in step, without reading it again."""
        known = self._manifest
        self._write_log.add(ids=[uuid.uuid4().hex], embeddings=[[1.0]])
        if known is None or self._write_log.count() != known.writes + 1:
            self._manifest = None  # another process wrote too: read it all next time
            return
        docs = {d.doc_id: d for d in known.documents}
        docs.update((d.doc_id, d) for d in written)
        for doc_id in removed:
            docs.pop(doc_id, None)
        self._manifest = _Manifest(known.writes + 1, tuple(sorted(docs.values(), key=lambda d: d.doc_id)),
                                   known.read_at)

    def iter_chunks(self, page: int = 1000) -> Iterator[tuple[Chunk, list[float]]]:
        """Every stored chunk with its vector, a page at a time."""
        offset = 0
        while True:
            pairs = self._chunk_page(offset, page)
            yield from pairs
            if len(pairs) < page:
                return
            offset += page

    @_reads
    def _chunk_page(self, offset: int, limit: int) -> list[tuple[Chunk, list[float]]]:
        return _chunks_with_vectors(self._chunks.get(include=_CHUNK_FIELDS, limit=limit, offset=offset))

    @_reads
    def get_chunks(self, chunk_ids: Sequence[str]) -> list[tuple[Chunk, list[float]]]:
        """Chunks by id, with their stored vectors, in the order asked (missing ids left out)."""
        if not chunk_ids:
            return []
        found = {c.chunk_id: (c, v) for c, v in _chunks_with_vectors(self._chunks.get(ids=list(chunk_ids),
                                                                                      include=_CHUNK_FIELDS))}
        return [found[c] for c in chunk_ids if c in found]

    @_reads
    def document_chunks(self, doc_ids: Sequence[str]) -> list[tuple[Chunk, list[float]]]:
        """The chunks of these documents with their stored vectors: by document, in the order asked,
        then by position."""
        found = []
        for at in range(0, len(doc_ids), 100):  # a hundred ids to a request, as a server takes them
            found += _chunks_with_vectors(self._chunks.get(where={"doc_id": {"$in": list(doc_ids[at : at + 100])}},
                                                           include=_CHUNK_FIELDS))
        order = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        return sorted(found, key=lambda pair: (order[pair[0].doc_id], pair[0].position))

    @_reads
    def chunk_count(self) -> int:
        """How many chunks are stored."""
        return self._chunks.count()

    @_writes
    def put_documents(self, items: Sequence[tuple[Document, Sequence[Chunk], Sequence[Sequence[float]]]]) -> None:
        """Replace the chunks of several documents, then record them in the manifest.

        The manifest entries are written last, so a crash in between leaves those documents
        looking changed and the next ingest redoes them; chunk ids are deterministic, so
        redoing is idempotent.
        """
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        if not items:
            return
        nodes = []
        for document, chunks, embeddings in items:
            if len(chunks) != len(embeddings):
                raise ValueError(f"{document.doc_id}: {len(chunks)} chunks but {len(embeddings)} embeddings")
            for chunk, embedding in zip(chunks, embeddings):
                node = TextNode(
                    id_=chunk.chunk_id,
                    start_char_idx=chunk.start,
                    end_char_idx=chunk.end,
                    embedding=embedding.tolist() if hasattr(embedding, "tolist") else [float(x) for x in embedding],
                    metadata={**{key: getattr(chunk, key) for key in _CHUNK_KEYS}, _TEXT: chunk.text},
                )
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=chunk.doc_id)
                nodes.append(node)
        self._chunks.delete(where={"doc_id": {"$in": [document.doc_id for document, _, _ in items]}})
        for i in range(0, len(nodes), self._max_batch):
            self._vector_store().add(nodes[i : i + self._max_batch])
        self._documents.upsert(
            ids=[document.doc_id for document, _, _ in items],
            embeddings=[[1.0]] * len(items),
            metadatas=[_document_metadata(document) for document, _, _ in items],
            documents=[document.source for document, _, _ in items],
        )
        self._count_write(written=[document for document, _, _ in items])

    @_writes
    def move_document(self, document: Document, source: str) -> None:
        """Record that a document's file moved: its chunks get the new source, keeping their vectors."""
        pairs = self.get_chunks(self._chunks.get(where={"doc_id": document.doc_id}, include=[])["ids"])
        chunks = [replace(chunk, source=source) for chunk, _ in pairs]
        self.put_documents([(replace(document, source=source), chunks, [vector for _, vector in pairs])])

    @_writes
    def remove_document(self, doc_id: str) -> None:
        """Forget a document: its manifest entry first, then its chunks."""
        self._documents.delete(ids=[doc_id])
        self._chunks.delete(where={"doc_id": doc_id})
        self._count_write(removed=[doc_id])

    @_reads
    def search(self, embedding: Sequence[float], k: int, lang: str | None = None) -> list[Passage]:
        """The k chunks nearest to a query vector, best first; only chunks in `lang` when given."""
        if k <= 0:  # an empty collection needs no guard: Chroma answers it with no results
            return []
        # Asked of Chroma itself: llama-index's query would only translate it, and importing it
        # costs every process that answers a second.
        got = self._chunks.query(query_embeddings=[[float(x) for x in embedding]], n_results=k,
                                 where={"lang": lang} if lang else None,
                                 include=["documents", "metadatas", "distances"])
        # Chroma's cosine distance is 1 - cosine.
        return [
            Passage(chunk=_chunk_of(chunk_id, document, meta), score=1.0 - distance)
            for chunk_id, document, meta, distance in zip(got["ids"][0], got["documents"][0], got["metadatas"][0],
                                                          got["distances"][0])
        ]


def _chunk_of(chunk_id: str, document: str | None, meta: dict) -> Chunk:
    """A chunk as Chroma holds it: its id, document and metadata."""
    return Chunk(chunk_id=chunk_id, text=_chunk_text(meta, document), **_chunk_fields(meta))


def _chunk_text(meta: dict, document: str | None) -> str:
    """A chunk's text: in its metadata, or, stored before it moved there, as its Chroma document."""
    return meta[_TEXT] if _TEXT in meta else document or ""


def _document_metadata(document: Document) -> dict:
    return {
        "source": document.source,
        "content_hash": document.content_hash,
        "title": document.title,
        "lang": document.lang,
        "encoding": document.encoding,
        "chunks": document.chunks,
        "prepared": document.prepared,
    }


def _document_from_metadata(doc_id: str, meta: dict) -> Document:
    return Document(doc_id=doc_id, **meta)


def open_store(settings: StoreSettings, embedder_name: str, dimension: int) -> ChromaStore:
    """Open (creating if needed) the collections of one embedder, in the folder or on the server.

    Raises:
        StoreUnavailableError: the server cannot be reached.
    """
    if settings.mode == "server":
        client = _http_client(settings.url, settings.token, settings.tenant, settings.database)
        location = settings.url
        with _connection_errors(f"cannot reach the Chroma server at {location}"):
            return ChromaStore(client, location, embedder_name, dimension)
    location = str(Path(settings.path).expanduser().resolve())
    folder = _local_folder(location)
    return ChromaStore(folder.client, location, embedder_name, dimension, folder)


_CHUNK_FIELDS = ["documents", "metadatas", "embeddings"]


def _chunk_fields(meta: dict) -> dict:
    """A chunk's fields from its Chroma metadata, a key stored before it existed read as its default."""
    return {key: meta[key] if key in meta else _CHUNK_DEFAULTS[key] for key in _CHUNK_KEYS}


def _chunks_with_vectors(got: dict) -> list[tuple[Chunk, list[float]]]:
    return [
        (_chunk_of(chunk_id, document, meta), vector)
        for chunk_id, document, meta, vector in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])
    ]
