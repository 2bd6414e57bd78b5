"""Split text into sentences and sentence-aligned chunks, as exact (start, end) offsets."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# East Asian wide and fullwidth characters (Hangul, CJK, kana, fullwidth forms).
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
)

# A sentence ends after Chinese end punctuation, or after . ! ? followed by space and a
# non-lowercase character. Closing quotes and brackets stay with the sentence they close.
# This splits wherever FORMAT.md's verify.py does, except after a name's initial or title, so
# an answer sentence carries its own marker under that checker (qa.answer marks those breaks).
CLOSING_MARKS = "”’」』）)\"'"
_CLOSING = re.escape(CLOSING_MARKS)
# What may follow a sentence's last mark: a heading can end in a space or a Markdown '*', too.
_CLOSERS = CLOSING_MARKS + " *»"
# The marks that end a statement; a headline ends with none of them.
_FULL_STOPS = (".", "!", "。", "！")
_SENTENCE_CLOSERS = (*_FULL_STOPS, "?", "？", "…", ":", "：", ";", "；")
# Headings are a few words; a line this long without a full stop is a sentence that lacks one.
_LONGEST_HEADING = 60
_SENTENCE_END = re.compile(
    rf"[。！？；]+[{_CLOSING}]*"
    rf"|[.!?…]+[{_CLOSING}\]]*(?=\s+[^\sa-zà-ÿœ])"
    r"|(?=\r?\n)"
)


# Abbreviations that a number follows: "Convention No. 182", "Jan. 5", "p. 12", "art. 3".
_BEFORE_A_NUMBER = re.compile(
    r"(?<![\w.])(?:No|Nos|Nr|Art|Vol|Vols|Ch|Chap|Sec|Fig|Figs|Eq|Ref|p|pp|ca|cf|vs|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|janv|févr|avr|juil|déc)\.$",
    re.IGNORECASE,
)
_NUMBER_NEXT = re.compile(r"\s+\d")
# A list item's number, alone on its line so far: "1. 如果谷歌利用……" is one item, not "1." and a sentence.
_ITEM_NUMBER = re.compile(r"\s*\d{1,2}\.")
# A name's initial or a title, which a name follows: "William E. Simon", "Dr. Roux", "M. Macron"
# ("I." is more often a numeral: "World War I."). verify.py and most readers break there;
# answers put a marker after each part (qa.answer).
_BEFORE_A_NAME = re.compile(
    r"(?<![\w.])(?:[A-HJ-Z]|Dr|Mr|Mrs|Ms|Mme|Mlle|Mgr|Pr|Prof|Sen|Rep|Gov|Gen|Col|Capt|Lt|Sgt|St)\.$"
)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end], whitespace trimmed, in order."""
    end = len(text) if end is None else end
    spans = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if _NUMBER_NEXT.match(text, match.end(), end) and _BEFORE_A_NUMBER.search(text, cursor, match.end()):
            continue
        if match.group() and _BEFORE_A_NAME.search(text, cursor, match.end()):  # a line break always ends one
            continue
        if _ITEM_NUMBER.fullmatch(text, cursor, match.end()):
            continue
        spans.append((cursor, match.end()))
        cursor = match.end()
    spans.append((cursor, end))
    return [span for span in (trim_span(text, s, e) for s, e in spans) if span[0] < span[1]]


def is_question(sentence: str) -> bool:
    """Whether a sentence asks rather than tells (ends with a question mark, closers aside)."""
    return sentence.rstrip(_CLOSERS).endswith(("?", "？"))


def ends_with_full_stop(line: str) -> bool:
    """Whether a line ends with a full stop, trailing spaces aside: a statement, not a headline."""
    return line.rstrip().endswith(_FULL_STOPS)


def is_heading(sentence: str) -> bool:
    """Whether a sentence is a short line without closing punctuation: a heading, which names a topic."""
    text = sentence.strip().rstrip(_CLOSERS)
    return len(text) < _LONGEST_HEADING and not text.endswith(_SENTENCE_CLOSERS)


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


def text_width(text: str, start: int, end: int) -> int:
    """Display width of text[start:end]: a wide (CJK) character counts as two.

    Chunks are measured in width, not characters: 400 Chinese characters carry two to three
    times what 400 Latin ones do, and a chunk that covers too much embeds as a blur.
    """
    return end - start + len(_WIDE.findall(text, start, end))


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


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
