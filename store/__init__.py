"""Persistence of chunks and their vectors in Chroma: the only package that knows Chroma."""

from store.errors import IndexMismatchError, StoreError, StoreFolderError, StoreUnavailableError
from store.records import Chunk, Document, Passage
from store.settings import StoreSettings
from store.chroma import ChromaStore, fingerprint_of, open_store

__all__ = [
    "Chunk",
    "ChromaStore",
    "Document",
    "IndexMismatchError",
    "Passage",
    "StoreError",
    "StoreFolderError",
    "StoreSettings",
    "StoreUnavailableError",
    "fingerprint_of",
    "open_store",
]
