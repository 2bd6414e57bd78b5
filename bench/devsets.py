"""The labelled question sets and their corpora, each ingested into its own cached data dir.

`bench/eval.py` (`make eval`) and `bench/fit.py` (`make fit`) both read them from here.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest import bundled_corpus  # noqa: E402
from qa.app import App, build_app  # noqa: E402
from qa.conversation import Turn
from qa.evaluate import QuestionLine, read_question_file  # noqa: E402
from qa.settings import load_settings  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
OWN = ROOT / "bench" / "questions"
# Cached between runs: ingest is incremental, so a second run embeds nothing.
DATA = ROOT / "bench" / "results" / "eval-data"


@dataclass(frozen=True)
class QuestionSet:
    """Labelled questions on one corpus."""

    name: str
    corpus: str  # the key of CORPORA its articles are in
    path: Path
    conversations: bool = False  # its lines carry the conversation so far (FORMAT.md, "Conversations")
    switches: bool = False  # each question asked after a turn about another article: a topic switch
    fitted: bool = True  # `make fit` learns from it; not a set whose articles are another set's, re-laid out
    verifiable: bool = True  # verify.py can read its sources as text (not a PDF's)

    def lines(self) -> list[QuestionLine]:
        """Its questions, as `corpus-qa eval` reads them; as topic switches, each after the
        nearest earlier question of the file about another article, and its gold answer."""
        lines = read_question_file(self.path)
        if not self.switches:
            return lines
        asked = [line for line in lines if line.gold and line.gold.get("answerable") and not line.error]
        switched = []
        for at, line in enumerate(asked):
            before = next((b for b in reversed(asked[:at] or asked) if b.gold["doc"] != line.gold["doc"]), None)
            if before is not None:
                answer = (before.gold.get("answer_any") or [""])[0]
                switched.append(replace(line, id=f"{line.id}-switch",
                                        history=(Turn(before.question, answer),)))
        return switched


# Corpora made from another one by `make_corpora`, each in its own folder.
MADE = ROOT / "bench" / "results" / "eval-corpora"
CORPORA = {
    "bundled": bundled_corpus(),
    "xquad": EVAL / "xquad-dev" / "corpus",
    "scale": EVAL / "scale-dev" / "corpus",
    "quac": EVAL / "conversations-dev" / "wiki" / "corpus",
    # The bundled articles hard-wrapped at 72 columns, as `fmt` or a PDF's text layer lays text out.
    "bundled-wrapped": MADE / "bundled-wrapped",
    # Notes as people keep them: lists, tables, fields, tasks, callouts, links, a hard-wrapped report.
    "notes": OWN / "notes-corpus",
    # The bundled articles printed to PDF: A4 pages with a running header and "Page 2 of 3" under each.
    "bundled-pdf": MADE / "bundled-pdf",
}
# The sets asked of the bundled articles again, hard-wrapped: answers should not change.
_ASKED_WRAPPED = ("dev.jsonl", "own/news-paraphrase", "own/news-fresh", "own/news-extra")

QUESTION_SETS = [
    QuestionSet("dev.jsonl", "bundled", EVAL / "dev.jsonl"),
    QuestionSet("xquad-dev", "xquad", EVAL / "xquad-dev" / "questions.jsonl"),
    QuestionSet("scale-dev", "scale", EVAL / "scale-dev" / "questions.jsonl"),
    QuestionSet("conv/wiki", "quac", EVAL / "conversations-dev" / "wiki" / "questions.jsonl", conversations=True),
    QuestionSet("conv/news-example", "bundled", EVAL / "conversations-dev" / "news-example.jsonl", conversations=True),
    # An own set is asked of the corpus of its name, where there is one; else of the bundled one.
    *(QuestionSet(f"own/{path.stem}", path.stem if path.stem in CORPORA else "bundled", path,
                  conversations=path.stem.startswith("conversations"))
      for path in sorted(OWN.glob("*.jsonl"))),
    # Topic switches: a question that stands alone, asked after a turn on another article.
    QuestionSet("switch/news-paraphrase", "bundled", OWN / "news-paraphrase.jsonl", switches=True),
    QuestionSet("switch/news-fresh", "bundled", OWN / "news-fresh.jsonl", switches=True),
    QuestionSet("switch/xquad-dev", "xquad", EVAL / "xquad-dev" / "questions.jsonl", switches=True),
]
QUESTION_SETS += [replace(s, name=f"{kind}/{s.name.removeprefix('own/')}", corpus=f"bundled-{kind}", fitted=False,
                          verifiable=kind != "pdf")
                  for kind in ("wrapped", "pdf") for s in QUESTION_SETS if s.name in _ASKED_WRAPPED]


def make_corpora() -> None:
    """Write the corpora made from another one (`MADE`), where they are missing or out of date."""
    articles = sorted(source for source in CORPORA["bundled"].glob("*.txt"))
    wrapped_folder = CORPORA["bundled-wrapped"]
    wrapped_folder.mkdir(parents=True, exist_ok=True)
    for source in articles:
        wrapped = "\n".join(_hard_wrapped(line, 72) for line in source.read_text(encoding="utf-8").split("\n"))
        copy = wrapped_folder / source.name
        if not copy.exists() or copy.read_text(encoding="utf-8") != wrapped:
            copy.write_text(wrapped, encoding="utf-8")
    fonts = _unicode_fonts()
    if fonts:
        CORPORA["bundled-pdf"].mkdir(parents=True, exist_ok=True)
        for source in articles:
            copy = CORPORA["bundled-pdf"] / f"{source.stem}.pdf"
            if not copy.exists() or copy.stat().st_mtime < max(source.stat().st_mtime, Path(__file__).stat().st_mtime):
                _print_to_pdf(source.read_text(encoding="utf-8"), copy, fonts)


# Fonts with Chinese in them, where systems keep one; Latin text takes matplotlib's DejaVu Sans.
_CJK_FONTS = ("/usr/share/fonts/**/*CJK*-Regular.tt[cf]", "/usr/share/fonts/**/*CJK*.tt[cf]",
              "/usr/share/fonts/**/wqy*.tt[cf]", "/System/Library/Fonts/PingFang.ttc",
              "/Library/Fonts/Arial Unicode.ttf", "C:/Windows/Fonts/msyh.tt[cf]")


def _unicode_fonts() -> tuple[Path, Path] | None:
    """(a Latin font, a Chinese one) to print the bundled articles with; None, said on stderr, without the latter."""
    import glob

    import matplotlib

    latin = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    found = (Path(path) for pattern in _CJK_FONTS for path in sorted(glob.glob(pattern, recursive=True)))
    chinese = next(found, None)
    if chinese is None or not latin.exists():
        print("no font with Chinese characters found: the pdf/* sets are skipped", file=sys.stderr)
        return None
    return latin, chinese


def _print_to_pdf(text: str, path: Path, fonts: tuple[Path, Path]) -> None:
    """An article as a word processor prints it: each line a paragraph on A4 pages, its first line
    as the running header of every page and a "Page 2 of 3" line under each."""
    from fpdf import FPDF
    from fpdf.enums import WrapMode

    from ingest.text import text_width

    header = " ".join(text.strip().split("\n", 1)[0].split())[:80]

    def font_for(line: str) -> str:
        """The font with the line's characters: the Chinese one where a character is wide (`text_width`)."""
        return "chinese" if text_width(line, 0, len(line)) > len(line) else "latin"

    class Printed(FPDF):
        def header(self):
            self.set_font(font_for(header), size=8)
            self.cell(0, 5, header)
            self.ln(9)

        def footer(self):
            self.set_y(-15)
            self.set_font("latin", size=8)
            self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Printed(format="A4")
    pdf.add_font("latin", fname=str(fonts[0]))
    pdf.add_font("chinese", fname=str(fonts[1]))
    pdf.add_page()
    for line in text.split("\n"):
        if not line.strip():
            pdf.ln(3)
            continue
        font = font_for(line)
        pdf.set_font(font, size=10.5)
        pdf.multi_cell(0, 5.5, line.strip(), wrapmode=WrapMode.CHAR if font == "chinese" else WrapMode.WORD,
                       new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _hard_wrapped(line: str, width: int) -> str:
    """A line broken, greedily, into lines of at most `width` columns (a CJK character takes two):
    at a space, or between two CJK characters, as `fmt` and PDF layout do."""
    from ingest.text import text_width

    lines, current = [], ""
    for piece in re.findall(r"[\u3000-\u9fff\uff00-\uffef]|[^\s\u3000-\u9fff\uff00-\uffef]+|\s+", line):
        if piece.isspace():
            current += " " if current else ""
        elif current and text_width(current + piece, 0, len(current + piece)) > width:
            lines.append(current.rstrip())
            current = piece
        else:
            current += piece
    return "\n".join([*lines, current.rstrip()])


def available_sets(names: list[str] | None = None) -> list[QuestionSet]:
    """The question sets whose files and corpus are here (`names`: only those), each missing one said on stderr."""
    chosen = [s for s in QUESTION_SETS if not names or s.name in names]
    unknown = sorted(set(names or ()) - {s.name for s in QUESTION_SETS})
    if unknown:
        raise SystemExit(f"no question set named {', '.join(unknown)}; the sets are: "
                         + ", ".join(s.name for s in QUESTION_SETS))
    make_corpora()
    for qset in [s for s in chosen if not (s.path.exists() and CORPORA[s.corpus].exists())]:
        print(f"skipping {qset.name}: {qset.path} or {CORPORA[qset.corpus]} is missing", file=sys.stderr)
    return [s for s in chosen if s.path.exists() and CORPORA[s.corpus].exists()]


def corpus_app(corpus: str, progress: bool = True) -> App:
    """An app over the corpus's cached data dir, ingested (incrementally) first."""
    data = DATA / corpus
    # A local model, when one is set, is measured too (`CORPUS_QA_LLM_GGUF=… make eval`); nothing else leaks in.
    env = {k: v for k, v in os.environ.items()
           if k in ("HOME", "XDG_CACHE_HOME", "CORPUS_QA_CACHE_DIR") or k.startswith("CORPUS_QA_LLM_")}
    app = build_app(load_settings({**env, "CORPUS_QA_DATA_DIR": str(data)}))
    # A data dir shared with another checkout (a worktree measuring a baseline) holds that
    # checkout's copy of a corpus too: every article twice, and the copy's citations count as misses.
    # Removed from the store only: the ingest below brings the keyword index in step once.
    folder = CORPORA[corpus].resolve()
    for document in app.documents():
        if not Path(document.source).resolve().is_relative_to(folder):
            app.store.remove_document(document.doc_id)
    if progress:
        print(f"ingesting {CORPORA[corpus]} into {data} (cached) ...", file=sys.stderr, flush=True)
    report = app.ingest([CORPORA[corpus]], progress=False, prune=True)
    if report.failures:
        raise SystemExit(f"{corpus}: {len(report.failures)} files failed to ingest: {report.failures[:3]}")
    return app
