"""Text helpers that ingest and qa both use: languages and scripts, sentences, display width.

Documents may be in any language: py3langid (a maintained identifier whose model ships in
its wheel) names it. Questions are answered in English, Chinese or French, so for them a
fast script-and-stopword rule picks one of the three, with no model to load.
"""

from __future__ import annotations

import functools
import math
import re
from bisect import bisect_right

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "fr": "French"}

# Han characters (CJK unified ideographs, extension A, compatibility ideographs), for a regex class.
HAN_CHARACTERS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One Han character.
HAN = re.compile(f"[{HAN_CHARACTERS}]")
_LATIN_NAME_LETTERS = "A-Za-zÀ-ÖØ-öø-ÿ0-9-"  # not \w: it would run on into Chinese ("Meta的研究")
_CAPITALISED = rf"[A-ZÀ-ÖØ-Þ][{_LATIN_NAME_LETTERS}]*"
# A word opening with a capital, accented or not ("Anthropic", "Émile", "GPT-4").
CAPITALISED_WORD = re.compile(_CAPITALISED)
# What a sentence names: a capitalised word after its first, a word capitalised inside
# ("DeepSeek"), or a Latin-script word next to Chinese ("DeepSeek的模型").
NAME = re.compile(rf"(?<=\S\s){_CAPITALISED}|\b[a-z]*[A-Z][a-z]+[A-Z][{_LATIN_NAME_LETTERS}]*|"
                  rf"(?<={HAN.pattern})[A-Za-z][{_LATIN_NAME_LETTERS}]*|[A-Za-z][{_LATIN_NAME_LETTERS}]*(?={HAN.pattern})")
_LATIN_WORD = re.compile(r"[^\W\d_]+")
_FRENCH_MARKS = re.compile(r"[àâçéèêëîïôûùüÿœ]", re.IGNORECASE)
# Short words frequent in one language and rare in the other: enough to tell French from English.
_FRENCH_WORDS = frozenset(
    "le la les des du un une est et en que qui dans pour pas sur au aux avec ce cette sont il elle "
    "nous vous ils ont été plus mais ou où comme quand quel quelle combien pourquoi".split()
)
_ENGLISH_WORDS = frozenset(
    "the a an of and is are was were to in that which who what when how why for with on by this "
    "it its from as be has have had not or at".split()
)


def detect_language(text: str) -> str:
    """'zh', 'fr' or 'en' (the default when a text gives no evidence)."""
    sample = text[:5000]
    han = len(HAN.findall(sample))
    words = [w.lower() for w in _LATIN_WORD.findall(HAN.sub(" ", sample))]
    if han and han >= len(words):
        return "zh"
    french = sum(w in _FRENCH_WORDS for w in words) + len(_FRENCH_MARKS.findall(sample))
    english = sum(w in _ENGLISH_WORDS for w in words)
    return "fr" if french > english else "en"


# The languages questions come in win a close call: on a short text the identifier's first guess
# is often a neighbour of theirs ("nn" for a two-line English note, "ht" for a French sentence,
# "wuu" for Mandarin), which would keep the document out of a language filter and misname it.
_FAVOURED = ("en", "fr", "zh")
# A favoured language wins when it is at least this share as probable as the first guess.
_CLOSE_CALL = 0.5


@functools.cache
def load_language_identifier():
    """py3langid's identifier, loaded once per process (its model takes a few tenths of a second to unpack)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_document_language(text: str) -> str:
    """The ISO 639-1 code of a document's language ('en', 'zh', 'fr', 'de', ...).

    Varieties without a two-letter code (Cantonese "yue", Wu "wuu", Extremaduran "ext") are left
    out, so their texts take the code of the language they are written like.
    """
    sample = text[:20000]
    if not sample.strip():
        return "en"
    ranked = [(lang, p) for lang, p in load_language_identifier().rank(sample) if len(lang) == 2]
    best, probability = ranked[0]
    favoured = next(((lang, p) for lang, p in ranked if lang in _FAVOURED), None)
    if favoured and favoured[1] >= _CLOSE_CALL * probability:
        return favoured[0]
    return str(best)


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


# Text is not wrapped narrower than this (display width; a narrow PDF column holds about 45
# characters): a paragraph of shorter lines is lines.
_NARROWEST_WRAP = 40
# What opens a line of its own: a list item, a table row, a heading, a quotation.
_ITEM_OR_ROW = re.compile(r"[ \t]*(?:[-*+•·–][ \t]|\d{1,3}[.)][ \t]|\|)")
_OPENS_BLOCK = re.compile(rf"{_ITEM_OR_ROW.pattern}|[ \t]*[#>]")
_FIRST_WORD = re.compile(r"[ \t]*(\S+)")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end], whitespace trimmed, in order.

    A line break ends a sentence, unless a wrapper made it (`_wrapped`): hard-wrapped text and a
    PDF's text layer break lines inside sentences."""
    end = len(text) if end is None else end
    spans = []
    cursor = start
    layout = None  # its lines' starts and their paragraphs' widths, measured when a line break is first met
    for match in _SENTENCE_END.finditer(text, start, end):
        if not match.group():  # a line break
            layout = _paragraph_widths(text, start, end) if layout is None else layout
            widest = layout[1][bisect_right(layout[0], match.start()) - 1]
            if _wrapped(text, match.start(), start, end, widest):
                continue
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


def _paragraph_widths(text: str, start: int, end: int) -> tuple[list[int], list[float]]:
    """The start of each line of text[start:end], and the width its paragraph (the lines between
    blank ones) was wrapped at: its widest line's display width (`text_width`); infinity for a
    paragraph narrower than any column of text, whose short lines (an address) end where they mean to."""
    starts, widths, at = [], [], start
    for line in text[start:end].split("\n"):
        starts.append(at)
        widths.append(text_width(line, 0, len(line.rstrip())))
        at += len(line) + 1
    wrapped_at: list[float] = list(widths)
    paragraph = []  # the lines of the paragraph so far, by index
    for i in range(len(widths) + 1):
        if i < len(widths) and widths[i]:
            paragraph.append(i)
        elif paragraph:
            widest = max(widths[j] for j in paragraph)
            for j in paragraph:
                wrapped_at[j] = widest if widest >= _NARROWEST_WRAP else math.inf
            paragraph = []
    return starts, wrapped_at


def _room_for(word: str) -> int:
    """The width a word needs at the end of a line: a space and itself, or, for a wide (CJK)
    character, which breaks anywhere, just that character."""
    return 2 if _WIDE.match(word) else 1 + text_width(word, 0, len(word))


def _wrapped(text: str, at: int, start: int, end: int, widest: float) -> bool:
    """Whether the line break at `at` is a wrapper's, inside a paragraph of text[start:end]: the line
    ends no sentence, the next is no blank line and opens no list item, heading, quotation or table
    row (nor are both a note's fields), and it starts in lower case, or with a word that would have
    filled the line or more, `widest` wide as its paragraph was wrapped (`_paragraph_widths`; a
    heading or a short line ends where it means to)."""
    line = text[max(text.rfind("\n", start, at) + 1, start) : at].rstrip()
    following = text.find("\n", at) + 1
    if not line or ends_sentence(line) or not 0 < following < end:
        return False
    # A quotation's lines go on as a paragraph's do, behind the same quotation marks.
    marks = _QUOTED.match(line)
    if marks:
        went_on = _QUOTED.match(text, following, end)
        if not went_on or _marks_of(went_on.group()) != _marks_of(marks.group()):
            return False
        following = went_on.end()
    word = _FIRST_WORD.match(text, following, end)
    if not word or _OPENS_BLOCK.match(text, following, end) or (
            _FIELD.match(line, marks.end() if marks else 0) and _FIELD.match(text, following, end)):
        return False  # the next line opens a block of its own, or both are a note's fields
    first = word.group(1)
    return first[0].islower() or text_width(line, 0, len(line)) + _room_for(first) >= widest


_LINE_BREAK = re.compile(r"[ \t]*\r?\n[ \t]*(?:>[ \t]*)*")  # with a quotation's marks, where it goes on behind them
_QUOTED = re.compile(r"[ \t]*>(?:[ \t]*>)*[ \t]*")


def _marks_of(lead: str) -> str:
    """A quotation's marks without their spacing: how deep it is."""
    return lead.replace(" ", "").replace("\t", "")


def unwrapped(sentence: str) -> str:
    """A sentence a wrapper broke (`split_sentences`) on one line: each line break the space it
    stands for, or nothing between two wide (CJK) characters, which are written without spaces,
    or after a hyphen (a compound's, or a word's broken at the margin: "informa-tion" reads)."""
    def joined(match: re.Match) -> str:
        before, after = sentence[match.start() - 1 : match.start()], sentence[match.end() : match.end() + 1]
        return "" if before == "-" or (_WIDE.match(before) and _WIDE.match(after)) else " "

    return _LINE_BREAK.sub(joined, sentence) if "\n" in sentence else sentence


# Markup a reader of the page sees as its text: Obsidian's links ([[Page]], [[Page|shown text]]),
# Markdown's links ([text](url)) and highlights (==text==); and footnote marks ([^1]), not at all.
_SHOWN_AS_TEXT = [
    (re.compile(r"\[\[(?:[^\]|\n]*\|)?([^\]|\n]+)\]\]"), r"\1"),
    (re.compile(r"(?<!!)\[([^\]\n]+)\]\([^)\s]+(?:\s+\"[^\"]*\")?\)"), r"\1"),
    (re.compile(r"==(?=\S)(.+?)(?<=\S)=="), r"\1"),
    (re.compile(r"\[\^[^\]\s]+\]"), ""),
]


def readable(sentence: str) -> str:
    """A quoted sentence as a reader of the page sees it: on one line (`unwrapped`), with the
    page's links and highlights as their text and no footnote marks."""
    sentence = unwrapped(sentence)
    for markup, shown in _SHOWN_AS_TEXT:
        sentence = markup.sub(shown, sentence)
    return sentence


def is_question(sentence: str) -> bool:
    """Whether a sentence asks rather than tells (ends with a question mark, closers aside)."""
    return sentence.rstrip(_CLOSERS).endswith(("?", "？"))


def ends_sentence(line: str) -> bool:
    """Whether a line ends with what closes a sentence (a full stop, a question mark, a colon …),
    closing quotes and spaces aside."""
    return line.rstrip().rstrip(_CLOSERS).endswith(_SENTENCE_CLOSERS)


def ends_with_full_stop(line: str) -> bool:
    """Whether a line ends with a full stop, trailing spaces aside: a statement, not a headline."""
    return line.rstrip().endswith(_FULL_STOPS)


def is_heading(sentence: str) -> bool:
    """Whether a sentence is a short line without closing punctuation: a heading, which names a
    topic. A list item or a table row is none, short as it may be ("- Released in July 2023")."""
    text = sentence.strip().rstrip(_CLOSERS)
    if _ITEM_OR_ROW.match(text):
        return False
    return len(text) < _LONGEST_HEADING and not text.endswith(_SENTENCE_CLOSERS)


# A label of up to three words, a colon, a value: "CEO: Dario Amodei", "成立时间：2021年".
_FIELD = re.compile(r"\s*[^\s:：]+(?:[ \t]+[^\s:：]+){0,2}[ \t]*[:：][ \t]*\S")


def is_field(sentence: str) -> bool:
    """Whether a line is a labelled value, as notes and fact boxes list them: a fact, short and
    unpunctuated as a heading though it is."""
    return bool(_FIELD.match(sentence))


def text_width(text: str, start: int, end: int) -> int:
    """Display width of text[start:end]: a wide (CJK) character counts as two.

    Chunks are measured in width, not characters: 400 Chinese characters carry two to three
    times what 400 Latin ones do, and a chunk that covers too much embeds as a blur.
    """
    return end - start + len(_WIDE.findall(text, start, end))


# Marks no reader sees, trimmed like whitespace: a byte-order mark (Notepad starts UTF-8 files
# with one), zero-width spaces and joiners.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"


def _blank(char: str) -> bool:
    return char.isspace() or char in _INVISIBLE


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without leading and trailing whitespace (and invisible marks)."""
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    return start, end


_MARKDOWN_HEADING = re.compile(r"#{1,6}\s+")


def heading_text(line: str) -> str:
    """A line as a title reads: without surrounding whitespace, invisible marks and a Markdown
    heading's leading #s ("# Les chiens" -> "Les chiens")."""
    start, end = trim_span(line, 0, len(line))
    line = line[start:end]
    marker = _MARKDOWN_HEADING.match(line)
    return line[marker.end():] if marker else line


# Control characters, which a file name may hold ("a\nb.txt") and which would break a line of output.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` fit for one line of output: a control character shows escaped, as Python writes it (`\\n`)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def in_column(text: str, width: int) -> str:
    """`text` padded with spaces to `width` display columns (`text_width`), or cut to them with "…"."""
    if text_width(text, 0, len(text)) > width:
        kept = used = 0  # the longest head that leaves a column for the "…", measured once
        while kept < len(text):
            used += text_width(text, kept, kept + 1)
            if used > width - 1:
                break
            kept += 1
        text = text[:kept] + "…"
    return text + " " * (width - text_width(text, 0, len(text)))


def shortened(text: str, width: int) -> str:
    """`text` on one line of at most `width` characters, spaces run together; a cut one ends with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
