"""Errors raised while reading, embedding or ingesting files."""


class IngestError(Exception):
    """Ingest could not go on."""


class IngestInputError(IngestError):
    """A path the user gave cannot be ingested (missing, or not a file or folder)."""


class EmbedderError(IngestError):
    """The configured embedding model cannot be loaded."""


class UnreadableFileError(IngestError):
    """One file could not be read or decoded; the rest of the batch goes on."""
