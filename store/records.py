"""Records the store persists and returns; ingest builds them, qa reads them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of a document's decoded text: `text == document_text[start:end]`."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    position: int
    source: str
    title: str
    lang: str
    encoding: str = "utf-8"
    # The text from `end` to the end of the next sentence, when that one is short and nothing
    # was cleaned out between: what a citation shows after the chunk ("" when nothing is).
    following: str = ""
    # The pages it lies on (a PDF's, or a deck's slides), counted from 1 as a viewer counts them; 0 for a
    # file without pages.
    first_page: int = 0
    last_page: int = 0


@dataclass(frozen=True)
class Document:
    """One ingested file, as the manifest remembers it."""

    doc_id: str
    source: str
    content_hash: str
    title: str
    lang: str
    encoding: str
    chunks: int
    # How its chunks were made (see `ingest.pipeline.preparation`): when that changes, the next
    # ingest splits the file again. "" in manifests written before it was recorded.
    prepared: str = ""


@dataclass(frozen=True)
class Passage:
    """A stored chunk found by a search, with its cosine similarity to the query."""

    chunk: Chunk
    score: float
