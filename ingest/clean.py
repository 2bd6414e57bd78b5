"""Find the article text of a document, leaving site boilerplate and repeated blocks out.

Cleaning never rewrites text: it returns the spans of the decoded text worth keeping,
so chunk offsets still point into the original.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ingest.text import heading_text, is_heading, text_width, trim_span

# A whole line that is one of these is page furniture, not article text.
_BOILERPLATE_LINE = [
    ("template placeholder", re.compile(r"\{\{[^{}]*\}\}|\{%[^%]*%\}")),
    ("stray markup", re.compile(r"^[\s`“”‘’'\"]*`{1,3}[\s`“”‘’'\"]*[A-Za-z]{0,12}\s*$")),
    ("stray markup", re.compile(r"^\s*(</?[A-Za-z][^>]*>\s*)+$")),
    ("link line", re.compile(r"^\W*[^\s:：]{0,12}\s*[:：]?\s*https?://\S+\s*$")),
    # Markdown images and badges (a link around one too), and Obsidian's embeds: shown, not read.
    ("image", re.compile(r"^\s*(?:\[?!\[[^\]]*\]\([^)]*\)(?:\]\([^)]*\))?\s*|!\[\[[^\]]*\]\]\s*)+$")),
    ("source/copyright line", re.compile(r"this page may contain third-party content", re.IGNORECASE)),
    # A PDF page's number, which its text layer holds: "Page 3 of 10", "page 3 sur 10", "第3页 共10页".
    ("page number", re.compile(r"^\W*(?:page|p\.|seite|pagina|página)\s*\d+(?:\s*(?:of|/|sur|von|de|di)\s*\d+)?\W*$|"
                               r"^第\s*\d+\s*页(?:\s*[/,，]?\s*共\s*\d+\s*页)?$", re.IGNORECASE)),
]
# A line that says one of these is furniture when it is short: a longer one is the article's own
# sentence about comments, shares or copyright ("The copyright lawsuit filed by …").
_FURNITURE_WORDS = [
    (
        "comment widget",
        re.compile(
            r"^\W*\d+\s*(条)?(回复|评论|comments?|replies|commentaires?)\b|发表评论|赞赏|欢迎您|"
            r"leave a (comment|reply)|post a comment|laisser un commentaire|^comments?\s*$",
            re.IGNORECASE,
        ),
    ),
    (
        "share/follow line",
        re.compile(
            r"关注我们|分享到|扫一扫|扫码|^(share|follow us|subscribe|partager|suivez-nous)\b", re.IGNORECASE
        ),
    ),
    (
        "source/copyright line",
        re.compile(
            r"版权(所有|归)|转载(请|自|须)|(禁止|谢绝|不得)转载|本文(系|为)?转载|原文链接|"
            r"copyright\s*(©|\(c\)|\d{4})|all rights reserved|©|tous droits réservés|"
            r"^reprinted from|^reference links?\s*:?\s*$|^voir l'original\s*$",
            re.IGNORECASE,
        ),
    ),
]
# Furniture is a few words in a page's margin; a line wider than this (in `text_width`) is article text.
_LONGEST_FURNITURE = 80

# A short line that is only one of these headings starts a trailer: everything after it is dropped.
_TRAILER_HEADING = re.compile(
    r"^\W*(相关(文章|阅读|下载|推荐|资源)|更多(资源|文章|阅读)|资源下载|推荐阅读|热门(文章|推荐)|"
    r"related (articles|posts|stories|downloads|reading)|more (articles|stories|resources)|"
    r"you may also like|recommended( for you)?|à lire aussi|articles? (connexes|similaires))\W*$",
    re.IGNORECASE,
)

# YAML (---) or TOML (+++) front matter opening a Markdown file: its fields, not article text.
_FRONT_MATTER_FENCE = re.compile(r"^\ufeff?(---|\+\+\+)\s*$")
_FRONT_MATTER_FIELD = re.compile(r"^[A-Za-z_][\w-]*\s*[:=]")
_FRONT_MATTER_TITLE = re.compile(r"^title\s*[:=]\s*(.+?)\s*$", re.IGNORECASE)
# Lines a front matter block may run to: past these, a lone "---" is a rule, not its end.
_FRONT_MATTER_LINES = 100

_LETTER = re.compile(r"[^\W\d_]")
# The rule under a Markdown table's header row ("|---|:--:|"): the table goes on after it.
_TABLE_RULE = re.compile(r"\|?(?:\s*:?-+:?\s*\|)+\s*(?::?-+:?\s*)?")
# Lines shorter than this may repeat legitimately (short headings, "Yes."); longer repeats are copies.
_MIN_REPEAT_CHARS = 12
# Below a fifth of the text kept, the rest of a page is its footer.
_FOOTER_KEPT_SHARE = 5
# A site slogan just above the footer: short and not a sentence.
_MAX_TAGLINE_CHARS = 30


@dataclass(frozen=True)
class CleanText:
    """The spans of a text worth chunking, and what was left out."""

    spans: tuple[tuple[int, int], ...]
    dropped: tuple[tuple[int, int, str], ...]
    title: str


def iter_lines(text: str):
    """(start, end) of each line's content, without its line break."""
    start = 0
    for line in text.splitlines(keepends=True):
        yield start, start + len(line.splitlines()[0])
        start += len(line)


def find_content_spans(text: str) -> CleanText:
    """Spans of article text: runs of kept lines, broken wherever a line was dropped."""
    lines: list[list] = []  # [start, end, reason or None] of each non-blank line
    seen: set[str] = set()
    in_trailer = after_repeat = False
    front_matter_end, title = _front_matter(text)
    in_comment = False  # inside an HTML comment (`<!-- … -->`), which Markdown does not show
    for start, end in iter_lines(text):
        line = text[start:end]
        if not line.strip():
            continue
        if end <= front_matter_end:
            lines.append([start, end, "front matter"])
            continue
        if in_comment or line.lstrip().startswith("<!--"):
            closes = line.find("-->", 0 if in_comment else line.find("<!--") + 4)
            in_comment = closes < 0
            if in_comment or not line[closes + 3 :].strip():  # text after the comment shows
                lines.append([start, end, "markup comment"])
                continue
        reason = "after a related-links heading" if in_trailer else _drop_reason(line, seen, after_repeat)
        if reason is None and _TRAILER_HEADING.match(line.strip()):
            in_trailer, reason = True, "related-links heading"
        after_repeat = reason == "repeated text"
        lines.append([start, end, reason])
    _drop_page_footer(text, lines)
    spans: list[tuple[int, int]] = []
    run: list[int] | None = None  # [start, end] of the current run of kept lines
    for start, end, reason in lines:
        if reason is None:
            run = [run[0], end] if run else [start, end]
        elif run:
            spans.append(tuple(run))
            run = None
    if run:
        spans.append(tuple(run))
    title = title or next((heading_text(text[start:end])[:200] for start, end, reason in lines if reason is None), "")
    dropped = tuple((start, end, reason) for start, end, reason in lines if reason is not None)
    return CleanText(spans=tuple(trim_span(text, s, e) for s, e in spans), dropped=dropped, title=title)


def _front_matter(text: str) -> tuple[int, str]:
    """Where the front matter opening a file ends (0 without one), and the title it gives, if any.

    It is a fence line ("---" or "+++") first, fields ("title: …") next, and the same fence
    closing it; a first "---" followed by anything else is a horizontal rule."""
    lines = list(itertools.islice(((start, end) for start, end in iter_lines(text) if text[start:end].strip()),
                                  _FRONT_MATTER_LINES))  # the head of the file only
    opening = _FRONT_MATTER_FENCE.match(text[lines[0][0] : lines[0][1]]) if lines else None
    if opening is None or len(lines) < 3 or not _FRONT_MATTER_FIELD.match(text[lines[1][0] : lines[1][1]]):
        return 0, ""
    title = ""
    for start, end in lines[1:]:
        line = text[start:end]
        if line.strip() == opening.group(1):
            return end, title
        found = _FRONT_MATTER_TITLE.match(line)
        if found and not title:
            title = heading_text(found.group(1).strip("'\""))[:200]
    return 0, ""


def _drop_page_footer(text: str, lines: list[list]) -> None:
    """Mark the page footer dropped: from the first dropped line after which kept text is under
    a fifth of all text, to the end, plus the short unpunctuated tagline lines just before it.

    A footer mixes furniture a pattern names ("follow us", a copyright line) with site
    descriptions and slogans no pattern could name; the company they keep gives them away.
    """
    footer, kept, total = None, 0, 0
    for i in range(len(lines) - 1, 0, -1):
        start, end, reason = lines[i]
        total += end - start
        kept += (end - start) if reason is None else 0
        if reason is not None and kept * _FOOTER_KEPT_SHARE < total:
            footer = i
    if footer is None:
        return
    while footer > 1 and lines[footer - 1][2] is None and _is_tagline(text[lines[footer - 1][0] : lines[footer - 1][1]]):
        footer -= 1
    for line in lines[footer:]:
        if line[2] is None:
            line[2] = "page footer"


def _is_tagline(line: str) -> bool:
    return len(line.strip()) <= _MAX_TAGLINE_CHARS and is_heading(line)


def _drop_reason(line: str, seen: set[str], after_repeat: bool) -> str | None:
    stripped = line.strip()
    for reason, pattern in _BOILERPLATE_LINE:
        if pattern.search(stripped):
            return reason
    furniture = next((reason for reason, pattern in _FURNITURE_WORDS if pattern.search(stripped)), None)
    if furniture and text_width(stripped, 0, len(stripped)) <= _LONGEST_FURNITURE:  # measured only where it tells
        return furniture
    if len(_LETTER.findall(stripped)) < 2 and not _TABLE_RULE.fullmatch(stripped):
        return "no words"
    key = " ".join(stripped.lower().split())
    # A short line ("Non.") may repeat on its own; inside a repeated block it is part of the copy.
    if key in seen and (len(key) >= _MIN_REPEAT_CHARS or after_repeat):
        return "repeated text"
    seen.add(key)
    return None
