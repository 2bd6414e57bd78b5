"""Read a file into the document text that offsets point into, by file type.

For .txt and .md that text is the file itself, decoded; for the other types (web pages, PDFs,
word processors' documents, slides, e-books) it is the text extracted from the file. Readers
are registered by suffix; `register_reader` adds more.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote

from ingest.errors import UnreadableFileError
from ingest.settings import MB
from ingest.text import ends_sentence


@dataclass(frozen=True)
class DecodedFile:
    """A file's document text, the encoding its bytes were decoded with, a hash of the bytes, a title if
    known, what its reader should know of how it was read (`misread_utf8`), if anything, and its pages."""

    text: str
    encoding: str
    content_hash: str
    title: str = ""
    note: str = ""
    # Where each page's text starts, page 1 first: a PDF's pages, a deck's slides (a page without text
    # starts where the next does).
    page_starts: tuple[int, ...] = ()
    # (why, the line) of what the reader left out of the text: a PDF's running headers and page numbers.
    left_out: tuple[tuple[str, str], ...] = ()


Reader = Callable[[bytes], DecodedFile]
READERS: dict[str, Reader] = {}


def register_reader(suffixes: tuple[str, ...], reader: Reader) -> None:
    """Make files with these suffixes (".txt", lower case) readable by `reader(bytes) -> DecodedFile`."""
    for suffix in suffixes:
        READERS[suffix.lower()] = reader


def supported_suffixes() -> tuple[str, ...]:
    """The file suffixes some reader handles."""
    return tuple(sorted(READERS))


def read_document(path: Path, max_bytes: int) -> DecodedFile:
    """Read a file with the reader of its suffix.

    Raises:
        UnreadableFileError: the file is unreadable, empty, too large, of an unknown type or not text.
    """
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFileError(f"unsupported file type (supported: {', '.join(supported_suffixes())})")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFileError(
                f"{size / MB:.1f} MB is over the {max_bytes / MB:g} MB limit (set CORPUS_QA_MAX_FILE_MB to raise it)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read it: {exc.strerror or exc}") from exc
    if not data.strip():
        raise UnreadableFileError("it is empty")
    return reader(data)


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 first, else the encoding charset-normalizer detects.

    Bytes are decoded as they are (no newline translation, BOM kept), so `text[start:end]`
    is what any reader of the file with that encoding sees.
    """
    if b"\x00" in data[:8192]:
        # UTF-16 text (Windows' "Unicode", with or without its byte-order mark) is full of zero bytes too.
        best = _detected_encoding(data)
        if best is None or not best.encoding.startswith(("utf_16", "utf_32")):
            raise UnreadableFileError("it is binary, not text")
        return str(best), best.encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = _detected_encoding(data)
    if best is None:
        raise UnreadableFileError("it is not text in any encoding charset-normalizer recognises")
    return str(best), best.encoding


_STRAY_BYTE = re.compile("[\udc80-\udcff]")
_NOT_ASCII = re.compile("[^\x00-\x7f]")


def misread_utf8(data: bytes, encoding: str) -> str:
    """What to tell of a file that is UTF-8 but for a few bytes (an edit saved in another encoding),
    read as `encoding`: its UTF-8 letters come out garbled, and only the file's owner can mend it.
    Empty for any other file. (Read as UTF-8 it would need a codec no reader of the citations knows.)"""
    if encoding.replace("-", "_").lower().startswith(("utf", "ascii")):  # read as written, or UTF-16/32
        return ""
    decoded = data.decode("utf-8", "surrogateescape")  # each byte that is not UTF-8: one lone surrogate
    stray = len(_STRAY_BYTE.findall(decoded))
    letters = len(_NOT_ASCII.findall(decoded)) - stray  # what UTF-8 does read
    if not stray or letters <= stray:
        return ""
    first = len(decoded[: _STRAY_BYTE.search(decoded).start()].encode("utf-8", "surrogateescape"))
    return (f"read as {encoding}: it is UTF-8 but for {stray} byte{'s' if stray > 1 else ''} "
            f"(the first at byte {first}), so its non-ASCII letters look garbled; "
            f"save it as UTF-8 and ingest it again")


def _detected_encoding(data: bytes):
    """charset-normalizer's best reading of the bytes, or None (imported here: UTF-8 files never need it)."""
    from charset_normalizer import from_bytes

    return from_bytes(data).best()


_CONTENT_HASH = "sha256"


def _hash(data: bytes) -> str:
    return hashlib.new(_CONTENT_HASH, data).hexdigest()


def file_content_hash(path: Path) -> str | None:
    """The `content_hash` a reader gives the file's bytes as they are now, read a block at a time;
    None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, _CONTENT_HASH).hexdigest()
    except OSError:
        return None


def read_text(data: bytes) -> DecodedFile:
    """Plain text and Markdown: the decoded file is the document text."""
    text, encoding = decode_text(data)
    return DecodedFile(text, encoding, _hash(data), note=misread_utf8(data, encoding))


# What a page marks as its menus: never the article's text.
_NAVIGATION = "//nav | //*[@role='navigation']"


def read_html(data: bytes) -> DecodedFile:
    """HTML: the main text as trafilatura extracts it (menus, footers and comments left out), and the title."""
    import trafilatura
    from trafilatura.utils import load_html

    html, encoding = decode_text(data)
    # Parsed once: trafilatura's extract and extract_metadata each work on their own copy of a tree.
    tree = load_html(html)
    # trafilatura leaves menus out of a page with enough text, but on a short page it falls back
    # to taking all the text there is, menu links included ("Home News About us"): so they are
    # pruned first, unless nothing but a menu is left.
    text = _article_text(tree, _NAVIGATION) or _article_text(tree)
    if not text:
        raise UnreadableFileError("no article text found in the HTML")
    metadata = trafilatura.extract_metadata(tree)
    return DecodedFile(text, encoding, _hash(data), (metadata.title or "") if metadata else "",
                       misread_utf8(data, encoding))


def read_mhtml(data: bytes) -> DecodedFile:
    """A web page saved as one file by Chrome or Edge (.mhtml, .mht: the page and its images as
    MIME parts): its HTML part, read as an HTML file is."""
    import email
    from email import policy

    message = email.message_from_bytes(data, policy=policy.compat32)
    page = next((part for part in message.walk() if part.get_content_type() in ("text/html", "application/xhtml+xml")),
                None)
    html = page.get_payload(decode=True) if page is not None else None
    if not html:
        raise UnreadableFileError("no web page in the MHTML file (it holds no text/html part)")
    return replace(read_html(html), content_hash=_hash(data))


def read_webarchive(data: bytes) -> DecodedFile:
    """A web page saved by Safari (.webarchive, a property list of the page and its resources):
    its main resource, read as an HTML file is."""
    import plistlib

    try:
        main = plistlib.loads(data)["WebMainResource"]
        html = main["WebResourceData"]
    except (plistlib.InvalidFileException, ValueError, KeyError, TypeError) as exc:
        raise UnreadableFileError(f"not a Safari web archive ({type(exc).__name__}: {exc})") from None
    if not isinstance(html, bytes) or not html.strip():
        raise UnreadableFileError("the Safari web archive holds no page")
    return replace(read_html(html), content_hash=_hash(data))


def _article_text(tree, prune: str | None = None) -> str:
    """trafilatura's main text of a parsed page, without what the XPath `prune` matches; "" if it finds none."""
    import trafilatura

    if tree is None:
        return ""
    text = trafilatura.extract(tree, output_format="txt", include_comments=False, include_tables=True,
                               favor_recall=True, prune_xpath=prune)
    return text if text and text.strip() else ""


# PDFium is not thread-safe, and the chat may read two uploads at once.
_PDFIUM_LOCK = threading.Lock()


def read_pdf(data: bytes) -> DecodedFile:
    """PDF: the text layer of each page as PDFium (Chrome's PDF engine) reads it, as `joined_pages`
    joins them. Not pypdf: it garbles Chinese set in fonts with CFF outlines, and the spaces of justified lines."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise UnreadableFileError("the PDF is password-protected: save a copy without its password") from None
            raise UnreadableFileError(f"not a readable PDF ({exc})") from None
        try:
            pages = [_page_text(document[i]) for i in range(len(document))]
            title = document.get_metadata_dict().get("Title", "")
        finally:
            document.close()
    # PDFium ends lines with \r\n, and joins a word the layout hyphenated at a line's end, the
    # hyphen marked \x02: the word as written ("manip-" "ulation" reads "manipulation").
    pages = [page.replace("\r\n", "\n").replace("\r", "").replace("\x02", "") for page in pages]
    joined = joined_pages(pages)
    if not joined.text:
        raise UnreadableFileError("the PDF has no text layer (a scan?); corpus-qa does no OCR")
    return DecodedFile(joined.text, "utf-8", _hash(data), str(title), page_starts=joined.page_starts,
                       left_out=joined.left_out)


# A page's running header or footer is among its first or last lines.
_EDGE_LINES = 2
# A line this long recurring at pages' edges is a running header or footer on two pages already; a
# shorter one ("Page 2", but also "Table 2") must recur on most of the pages.
_LONG_RUNNING_LINE = 12
_DIGITS = re.compile(r"\d+")
# Front matter's page numbers ("iv"), as a page's edge holds them alone.
_ROMAN_NUMBER = re.compile(r"(?=[ivxlc])(x{0,3}|xl|l?x{0,3}|xc)(i{0,3}|iv|v?i{0,3}|ix)")


@dataclass(frozen=True)
class JoinedPages:
    """A document's pages as one text, where each page's text starts in it (`DecodedFile.page_starts`),
    and (why, the line with its numbers as "N") of each line left out."""

    text: str
    page_starts: tuple[int, ...]
    left_out: tuple[tuple[str, str], ...] = ()


def joined_pages(pages: list[str]) -> JoinedPages:
    """The text of a document's pages without their running headers, footers and page numbers,
    each page after the last by a blank line, or by a line break where a sentence runs on to it.

    On a printed page these lines sit apart; in the text layer they would stand between the two
    halves of a sentence. A running line that names something is kept where it first appears
    (the first page's header is often the title); a page number, or a line that holds one, nowhere."""
    numbered = [(number, page.strip().split("\n")) for number, page in enumerate(pages) if page.strip()]
    lines = [page for _, page in numbered]
    edges = [[i for i in range(len(page)) if i < _EDGE_LINES or i >= len(page) - _EDGE_LINES] for page in lines]
    counts: dict[str, int] = {}
    for page, at_edge in zip(lines, edges):
        for key in {_running_key(page[i]) for i in at_edge}:
            counts[key] = counts.get(key, 0) + 1
    seen: set[str] = set()
    kept_pages = []  # (number, text) of each page with text left
    left_out_lines: list[tuple[str, str]] = []
    for (number, page), at_edge in zip(numbered, edges):
        left_out = set()
        for i in at_edge:
            key = _running_key(page[i])
            names = any(c.isalpha() for c in key)  # without letters: a page number
            holds_number = "#" in key  # a page number, or a header that holds one: nobody's title
            if not names or ((holds_number or key in seen) and _runs(key, counts[key], len(lines))):
                left_out.add(i)
                why = "running header or footer" if names else "page number"
                left_out_lines.append((why, _DIGITS.sub("N", page[i].strip())))  # one line, whatever its page
            seen.add(key)
        kept = "\n".join(line for i, line in enumerate(page) if i not in left_out).strip()
        if kept:
            kept_pages.append((number, kept))
    return _joined(kept_pages, len(pages), sentences_run_on=True, left_out=tuple(left_out_lines))


def _joined(pages: list[tuple[int, str]], count: int, sentences_run_on: bool,
            left_out: tuple[tuple[str, str], ...] = ()) -> JoinedPages:
    """(number, text) of the pages of `count` that hold text, one after the other: by a blank line,
    or, where `sentences_run_on` and the last line ends no sentence, by a line break."""
    text, starts = "", [-1] * count
    for number, page in pages:
        runs_on = sentences_run_on and text and not ends_sentence(text[text.rfind("\n") + 1 :])
        text += "\n" if runs_on else "\n\n" if text else ""
        starts[number] = len(text)
        text += page
    for number in range(count - 1, -1, -1):  # a page without text starts where the next one does
        if starts[number] < 0:
            starts[number] = starts[number + 1] if number + 1 < count else len(text)
    return JoinedPages(text, tuple(starts), left_out)


def _page_text(page) -> str:
    """A PDFium page's text, the page closed after."""
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_bounded()
        finally:
            textpage.close()
    finally:
        page.close()


def _running_key(line: str) -> str:
    """A line as it recurs from page to page: numbers as "#", case and spacing aside."""
    key = " ".join(line.lower().split())
    return "#" if _ROMAN_NUMBER.fullmatch(key) else _DIGITS.sub("#", key)


def _runs(key: str, pages_with_it: int, pages: int) -> bool:
    """Whether a line at the edges of this many of the pages runs on them (`joined_pages`)."""
    return pages_with_it >= 2 and (len(key) >= _LONG_RUNNING_LINE or 2 * pages_with_it > pages)


def read_docx(data: bytes) -> DecodedFile:
    """Word (.docx): each paragraph a line, a list item's with "- " in front (Word keeps its bullet
    out of the text), each table row "| a | b |", in the document's order, a paragraph's footnotes
    after it; and the title."""
    from zipfile import BadZipFile

    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        footnotes = _word_footnotes(document)
        lines, referred = [], 0
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines += [_table_row(row) for row in block.rows]
                continue
            if block.text.strip():
                lines.append(("- " if _is_list_item(block) else "") + block.text.strip())
            for note in block._p.xpath(".//w:footnoteReference/@w:id"):
                referred += 1  # Word numbers footnotes in the order they are referred to
                if footnotes.get(note):
                    lines.append(f"{referred}. {footnotes[note]}")
        title = document.core_properties.title or ""
    except (BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFileError(f"not a readable Word document ({type(exc).__name__}: {exc}); "
                                  "a password-protected or old .doc file must be saved as .docx first") from exc
    return _document_of_lines(lines, data, title, "Word document")


def read_odt(data: bytes) -> DecodedFile:
    """OpenDocument text (.odt, LibreOffice's): headings and paragraphs a line each, a list item's
    with "- " in front, each table row "| a | b |", in the document's order; and the title."""
    from zipfile import BadZipFile

    from odfdo import Document

    try:
        document = Document(io.BytesIO(data))
        lines = list(_odf_lines(document.body))
        title = document.meta.title or ""
    except (BadZipFile, KeyError, TypeError, ValueError, SyntaxError) as exc:  # lxml's parse errors are SyntaxErrors
        raise UnreadableFileError(f"not a readable OpenDocument text ({type(exc).__name__}: {exc}); "
                                  "a password-protected file must be saved without its password first") from exc
    return _document_of_lines(lines, data, title, "OpenDocument text")


def _document_of_lines(lines: list[str], data: bytes, title: str, kind: str) -> DecodedFile:
    """A word processor's document read as `lines`; refused when they hold no text."""
    text = "\n".join(lines)
    if not text.strip():
        raise UnreadableFileError(f"the {kind} holds no text")
    return DecodedFile(text, "utf-8", _hash(data), title)


def _odf_lines(container, bullet: str = ""):
    """The lines of an OpenDocument element's blocks (`read_odt`), a list's items after `bullet`."""
    for block in container.children:
        if block.tag in ("text:p", "text:h"):
            # A footnote or endnote is printed apart from its sentence: it follows the paragraph here.
            notes = block.get_elements("text:note")
            if notes:
                block = block.clone
                for note in block.get_elements("text:note"):
                    note.delete()
            line = str(block).strip()
            if line:
                yield bullet + line
            yield from (" ".join(str(note).split()) for note in notes)
        elif block.tag in ("text:list", "text:list-item", "text:list-header"):
            yield from _odf_lines(block, "- ")
        elif block.tag == "table:table":
            for row in block.traverse():
                cells = [str(cell) for cell in row.traverse() if cell.tag == "table:table-cell"]
                if any(cell.strip() for cell in cells):
                    yield _table_line(cells)
        elif block.tag == "text:section":
            yield from _odf_lines(block, bullet)


def read_pptx(data: bytes) -> DecodedFile:
    """PowerPoint (.pptx): each slide's title a line, the paragraphs of its other shapes list items
    ("- "), its tables' rows "| a | b |", then its speaker notes; slides in order, a blank line
    between them; and the title."""
    from zipfile import BadZipFile

    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(data))
        slides = ["\n".join(_slide_lines(slide)) for slide in deck.slides]
        title = deck.core_properties.title or ""
    except (BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFileError(f"not a readable PowerPoint file ({type(exc).__name__}: {exc}); "
                                  "an old .ppt or a password-protected file must be saved as .pptx first") from exc
    # Slides are pages (a citation names its slide); a slide's last bullet never runs on to the next.
    joined = _joined([(number, slide) for number, slide in enumerate(slides) if slide.strip()], len(slides),
                     sentences_run_on=False)
    if not joined.text:
        raise UnreadableFileError("the PowerPoint file holds no text")
    return DecodedFile(joined.text, "utf-8", _hash(data), title, page_starts=joined.page_starts)


def _slide_lines(slide):
    """The lines of one slide (`read_pptx`): its shapes in reading order, top to bottom, left to right."""
    title = slide.shapes.title
    if title is not None and title.text_frame.text.strip():
        yield " ".join(title.text_frame.text.split())
    yield from _shape_lines(slide.shapes, title.shape_id if title is not None else None)
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame.text.split("\n")
        yield from (" ".join(line.split()) for line in notes if line.strip())


def _shape_lines(shapes, title_id: int | None):
    for shape in sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0)):
        if shape.shape_id == title_id:
            continue
        if hasattr(shape, "shapes"):  # a group
            yield from _shape_lines(shape.shapes, title_id)
        elif shape.has_table:
            for row in shape.table.rows:
                cells = [cell.text for cell in row.cells]
                if any(cell.strip() for cell in cells):
                    yield _table_line(cells)
        elif shape.has_text_frame:
            # A line break inside a paragraph (\v in python-pptx) is the slide's layout.
            yield from ("- " + " ".join(paragraph.text.split()) for paragraph in shape.text_frame.paragraphs
                        if paragraph.text.strip())


def read_epub(data: bytes) -> DecodedFile:
    """EPUB: the main text of each of its pages (chapters), as the HTML reader finds it, in
    reading order; and the title.

    Read here from the zip, not by ebooklib, which is AGPL: the book's package file lists its
    pages and their order, and each page is XHTML."""
    from zipfile import BadZipFile, ZipFile

    from lxml import etree
    from trafilatura.utils import load_html

    try:
        with ZipFile(io.BytesIO(data)) as book:
            rootfile = etree.fromstring(book.read("META-INF/container.xml")).find(".//{*}rootfile")
            package_path = rootfile.get("full-path")
            package = etree.fromstring(book.read(package_path))
            hrefs = {item.get("id"): item.get("href") for item in package.iterfind(".//{*}manifest/{*}item")}
            folder = posixpath.dirname(package_path)
            pages = [book.read(posixpath.normpath(posixpath.join(folder, unquote(hrefs[ref.get("idref")]))))
                     for ref in package.iterfind(".//{*}spine/{*}itemref") if ref.get("idref") in hrefs]
            title = package.findtext(".//{http://purl.org/dc/elements/1.1/}title") or ""
    except (BadZipFile, KeyError, AttributeError, TypeError, SyntaxError) as exc:  # lxml's: SyntaxErrors
        raise UnreadableFileError(f"not a readable EPUB ({type(exc).__name__}: {exc})") from exc
    # A table of contents is a page of links (a <nav>): it prunes to nothing.
    text = "\n\n".join(filter(None, (_article_text(load_html(page), _NAVIGATION) for page in pages)))
    if not text.strip():
        raise UnreadableFileError("the EPUB holds no text (is it DRM-protected?)")
    return DecodedFile(text, "utf-8", _hash(data), title.strip())


# TextEdit ends a paragraph with a backslash before the line break, RTF's old spelling of \par,
# which striprtf does not read as one.
_RTF_LINE_END = re.compile(r"(?<!\\)\\(\r?\n)")


def read_rtf(data: bytes) -> DecodedFile:
    """RTF (TextEdit's, WordPad's, Word's): its text as striprtf reads it, a paragraph a line."""
    from striprtf.striprtf import rtf_to_text

    source = data.decode("latin-1")  # RTF is 7-bit text; its own escapes name every other character
    if not source.lstrip().startswith("{\\rtf"):
        raise UnreadableFileError("not an RTF file: it does not open with {\\rtf")
    try:
        text = rtf_to_text(_RTF_LINE_END.sub(r"\\par\1", source), errors="replace")
    except (ValueError, LookupError, IndexError) as exc:
        raise UnreadableFileError(f"not a readable RTF file ({type(exc).__name__}: {exc})") from exc
    if not text.strip():
        raise UnreadableFileError("the RTF file holds no text")
    return DecodedFile(text, "utf-8", _hash(data))


def _word_footnotes(document) -> dict[str, str]:
    """A Word document's footnotes, their text by id, read from its footnotes part: python-docx reads none."""
    from docx.oxml.ns import qn
    from lxml import etree

    for relationship in document.part.rels.values():
        if relationship.reltype.endswith("/footnotes") and not relationship.is_external:
            notes = etree.fromstring(relationship.target_part.blob).iter(qn("w:footnote"))
            # The separator "notes" Word keeps among them are typed; a footnote is not.
            return {note.get(qn("w:id")): " ".join("".join(note.itertext()).split())
                    for note in notes if note.get(qn("w:type")) in (None, "normal")}
    return {}


def _table_row(row) -> str:
    """A Word table row as "| a | b |": a merged cell once, not once for each column it spans."""
    cells = row.cells
    shown = [cell for at, cell in enumerate(cells) if at == 0 or cell._tc is not cells[at - 1]._tc]
    return _table_line(cell.text for cell in shown)


def _table_line(cells: Iterable[str]) -> str:
    """A table row as one line, "| a | b |", each cell's text on one line."""
    return "| " + " | ".join(" ".join(cell.split()) for cell in cells) + " |"


def _is_list_item(paragraph) -> bool:
    """Whether Word numbers or bullets a paragraph: by its own properties or its style's (or the
    style that one is based on)."""
    properties, style = paragraph._p.pPr, paragraph.style
    if properties is not None and properties.numPr is not None:
        return True
    while style is not None:
        style_properties = style.element.pPr
        if style_properties is not None and style_properties.numPr is not None:
            return True
        style = style.base_style
    return False


register_reader((".txt", ".md", ".markdown"), read_text)
register_reader((".html", ".htm"), read_html)
register_reader((".mhtml", ".mht"), read_mhtml)
register_reader((".webarchive",), read_webarchive)
register_reader((".pdf",), read_pdf)
register_reader((".docx",), read_docx)
register_reader((".rtf",), read_rtf)
register_reader((".odt",), read_odt)
register_reader((".epub",), read_epub)
register_reader((".pptx",), read_pptx)
