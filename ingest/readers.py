"""Read a file's bytes and decode them into the document text that offsets point into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import UnreadableFileError

SUPPORTED_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class DecodedFile:
    """A file's whole decoded text, the encoding it was decoded with, and a hash of its bytes."""

    text: str
    encoding: str
    content_hash: str


def read_document(path: Path, max_bytes: int) -> DecodedFile:
    """Decode a text file: UTF-8 first, else the encoding charset-normalizer detects.

    The text is decoded from bytes as they are (no newline translation, BOM kept), so
    `text[start:end]` is what any reader of the file with that encoding sees.

    Raises:
        UnreadableFileError: the file is unreadable, empty, too large or not text.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFileError(
                f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit (CORPUS_QA_MAX_FILE_MB)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read it: {exc.strerror or exc}") from exc
    if not data.strip():
        raise UnreadableFileError("it is empty")
    if b"\x00" in data[:8192]:
        raise UnreadableFileError("it is binary, not text")
    content_hash = hashlib.sha256(data).hexdigest()
    try:
        return DecodedFile(data.decode("utf-8"), "utf-8", content_hash)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnreadableFileError("it is not text in any encoding charset-normalizer recognises")
    return DecodedFile(str(best), best.encoding, content_hash)
