"""Real-world files: HTML, PDF, renames, pruning, removal, bad files, progress and crash safety."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest import bundled_corpus
from ui.cli import cli

from conftest import write_xquad_copies

EXE = Path(sys.executable).parent / "corpus-qa"


def copy_bundled(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for source in bundled_corpus().glob("*.txt"):
        (folder / source.name).write_bytes(source.read_bytes())
    return folder


def test_html_page_is_extracted_keeping_its_title(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>Open models win</title></head><body><nav>Home | About | Login</nav>"
        "<article><h1>Open models win</h1><p>Meta released Llama in March, and the open source community "
        "built hundreds of variants within weeks.</p><p>Vicuna was trained for a few hundred dollars by a "
        "team at Berkeley.</p></article><footer>Share this article on Twitter</footer></body></html>",
        encoding="utf-8",
    )
    app.ingest([page], progress=False)
    [document] = app.documents()
    assert document.title == "Open models win"
    answer = app.ask("How much did it cost to train Vicuna?")
    assert "a few hundred dollars" in answer.citations[0].text
    assert "Home | About" not in answer.citations[0].text


def test_a_web_page_saved_by_chrome_or_safari_answers_as_the_page_does(tmp_path, app_factory):
    import plistlib
    import quopri

    page = ('<html><head><meta charset="utf-8"><title>Panama Canal history</title></head><body><nav><a href="/">'
            "Home</a> <a href=\"/news\">News</a></nav><article><h1>Panama Canal history</h1><p>The Panama Canal opened "
            "to shipping on 15 August 1914, after ten years of work by the United States.</p><p>Its locks lift "
            "ships 26 metres to Gatún Lake, and café owners in Colón cheered the first ships.</p></article></body>"
            "</html>").encode("utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    # As Chrome saves "Webpage, Single File": the page quoted-printable, then its images, as MIME parts.
    boundary = "----MultipartBoundary--abc123----"
    (docs / "canal.mhtml").write_bytes(
        (f"From: <Saved by Blink>\r\nSubject: Panama Canal history\r\nMIME-Version: 1.0\r\nContent-Type: "
         f'multipart/related;\r\n\ttype="text/html";\r\n\tboundary="{boundary}"\r\n\r\n\r\n--{boundary}\r\n'
         "Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n"
         "Content-Location: https://example.org/canal\r\n\r\n").encode("ascii")
        + quopri.encodestring(page).replace(b"\n", b"\r\n")
        + (f"\r\n--{boundary}\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           f"iVBORw0KGgo=\r\n\r\n--{boundary}--\r\n").encode("ascii"))
    (docs / "locks.webarchive").write_bytes(plistlib.dumps({"WebMainResource": {
        "WebResourceData": page.replace(b"Panama Canal history", b"The locks"), "WebResourceMIMEType": "text/html",
        "WebResourceTextEncodingName": "UTF-8", "WebResourceURL": "https://example.org/locks"}}, fmt=plistlib.FMT_BINARY))
    (docs / "empty.mhtml").write_bytes(b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nno page here\r\n")
    (docs / "renamed.webarchive").write_bytes(b"<html>not a property list</html>")
    app = app_factory(tmp_path / "data")
    report = app.ingest([docs], progress=False)
    assert report.documents_added == 2
    reasons = {Path(path).name: reason for path, reason in report.failures}
    assert reasons["empty.mhtml"].startswith("no web page in the MHTML file")
    assert reasons["renamed.webarchive"].startswith("not a Safari web archive")
    assert sorted(d.title for d in app.documents()) == ["Panama Canal history", "The locks"]
    answer = app.ask("When did the Panama Canal open to shipping?")
    assert "15 August 1914" in answer.text and "Home" not in answer.citations[0].text
    assert "café owners in Colón" in app.ask("Who cheered the first ships at Gatún Lake?").citations[0].text


def test_a_short_html_page_leaves_its_menu_out(tmp_path, app_factory):
    # On a page this short, trafilatura falls back to all of its text, menu links included.
    page = tmp_path / "vicuna.html"
    page.write_text(
        '<html><head><title>Vicuna</title></head><body><nav><a href="/">Home</a> <a href="/news">News</a> '
        '<a href="/about">About us</a></nav><div role="navigation"><a href="/login">Log in</a></div>'
        "<article><h1>Vicuna</h1><p>Vicuna was trained for about 300 dollars by researchers from Berkeley, "
        "CMU and Stanford.</p></article></body></html>",
        encoding="utf-8",
    )
    app = app_factory(tmp_path / "data")
    app.ingest([page], progress=False)
    [(chunk, _)] = list(app.store.iter_chunks())
    assert chunk.text == "Vicuna\nVicuna was trained for about 300 dollars by researchers from Berkeley, CMU and Stanford."


def ask_of_a_pdf(tmp_path, app_factory, pages: list[str], question: str, document=None):
    """An app over one PDF whose pages hold `pages` (11-point Helvetica, as `document`, an FPDF,
    lays them out: a plain one by default), and its answer to `question`."""
    from fpdf import FPDF

    pdf = document or FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    path = tmp_path / "report.pdf"
    pdf.output(str(path))
    app = app_factory(tmp_path / "data")
    assert app.ingest([path], progress=False).documents_added == 1
    return app, app.ask(question)


def test_pdf_text_layer_is_ingested_and_cited(tmp_path, app_factory):
    _, answer = ask_of_a_pdf(tmp_path, app_factory, ["Stable Diffusion is an open source image model.\n\n"
                                                     "It rivals DALL-E 3 in quality."],
                             "Which open source image model rivals DALL-E 3?")
    assert "Stable Diffusion" in answer.citations[0].text


def test_an_answer_from_a_pdf_quotes_whole_sentences_on_one_line_though_the_page_wraps_them(tmp_path, app_factory):
    _, answer = ask_of_a_pdf(tmp_path, app_factory, [
        "The Warsaw Stock Exchange was closed during the Second World War and reopened in April 1991, after the "
        "fall of communism. Its first session listed five companies, and trading took place once a week. The "
        "exchange was privatised in 2010, when the state sold a majority of its shares in a public offering that "
        "drew strong demand from investors."], "When was the Warsaw exchange privatised?")
    assert answer.answerable and "\n" not in answer.text
    assert "privatised in 2010, when the state sold a majority of its shares in a public offering" in answer.text
    # The citation is the exact text, line breaks and all: the quoted span is one sentence over two lines.
    cited = answer.citations[0]
    quoted = [cited.text[span.start - cited.start : span.end - cited.start] for span in cited.answer_spans]
    assert any("2010" in q and "\n" in q and q.endswith("investors.") for q in quoted)


def test_a_sentence_that_runs_over_a_pdf_page_break_is_quoted_whole_without_the_pages_header_and_number(
        tmp_path, app_factory):
    from fpdf import FPDF

    class Report(FPDF):
        def header(self):
            self.set_font("Helvetica", size=9)
            self.cell(0, 6, "Warsaw Stock Exchange: Annual Report")
            self.ln(10)
            self.set_font("Helvetica", size=11)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 10, f"Page {self.page_no()} of 2")

    app, answer = ask_of_a_pdf(tmp_path, app_factory, [
        "The Warsaw Stock Exchange was closed during the Second World War and reopened in April 1991, after the "
        "fall of communism. Its first session listed five companies, and trading took place once a week. The "
        "exchange was privatised in 2010, when the state sold a",
        "majority of its shares in a public offering that drew strong demand from investors. Today more than four "
        "hundred companies are listed."], "When was the Warsaw exchange privatised?", Report())
    assert "privatised in 2010, when the state sold a majority of its shares in a public offering" in answer.text
    cited = next(c for c in answer.citations if "privatised" in c.text)
    assert (cited.first_page, cited.last_page) == (1, 2) and cited.place.startswith("pp. 1–2, chars ")
    assert cited.to_json()["pages"] == [1, 2]
    chunks = sorted((c for c, _ in app.store.iter_chunks()), key=lambda c: c.position)
    assert not any("Page" in c.text for c in chunks)
    assert chunks[0].text.startswith("Warsaw Stock Exchange: Annual Report\n")  # the first page's header: its title
    assert not any("Annual Report" in c.text for c in chunks[1:])


def test_the_sources_of_an_answer_from_a_pdf_name_its_page(data_dir, tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in ("The Warsaw Stock Exchange reopened in April 1991, after the fall of communism. Its first session "
                 "listed five companies, and trading took place once a week. Volumes grew quickly through the "
                 "decade as foreign investors arrived. The exchange was privatised in 2010.",
                 "Electronic trading replaced the trading floor of the old Communist Party headquarters in the "
                 "year 2000, and the building became a cinema and offices soon after."):
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(tmp_path / "warsaw.pdf"))
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(tmp_path / "warsaw.pdf")]).exit_code == 0
    output = runner.invoke(cli, ["ask", "When was the Warsaw exchange privatised?"]).output.splitlines()
    assert output[output.index("Sources:") + 1].startswith("[1] warsaw.pdf  p. 1, chars 0–")


def test_a_word_hyphenated_at_a_pdf_line_end_reads_whole(tmp_path, app_factory):
    _, answer = ask_of_a_pdf(tmp_path, app_factory, [
        "The exchange publishes its trading rules, settlement calendars and the infor-\nmation that listed "
        "companies must disclose every quarter, in Polish and English."],
        "What information must listed companies disclose?")
    assert "the information that listed companies must disclose every quarter" in answer.text


def test_pages_lose_their_running_headers_and_numbers_and_a_sentence_runs_on_over_the_break():
    from ingest.readers import joined_pages

    pages = ["Journal of Markets\nThe exchange reopened in 1991.\nIts first session listed five\n1",
             "2\nJournal of Markets\ncompanies, and trading took place once a week.\nTable 1\n- 2 -",
             "   ",  # a page left blank
             "Journal of Markets\nDuring 2010 the state sold its shares.\niii",
             "Journal of Markets\nToday 400 companies are listed.\nTable 2"]
    joined = joined_pages(pages)
    assert joined.text == (
        "Journal of Markets\nThe exchange reopened in 1991.\nIts first session listed five\n"
        "companies, and trading took place once a week.\nTable 1\n"  # a caption on half the pages is no footer
        "During 2010 the state sold its shares.\n\n"
        "Today 400 companies are listed.\nTable 2")
    starts = [joined.text.index(opening) for opening in ("Journal", "companies", "During", "During", "Today")]
    assert joined.page_starts == tuple(starts)  # the blank page starts where the next one does
    header, number = "running header or footer", "page number"
    assert joined.left_out == ((number, "N"), (number, "N"), (header, "Journal of Markets"), (number, "- N -"),
                               (header, "Journal of Markets"), (number, "iii"), (header, "Journal of Markets"))


def test_broken_pdf_is_reported_in_one_line_and_batch_goes_on(tmp_path, app_factory, capfd):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    (docs / "gzipped.pdf").write_bytes(b"\x1f\x8b\x08\x00\x00binary")
    from fpdf import FPDF

    locked = FPDF()
    locked.set_encryption(owner_password="owner", user_password="secret")
    locked.add_page()
    locked.set_font("Helvetica", size=12)
    locked.cell(0, 10, "Salaries of the board, 2024.")
    locked.output(str(docs / "locked.pdf"))
    (docs / "good.md").write_text("# Good\n\nA good article about open models.\n", encoding="utf-8")
    report = app_factory(tmp_path / "data").ingest([docs], progress=False)
    assert report.documents_added == 1
    reasons = {Path(path).name: reason for path, reason in report.failures}
    assert sorted(reasons) == ["broken.pdf", "gzipped.pdf", "locked.pdf"]
    assert "not a readable PDF" in reasons["broken.pdf"] and "not a readable PDF" in reasons["gzipped.pdf"]
    assert "password-protected" in reasons["locked.pdf"]
    assert not capfd.readouterr().err, "no stray lines of PDFium's"


def ingest_review(tmp_path, app_factory, save_review, unreadable: str, unreadable_bytes: bytes):
    """An app over a folder holding a quarterly review (a heading, a paragraph, a list, a table)
    that `save_review(folder)` writes in some word processor's format, and an `unreadable` file;
    checked: the review answers from a list item and names its title, the other fails alone.
    Returns the app and the other's reason."""
    docs = tmp_path / "docs"
    docs.mkdir()
    save_review(docs)
    (docs / unreadable).write_bytes(unreadable_bytes)
    app = app_factory(tmp_path / "data")
    report = app.ingest([docs], progress=False)
    assert report.documents_added == 1
    [(failed, reason)] = report.failures
    assert Path(failed).name == unreadable
    answer = app.ask("How many engineers were hired for the Lyon office?")
    assert answer.text == "Hired 40 engineers for the Lyon office [1]"
    assert answer.citations[0].title == "Quarterly review"
    return app, reason


def test_a_word_document_answers_from_its_paragraphs_list_items_and_tables(tmp_path, app_factory):
    import docx

    def save_review(folder: Path) -> None:
        from docx.opc.constants import RELATIONSHIP_TYPE
        from docx.opc.packuri import PackURI
        from docx.opc.part import Part
        from docx.oxml import parse_xml

        document = docx.Document()
        document.core_properties.title = "Quarterly review"
        document.add_heading("Quarterly review", 1)
        paragraph = document.add_paragraph("Revenue grew by twelve percent in the third quarter,")
        # A footnote, as Word writes one (python-docx writes none): a reference in the run, its text in a part.
        w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
        paragraph.add_run()._r.append(parse_xml(f'<w:footnoteReference {w} w:id="1"/>'))
        paragraph.add_run(" driven by the storage line.")
        notes = (f'<w:footnotes {w}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
                 '</w:footnote><w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve">'
                 " Source: the finance team's ledger.</w:t></w:r></w:p></w:footnote></w:footnotes>")
        document.part.relate_to(Part(PackURI("/word/footnotes.xml"), "application/vnd.openxmlformats-"
                                     "officedocument.wordprocessingml.footnotes+xml", notes.encode(),
                                     document.part.package), RELATIONSHIP_TYPE.FOOTNOTES)
        document.add_paragraph("Hired 40 engineers for the Lyon office", style="List Bullet")
        table = document.add_table(rows=3, cols=2)
        for cell, text in zip(table._cells, ["Region", "Revenue", "Europe", "4.2 million euros", "", ""]):
            cell.text = text
        table.cell(2, 0).merge(table.cell(2, 1)).text = "Figures are unaudited"  # one cell over two columns
        document.save(str(folder / "review.docx"))

    app, reason = ingest_review(tmp_path, app_factory, save_review, "old.docx", b"\xd0\xcf\x11\xe0 an old Word file")
    assert "saved as .docx" in reason
    assert "| Europe | 4.2 million euros |" in app.ask("What was the revenue in Europe?").text
    text = app.store.document_chunks(["review"])[0][0].text + "\n"
    assert "| Figures are unaudited |\n" in text
    assert "driven by the storage line.\n1. Source: the finance team's ledger.\n- Hired" in text


def test_a_libreoffice_document_answers_from_its_paragraphs_list_items_and_tables(tmp_path, app_factory):
    from odfdo import Document, Header, List, Note, Paragraph, Table

    def save_review(folder: Path) -> None:
        document = Document("text")
        document.meta.title = "Quarterly review"
        document.body.append(Header(1, "Quarterly review"))
        paragraph = Paragraph("Revenue grew by twelve percent in the third quarter,")
        paragraph.append(Note(note_class="footnote", note_id="n1", citation="1", body="Figures are unaudited."))
        paragraph.append(" driven by the storage line.")
        document.body.append(paragraph)
        document.body.append(List(["Hired 40 engineers for the Lyon office", "Opened a shop in Nantes"]))
        table = Table("Revenue", width=2, height=2)
        for cell, text in zip(("A1", "B1", "A2", "B2"), ("Region", "Revenue", "Europe", "4.2 million euros")):
            table.set_value(cell, text)
        document.body.append(table)
        document.save(str(folder / "review.odt"))

    app, reason = ingest_review(tmp_path, app_factory, save_review, "broken.odt", b"PK\x03\x04 not a whole archive")
    assert "not a readable OpenDocument text" in reason
    [(chunk, _)] = app.store.document_chunks(["review"])
    assert chunk.text == ("Quarterly review\nRevenue grew by twelve percent in the third quarter, driven by the storage "
                          "line.\n1. Figures are unaudited.\n"  # a footnote after its paragraph, not inside its sentence
                          "- Hired 40 engineers for the Lyon office\n- Opened a shop in Nantes\n"
                          "| Region | Revenue |\n| Europe | 4.2 million euros |")


def test_a_textedit_rtf_file_answers_from_its_paragraphs(tmp_path, app_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    # As macOS TextEdit writes it: a backslash ends each paragraph; accents and Chinese are escapes.
    (docs / "warsaw.rtf").write_text(
        "{\\rtf1\\ansi\\ansicpg1252\\cocoartf2709\n{\\fonttbl\\f0\\fswiss\\fcharset0 Helvetica;}\n"
        "{\\info{\\title Warsaw notes}}\n\\f0\\fs24 \\cf0 Warsaw exchange\\\n\\\n"
        "The Warsaw Stock Exchange reopened in April 1991, after the fall of communism. Caf\\'e9 owners in "
        "Krak\\'f3w and \\uc0\\u21326 \\u27801  traders were pleased.\\\n\\\nIt listed five companies at first.}",
        encoding="ascii")
    (docs / "fake.rtf").write_text("plain text under an .rtf name", encoding="utf-8")
    app = app_factory(tmp_path / "data")
    report = app.ingest([docs], progress=False)
    assert report.documents_added == 1 and [Path(p).name for p, _ in report.failures] == ["fake.rtf"]
    answer = app.ask("When did the Warsaw Stock Exchange reopen?")
    assert answer.text.startswith("The Warsaw Stock Exchange reopened in April 1991, after the fall of communism. [1]")
    assert "Café owners in Kraków and 华沙 traders" in answer.citations[0].text
    assert "Warsaw notes" not in answer.citations[0].text and "\\" not in answer.citations[0].text


def test_a_powerpoint_deck_answers_from_its_bullets_tables_and_speaker_notes(tmp_path, app_factory):
    from pptx import Presentation
    from pptx.util import Inches

    def save_review(folder: Path) -> None:
        deck = Presentation()
        deck.core_properties.title = "Quarterly review"
        slide = deck.slides.add_slide(deck.slide_layouts[1])  # a title and a body of bullets
        slide.shapes.title.text = "Quarterly review"
        bullets = slide.placeholders[1].text_frame
        bullets.text = "Hired 40 engineers for the Lyon office"
        bullets.add_paragraph().text = "Opened a shop in Nantes"
        slide.notes_slide.notes_text_frame.text = "Revenue grew by twelve percent, driven by the storage line."
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # a title only
        slide.shapes.title.text = "Revenue by region"
        table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
        for cell, text in zip((table.cell(0, 0), table.cell(0, 1), table.cell(1, 0), table.cell(1, 1)),
                              ("Region", "Revenue", "Europe", "4.2 million euros")):
            cell.text = text
        deck.save(str(folder / "review.pptx"))

    app, reason = ingest_review(tmp_path, app_factory, save_review, "old.pptx", b"\xd0\xcf\x11\xe0 an old .ppt")
    assert "saved as .pptx" in reason
    answer = app.ask("Why did revenue grow?")
    assert "driven by the storage line" in answer.text
    assert answer.citations[0].place == "slides 1–2, chars 0–214"  # the whole deck is one passage
    text = "\n".join(c.text for c, _ in sorted(app.store.iter_chunks(), key=lambda pair: pair[0].position))
    assert "Revenue by region\n| Region | Revenue |\n| Europe | 4.2 million euros |" in text


def write_epub(path: Path, title: str, pages: dict[str, str]) -> None:
    """An EPUB 3 as e-book tools write one: its package file lists `pages` (name: XHTML body) in order."""
    import zipfile

    items = "".join(f'<item id="p{i}" href="text/{name}" media-type="application/xhtml+xml"/>'
                    for i, name in enumerate(pages))
    spine = "".join(f'<itemref idref="p{i}"/>' for i in range(len(pages)))
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml",
                      '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:'
                      'container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                      'media-type="application/oebps-package+xml"/></rootfiles></container>')
        book.writestr("OEBPS/content.opf",
                      '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
                      f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title>'
                      f'</metadata><manifest>{items}</manifest><spine>{spine}</spine></package>')
        for name, body in pages.items():
            book.writestr(f"OEBPS/text/{name}", '<?xml version="1.0" encoding="utf-8"?><html xmlns='
                          f'"http://www.w3.org/1999/xhtml"><head><title>{name}</title></head><body>{body}</body></html>')


def test_an_epub_book_answers_from_its_chapters_in_reading_order(tmp_path, app_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    write_epub(docs / "exchange.epub", "A History of the Warsaw Exchange", {
        "nav.xhtml": '<nav epub:type="toc"><ol><li><a href="ch1.xhtml">Closing</a></li>'
                     '<li><a href="ch%202.xhtml">Reopening</a></li></ol></nav>',
        "ch1.xhtml": "<h1>Closing</h1><p>The Warsaw Stock Exchange was closed in 1939, when the war began, "
                     "and its building was taken over by the occupying army for the rest of the war.</p>",
        "ch 2.xhtml": "<h1>Reopening</h1><p>The exchange reopened in April 1991, after the fall of communism, "
                      "in the former headquarters of the Communist Party.</p><p>Its first session listed five "
                      "companies, and trading took place once a week.</p>",
    })
    (docs / "renamed.epub").write_bytes(b"an EPUB that is not a zip")
    app = app_factory(tmp_path / "data")
    report = app.ingest([docs], progress=False)
    assert report.documents_added == 1
    [(failed, reason)] = report.failures
    assert Path(failed).name == "renamed.epub" and "not a readable EPUB" in reason
    answer = app.ask("Where did the Warsaw exchange reopen in 1991?")
    assert "in the former headquarters of the Communist Party" in answer.text
    assert answer.citations[0].title == "A History of the Warsaw Exchange"
    text = "\n".join(c.text for c, _ in sorted(app.store.iter_chunks(), key=lambda pair: pair[0].position))
    assert text.index("closed in 1939") < text.index("reopened in April 1991") and "Closing\nReopening" not in text


def test_markdown_heading_and_byte_order_mark_stay_out_of_title_and_passages(tmp_path, app_factory):
    # Notepad saves UTF-8 with a byte-order mark; a Markdown title opens with "# ".
    article = tmp_path / "chiens.md"
    article.write_bytes("\ufeff# Les chiens\n\nLe chien aboie quand le facteur arrive le matin.\n".encode("utf-8"))
    app = app_factory(tmp_path / "data")
    app.ingest([article], progress=False)
    [document] = app.documents()
    assert document.title == "Les chiens"
    citation = app.ask("Quand le chien aboie-t-il ?").citations[0]
    assert citation.title == "Les chiens" and citation.text.startswith("# Les chiens")
    assert citation.text == article.read_text(encoding="utf-8")[citation.start : citation.end], "offsets still exact"


@pytest.mark.parametrize("front_matter", [
    '---\ntitle: "Llamas of the Andes"\ndate: 2023-05-01\ntags: [animals]\n---\n',  # Jekyll, Obsidian
    '+++\ntitle = "Llamas of the Andes"\ndraft = false\n+++\n',  # Hugo
])
def test_a_markdown_files_front_matter_gives_its_title_and_stays_out_of_its_passages(tmp_path, app_factory,
                                                                                     front_matter):
    article = tmp_path / "llamas.md"
    article.write_text(front_matter + "\nThe Incas domesticated llamas. A llama carries loads of up to 30 kg.\n",
                       encoding="utf-8")
    app = app_factory(tmp_path / "data")
    report = app.ingest([article], progress=False)
    [document] = app.documents()
    assert document.title == "Llamas of the Andes"
    assert {reason for _, lines in report.dropped for reason, _ in lines} == {"front matter"}
    citation = app.ask("How heavy a load can a llama carry?").citations[0]
    assert citation.text.startswith("The Incas") and citation.title == "Llamas of the Andes"
    assert citation.text == article.read_text(encoding="utf-8")[citation.start : citation.end], "offsets still exact"


def test_a_horizontal_rule_opening_a_file_is_no_front_matter(tmp_path, app_factory):
    article = tmp_path / "rule.md"
    article.write_text("---\n\nThe Incas domesticated llamas.\n\n---\n\nA llama carries up to 30 kg.\n",
                       encoding="utf-8")
    app = app_factory(tmp_path / "data")
    app.ingest([article], progress=False)
    assert "30 kg" in app.ask("How heavy a load can a llama carry?").text
    assert app.documents()[0].title == "The Incas domesticated llamas."


def test_oversized_file_is_refused_naming_the_limit(tmp_path, app_factory):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing on disk
    report = app_factory(tmp_path / "data").ingest([big], progress=False)
    assert report.failures == ((str(big), "50.0 MB is over the 20 MB limit (set CORPUS_QA_MAX_FILE_MB to raise it)"),)


def test_the_size_limit_counts_in_the_mb_the_upload_widget_shows(tmp_path, app_factory):
    # gradio's widget shows sizes in MB of 2**20 bytes: a limit of 1 MB takes exactly 1,048,576 bytes.
    folder = tmp_path / "docs"
    folder.mkdir()
    text = b"The canal opened in 1914."
    (folder / "at-limit.txt").write_bytes(text.ljust(2**20))
    (folder / "over-limit.txt").write_bytes(text.ljust(2**20 + 1))
    assert (folder / "at-limit.txt").stat().st_size == 2**20
    report = app_factory(tmp_path / "data", CORPUS_QA_MAX_FILE_MB="1").ingest([folder], progress=False)
    assert report.documents_added == 1
    assert report.failures == ((str(folder / "over-limit.txt"),
                                "1.0 MB is over the 1 MB limit (set CORPUS_QA_MAX_FILE_MB to raise it)"),)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_reported_and_batch_goes_on(tmp_path, app_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "secret.txt").write_text("secret", encoding="utf-8")
    (docs / "secret.txt").chmod(0)
    (docs / "good.txt").write_text("A good article about open models.\n", encoding="utf-8")
    report = app_factory(tmp_path / "data").ingest([docs], progress=False)
    assert report.documents_added == 1 and "Permission denied" in report.failures[0][1]


def test_broken_link_is_skipped_with_a_reason(tmp_path, app_factory):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    report = app_factory(tmp_path / "data").ingest([docs], progress=False)
    assert report.skipped == ((str(docs / "gone.txt"), "broken link: its target is missing"),)


def test_duplicated_french_text_is_stored_once(bundled_app):
    text = (bundled_corpus() / "004_ffe0c9b88f98e370.txt").read_text(encoding="utf-8")
    second_copy = text.index("En mars de cette année", text.index("En mars de cette année") + 1)
    ends = [c.end for c, _ in bundled_app.store.iter_chunks() if c.doc_id == "004_ffe0c9b88f98e370"]
    assert ends and max(ends) < second_copy


def test_renamed_file_is_recognised_not_reembedded(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    docs = copy_bundled(tmp_path / "docs")
    app.ingest([docs], progress=False)
    (docs / "000_4fc921b019ce263b.txt").rename(docs / "renamed.txt")
    report = app.ingest([docs], progress=False)
    assert (report.documents_renamed, report.chunks_embedded, report.documents_added) == (1, 0, 0)
    cited = app.ask("Which university created the Chatbot Arena ranking?").citations
    assert any(c.source == str(docs / "renamed.txt") for c in cited)
    assert not any(c.source.endswith("000_4fc921b019ce263b.txt") for c in cited)


def test_prune_removes_documents_whose_files_are_gone(tmp_path, app_factory):
    app = app_factory(tmp_path / "data")
    docs = copy_bundled(tmp_path / "docs")
    app.ingest([docs], progress=False)
    (docs / "003_80d0b2240b685e2e.txt").unlink()
    assert app.ingest([docs], progress=False).documents_removed == 0, "nothing is removed without --prune"
    report = app.ingest([docs], progress=False, prune=True)
    assert report.documents_removed == 1
    assert "003_80d0b2240b685e2e" not in {d.doc_id for d in app.documents()}
    assert not any(c.chunk_id.startswith("003_") for c in app.ask("Stable Diffusion", k=20).citations)


def test_remove_by_id_or_path_then_unknown_exits_2(data_dir, tmp_path):
    docs = copy_bundled(tmp_path / "docs")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(docs)]).exit_code == 0
    by_id = runner.invoke(cli, ["remove", "003_80d0b2240b685e2e"])
    assert by_id.exit_code == 0 and "removed 003_80d0b2240b685e2e" in by_id.output
    by_path = runner.invoke(cli, ["remove", str(docs / "004_ffe0c9b88f98e370.txt")])
    assert by_path.exit_code == 0 and "removed 004_ffe0c9b88f98e370" in by_path.output
    status = json.loads(runner.invoke(cli, ["status", "--json"]).output)
    assert status["documents"] == 3
    assert runner.invoke(cli, ["remove", "003_80d0b2240b685e2e"]).exit_code == 2


def test_status_lists_each_document_with_language_chunks_and_hash(data_dir):
    runner = CliRunner()
    runner.invoke(cli, ["ingest"])
    lines = runner.invoke(cli, ["status"]).output.splitlines()
    row = next(line for line in lines if "001_60e2eac473953ea2" in line)
    assert " zh " in row and " chunks " in row and "sha256:" in row and row.endswith("001_60e2eac473953ea2.txt")


def test_status_keeps_its_columns_for_wide_and_long_file_names(data_dir, tmp_path):
    from ingest.text import text_width

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "新闻 (1).txt").write_text("华沙证券交易所于1991年恢复运营。\n", encoding="utf-8")
    (docs / ("Everest " * 12 + ".txt")).write_text("Mount Everest is 8,849 m tall.\n", encoding="utf-8")
    (docs / "Ça va.txt").write_text("Le Louvre est un musée à Paris.\n", encoding="utf-8")
    runner = CliRunner()
    runner.invoke(cli, ["ingest", str(docs)])
    rows = [line for line in runner.invoke(cli, ["status"]).output.splitlines() if " chunks " in line]
    assert len(rows) == 3
    assert len({text_width(row, 0, row.index(" chunks ")) for row in rows}) == 1, rows
    assert any("Everest…" in row and row.endswith("Everest .txt") for row in rows), "cut in its column, whole at the end"


def test_a_saved_web_page_s_images_and_scripts_are_counted_by_type_in_one_line(data_dir, tmp_path):
    page = tmp_path / "saved"
    (page / "Canal_files").mkdir(parents=True)
    (page / "Canal.html").write_text("<html><head><title>Panama Canal</title></head><body><article><p>The Panama "
                                     "Canal opened to shipping in 1914.</p></article></body></html>", encoding="utf-8")
    for name in ("a.js", "b.js", "c.js", "a.css", "b.css", "logo.png", "photo.png", "photo2.png"):
        (page / "Canal_files" / name).write_bytes(b"not text")
    runner = CliRunner()
    lines = runner.invoke(cli, ["ingest", str(page)]).output.splitlines()
    assert [line for line in lines if line.startswith("skipped")] == [
        "skipped 8 files (3 .js, 3 .png, 2 .css): unsupported file type (supported: .docx, .epub, .htm, .html, "
        ".markdown, .md, .mht, .mhtml, .odt, .pdf, .pptx, .rtf, .txt, .webarchive); -v lists them"]
    listed = [line for line in runner.invoke(cli, ["ingest", str(page), "-v"]).output.splitlines()
              if line.startswith("skipped")]
    assert len(listed) == 8 and listed[0].startswith(f"skipped {page}/Canal_files/a.css: unsupported file type")


def test_a_newline_in_a_file_name_keeps_every_output_on_its_lines(data_dir, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "canal\nhistory.txt").write_text("The Panama Canal opened to shipping in 1914.\n", encoding="utf-8")
    (docs / "odd\tname.bin").write_bytes(b"\x00")
    runner = CliRunner()
    ingested = runner.invoke(cli, ["ingest", str(docs)])
    assert ingested.exit_code == 0
    lines = ingested.output.splitlines()
    assert f"[1/1] {docs}/canal\\nhistory.txt: 1 chunks" in lines
    assert any(line.startswith(f"skipped {docs}/odd\\tname.bin: ") for line in lines)
    rows = [line for line in runner.invoke(cli, ["status"]).output.splitlines() if "sha256:" in line]
    assert len(rows) == 1 and rows[0].endswith(f"{docs}/canal\\nhistory.txt")
    answer = runner.invoke(cli, ["ask", "When did the Panama Canal open?", "-k", "1"]).output.splitlines()
    assert answer[0].startswith("The Panama Canal opened to shipping in 1914.")
    assert answer[answer.index("Sources:") + 1].startswith("[1] canal\\nhistory.txt  chars 0–")


def test_verbose_shows_what_cleaning_left_out(data_dir):
    result = CliRunner().invoke(cli, ["ingest", "-v"])
    assert "template placeholder" in result.output and "{{author}}" in result.output
    assert "repeated text" in result.output


def test_german_document_language_is_detected(app_with_document):
    app, _ = app_with_document("Offene Modelle\n\nDie offenen Sprachmodelle werden immer besser und die "
                               "Gemeinschaft wächst jeden Tag weiter.\n", "de.txt")
    assert app.documents()[0].lang == "de"


@pytest.mark.parametrize("text, lang", [
    ("Alpha beta gamma. The zeppelin flew over Lyon in 1912.", "en"),  # py3langid alone: Nynorsk
    ("Le zeppelin a survolé Lyon en 1912.", "fr"),  # Haitian Creole
    ("飞艇于1912年飞越里昂。", "zh"),  # Wu Chinese
    ("El zepelín sobrevoló Lyon en 1912.", "es"),  # Extremaduran
    ("Der Zeppelin flog 1912 über Lyon.", "de"),
])
def test_a_short_document_is_labelled_with_its_language_not_a_neighbour(app_with_document, text, lang):
    app, _ = app_with_document(text + "\n")
    assert app.documents()[0].lang == lang


def test_plain_progress_lines_when_output_is_not_a_terminal(data_dir):
    proc = subprocess.run([str(EXE), "ingest"], capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode == 0
    assert [line.split("]")[0] for line in proc.stderr.splitlines() if line.startswith("[")] == [
        "[1/5", "[2/5", "[3/5", "[4/5", "[5/5"]
    # Then, before the summary, why it waits: the keyword index is rebuilt from the store.
    assert proc.stderr.splitlines()[-1] == "updating the keyword index ..."


def stored_chunks(data: Path) -> list[tuple[str, str]]:
    code = ("import json, sys; from qa.settings import load_settings; from qa.app import build_app; "
            "app = build_app(load_settings({'CORPUS_QA_DATA_DIR': sys.argv[1], "
            "'CORPUS_QA_CACHE_DIR': sys.argv[2]})); "
            "print(json.dumps([sorted((c.chunk_id, c.text) for c, _ in app.store.iter_chunks()), "
            "sorted(app.keywords().chunk_ids), "
            "len(app.documents())]))")
    out = subprocess.run([sys.executable, "-c", code, str(data), os.environ["CORPUS_QA_CACHE_DIR"]],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_kill_during_ingest_then_resume_gives_same_chunks(tmp_path):
    docs = write_xquad_copies(tmp_path / "docs")
    env = {**os.environ, "CORPUS_QA_WRITE_BATCH_CHUNKS": "40"}
    killed = {**env, "CORPUS_QA_DATA_DIR": str(tmp_path / "killed")}
    proc = subprocess.Popen([str(EXE), "ingest", str(docs)], env=killed, stderr=subprocess.PIPE, text=True)
    for _ in range(20):  # let it store some documents, then kill it without warning
        proc.stderr.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run([str(EXE), "ingest", str(docs)], env=killed, check=True, capture_output=True)
    clean = {**env, "CORPUS_QA_DATA_DIR": str(tmp_path / "clean")}
    subprocess.run([str(EXE), "ingest", str(docs)], env=clean, check=True, capture_output=True)
    resumed, fresh = stored_chunks(tmp_path / "killed"), stored_chunks(tmp_path / "clean")
    assert resumed[2] == fresh[2] == 48
    assert resumed[0] == fresh[0], "exactly the chunks of a clean ingest: nothing lost, nothing doubled"
    assert resumed[1] == sorted(chunk_id for chunk_id, _ in fresh[0]), "the keyword index matches the store"
