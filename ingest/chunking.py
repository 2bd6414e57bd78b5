"""Split text into sentences and sentence-aligned chunks, as exact (start, end) offsets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# A sentence ends after Chinese end punctuation, or after . ! ? followed by space and a
# non-lowercase character. Closing quotes and brackets stay with the sentence they close.
# This splits at least wherever FORMAT.md's verify.py does, so every answer sentence we
# cut out carries its own marker under that checker.
_SENTENCE_END = re.compile(
    r"[。！？；]+[”’」』）)\"']*"
    r"|[.!?…]+[”’」』）)\]\"']*(?=\s+[^\sa-zà-ÿœ])"
    r"|(?=\r?\n)"
)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end], whitespace trimmed, in order."""
    end = len(text) if end is None else end
    spans = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((cursor, match.end()))
        cursor = match.end()
    spans.append((cursor, end))
    return [span for span in (trim_span(text, s, e) for s, e in spans) if span[0] < span[1]]


def split_into_chunks(
    text: str,
    spans: Iterable[tuple[int, int]],
    max_chars: int = 400,
    overlap_sentences: int = 1,
) -> list[tuple[int, int]]:
    """Pack whole sentences of each span into chunks of at most `max_chars` characters.

    A chunk never crosses from one span to the next, so text left out by cleaning is never
    inside a chunk. A sentence longer than `max_chars` is cut at a space where possible.
    The last `overlap_sentences` sentences of a chunk start the next one when they fit in
    half a chunk, so an answer split across a boundary is still whole in one of them.
    """
    chunks: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        pieces = [
            piece
            for sentence in split_sentences(text, span_start, span_end)
            for piece in _cut_long(text, sentence, max_chars)
        ]
        chunks.extend(_pack(pieces, max_chars, overlap_sentences))
    return chunks


def _pack(pieces: Sequence[tuple[int, int]], max_chars: int, overlap: int) -> list[tuple[int, int]]:
    chunks = []
    current: list[tuple[int, int]] = []
    for piece in pieces:
        if current and piece[1] - current[0][0] > max_chars:
            chunks.append((current[0][0], current[-1][1]))
            kept = current[-overlap:] if overlap else []
            while kept and (piece[1] - kept[0][0] > max_chars or kept[-1][1] - kept[0][0] > max_chars // 2):
                kept = kept[1:]
            current = kept
        current.append(piece)
    if current:
        chunks.append((current[0][0], current[-1][1]))
    return chunks


def _cut_long(text: str, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    start, end = span
    pieces = []
    while end - start > max_chars:
        limit = start + max_chars
        cut = max(text.rfind(" ", start + max_chars // 2, limit), text.rfind("，", start + max_chars // 2, limit))
        cut = cut + 1 if cut > start else limit
        piece = trim_span(text, start, cut)
        if piece[0] < piece[1]:
            pieces.append(piece)
        start = cut
    piece = trim_span(text, start, end)
    if piece[0] < piece[1]:
        pieces.append(piece)
    return pieces


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
