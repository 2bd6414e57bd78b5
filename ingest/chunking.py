"""Split text into sentence-aligned chunks, as exact (start, end) offsets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ingest.text import is_heading, split_sentences, text_width, trim_span


def following_sentence_end(text: str, end: int, span_end: int, max_width: int) -> int:
    """Where the sentence that follows text[:end] ends, when it ends by `span_end` and is at most
    `max_width` wide from `end`; `end` itself otherwise."""
    window = min(span_end, end + 2 * max_width)  # room for the sentence, and for the start of the next one
    sentences = split_sentences(text, end, window)
    cut_short = window < span_end and len(sentences) < 2  # it runs past the window
    if not sentences or cut_short or text_width(text, end, sentences[0][1]) > max_width:
        return end
    if is_heading(text[sentences[0][0] : sentences[0][1]]):
        return end  # it opens the next section
    return sentences[0][1]


def split_into_chunks(
    text: str,
    spans: Iterable[tuple[int, int]],
    max_chars: int = 400,
    overlap_sentences: int = 1,
) -> list[tuple[int, int]]:
    """Pack whole sentences of each span into chunks of at most `max_chars` in display width.

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
        chunks.extend(_pack(text, pieces, max_chars, overlap_sentences))
    return chunks


def _pack(text: str, pieces: Sequence[tuple[int, int]], max_width: int, overlap: int) -> list[tuple[int, int]]:
    chunks = []
    current: list[tuple[int, int]] = []
    for piece in pieces:
        if current and text_width(text, current[0][0], piece[1]) > max_width:
            chunks.append((current[0][0], current[-1][1]))
            kept = current[-overlap:] if overlap else []
            while kept and (
                text_width(text, kept[0][0], piece[1]) > max_width
                or text_width(text, kept[0][0], kept[-1][1]) > max_width // 2
            ):
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
