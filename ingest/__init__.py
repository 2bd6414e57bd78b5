"""Files to embedded chunks: read, decode, clean, split, embed and store."""

from ingest.embedder import Embedder, load_embedder
from ingest.errors import EmbedderError, IngestError, IngestInputError, UnreadableFileError
from ingest.pipeline import IngestReport, bundled_corpus, ingest_paths
from ingest.settings import DEFAULT_EMBEDDER, IngestSettings
from ingest.text import LANGUAGE_NAMES, detect_language, load_language_identifier

__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedder",
    "EmbedderError",
    "IngestError",
    "IngestInputError",
    "IngestReport",
    "IngestSettings",
    "LANGUAGE_NAMES",
    "UnreadableFileError",
    "bundled_corpus",
    "detect_language",
    "ingest_paths",
    "load_embedder",
    "load_language_identifier",
]
