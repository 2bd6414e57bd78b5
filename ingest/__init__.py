"""Files to embedded chunks: read, decode, clean, split, embed and store."""

from ingest.embedder import Embedder, load_embedder
from ingest.errors import EmbedderError, IngestError, IngestInputError, LexiconError, UnreadableFileError
from ingest.language import LANGUAGE_NAMES, detect_language
from ingest.pipeline import IngestReport, bundled_corpus, ingest_paths
from ingest.settings import DEFAULT_EMBEDDER, IngestSettings

__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedder",
    "EmbedderError",
    "IngestError",
    "IngestInputError",
    "IngestReport",
    "IngestSettings",
    "LANGUAGE_NAMES",
    "LexiconError",
    "UnreadableFileError",
    "bundled_corpus",
    "detect_language",
    "ingest_paths",
    "load_embedder",
]
