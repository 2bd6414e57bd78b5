"""The answer records qa hands to the CLI, the batch output and the UI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from ingest.text import LANGUAGE_NAMES, shortened
from store import Passage


# Language names as said in each answer language.
_NAMES = {
    "en": {"en": "English", "zh": "Chinese", "fr": "French"},
    "zh": {"en": "英文", "zh": "中文", "fr": "法文"},
    "fr": {"en": "anglais", "zh": "chinois", "fr": "français"},
}
_NOTE = {"en": "The source is in {}.", "zh": "来源为{}。", "fr": "La source est en {}."}
_SEARCHED = {
    # "as asked": by the question, or by the conversation a follow-up keeps to (`Query.scoped_language`)
    "en": "Only the {} articles were searched, as asked.",
    "zh": "按要求，只检索了{}文章。",
    "fr": "Seuls les articles en {} ont été consultés, comme demandé.",
}
_NOTE_TWO = {"en": "The sources are in {} and {}.", "zh": "来源为{}和{}。", "fr": "Les sources sont en {} et en {}."}
_NO_ARTICLE_IN = {
    "en": "No article is in {}: the articles are in {}.",
    "zh": "没有{}文章：文章为{}。",
    "fr": "Aucun article n'est en {} : les articles sont en {}.",
}
_NO_WORD = {
    "en": ("No article has the word {}.", "No article has the words {}."),
    "zh": ("文章中没有{}这个词。", "文章中没有{}这些词。"),
    "fr": ("Aucun article ne contient le mot {}.", "Aucun article ne contient les mots {}."),
}
_NO_VERSION = {
    "en": "No article has {}; they have {}.",
    "zh": "文章中没有{}，只有{}。",
    "fr": "Aucun article ne contient {} ; ils contiennent {}.",
}
# How each note language joins the last two names of a list, and the others.
_AND = {"en": (" and ", ", "), "zh": ("和", "、"), "fr": (" et ", ", ")}


def source_language_note(question_lang: str, *source_langs: str) -> str:
    """'The source is in Chinese.' in the question's language (English for any other);
    'The sources are in French and Chinese.' for an answer quoting two languages."""
    lang = _note_language(question_lang)
    names = [_language_name(lang, source) for source in source_langs]
    return (_NOTE if len(names) == 1 else _NOTE_TWO)[lang].format(*names[:2])


def searched_language_note(question_lang: str, searched: str) -> str:
    """'Only the Chinese articles were searched, as asked.' in the question's language."""
    lang = _note_language(question_lang)
    return _SEARCHED[lang].format(_language_name(lang, searched))


def no_article_note(question_lang: str, wanted: str, held: list[str]) -> str:
    """'No article is in French: the articles are in English and Chinese.' in the question's
    language: why a language filter found nothing, and which would find something."""
    lang = _note_language(question_lang)
    listed = _listed(lang, [_language_name(lang, code) for code in held])
    wanted_name = _language_name(lang, wanted)
    return _NO_ARTICLE_IN[lang].format(wanted_name if wanted_name != wanted else f'"{wanted}"', listed)


def unwritten_note(question_lang: str, names: tuple[str, ...], versions: tuple[str, ...] = (),
                   written_versions: tuple[str, ...] = ()) -> str | None:
    """What the question names that no article has, in the question's language: 'No article has
    "GPT-5"; they have GPT-2, GPT-3.5 and GPT-4.', 'No article has the word "Anthropic".'"""
    lang = _note_language(question_lang)
    notes = []
    if versions:
        asked = _listed(lang, [f'"{v}"' for v in versions])
        notes.append(_NO_VERSION[lang].format(asked, _listed(lang, written_versions)))
    if names:
        notes.append(_NO_WORD[lang][len(names) > 1].format(_listed(lang, [f'"{n}"' for n in names])))
    return " ".join(notes) or None


def _listed(lang: str, items: list[str]) -> str:
    """'A, B and C' as a note in `lang` says it."""
    last, other = _AND[lang]
    return last.join([other.join(items[:-1]), items[-1]] if len(items) > 1 else items)


def _note_language(question_lang: str) -> str:
    """The language a note is written in: the question's, or English for any other."""
    return question_lang if question_lang in _NOTE else "en"


def _language_name(note_lang: str, code: str) -> str:
    """A language's name as a note in `note_lang` says it (its code if unnamed)."""
    return _NAMES[note_lang].get(code, code)


@dataclass(frozen=True)
class Span:
    """Character offsets into a document's decoded text."""

    start: int
    end: int


@dataclass(frozen=True)
class Citation:
    """A cited passage, verbatim from its source, with the answer sentences it gave."""

    rank: int
    doc_id: str
    source: str
    title: str
    chunk_id: str
    start: int
    end: int
    score: float
    text: str
    lang: str
    encoding: str = "utf-8"
    answer_spans: tuple[Span, ...] = ()
    first_page: int = 0  # the pages (a PDF's, a deck's slides) it lies on, from 1; 0 for a file without pages
    last_page: int = 0

    @property
    def place(self) -> str:
        """Where the passage is in its file, for a reader to find it: "p. 3, chars 120–480", or a
        deck's "slide 3, …"."""
        if not self.first_page:
            return f"chars {self.start}–{self.end}"
        one, many = ("slide", "slides") if PurePath(self.source).suffix.lower() == ".pptx" else ("p.", "pp.")
        pages = (f"{one} {self.first_page}" if self.last_page == self.first_page else
                 f"{many} {self.first_page}–{self.last_page}")
        return f"{pages}, chars {self.start}–{self.end}"

    @classmethod
    def from_passage(cls, rank: int, passage: Passage, answer_spans: tuple[Span, ...] = ()) -> Citation:
        """The citation of a retrieved passage at a given rank (1-based)."""
        chunk = passage.chunk
        return cls(
            rank=rank,
            doc_id=chunk.doc_id,
            source=chunk.source,
            title=chunk.title,
            chunk_id=chunk.chunk_id,
            start=chunk.start,
            end=chunk.end,
            score=round(passage.score, 4),
            text=chunk.text,
            lang=chunk.lang,
            encoding=chunk.encoding,
            answer_spans=answer_spans,
            first_page=chunk.first_page,
            last_page=chunk.last_page,
        )

    def to_json(self) -> dict:
        """The citation object of FORMAT.md; `encoding` only for files that are not UTF-8, `pages` only
        for paged ones (PDFs, decks)."""
        out = {
            "rank": self.rank,
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "chunk_id": self.chunk_id,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "text": self.text,
            "lang": self.lang,
            "answer_spans": [{"start": s.start, "end": s.end} for s in self.answer_spans],
        }
        if self.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "ascii"):
            out["encoding"] = self.encoding
        if self.first_page:
            out["pages"] = [self.first_page, self.last_page]
        return out


@dataclass(frozen=True)
class Quote:
    """One sentence an extractive answer quotes (the part kept, where it was cut), from its citation `rank`."""

    rank: int
    text: str
    lang: str


@dataclass(frozen=True)
class Translation:
    """A quoted sentence translated by the local model into the question's language: `text` when
    it passed the checks of `qa.translate`, else None and why (`rejected`). Never a citation."""

    quote: Quote
    translated_to: str
    text: str | None = None
    rejected: str | None = None

    @property
    def label(self) -> str:
        """What marks it beside the answer, as the machine's and not a source: "↳ [2] machine
        translation from Chinese, not a source:"."""
        source = LANGUAGE_NAMES.get(self.quote.lang, self.quote.lang)
        return f"↳ [{self.quote.rank}] machine translation from {source}, not a source:"

    def to_json(self) -> dict:
        """One entry of an answer's `translations`."""
        out = {"rank": self.quote.rank, "text": self.quote.text, "translation": self.text,
               "translated_from": self.quote.lang, "translated_to": self.translated_to}
        if self.rejected is not None:
            out["translation_rejected"] = self.rejected
        return out


# A follow-up's search runs to the last turns' questions and answers: a line under the answer
# shows about two lines' worth of it (the JSON output has it whole).
_SEARCHED_SHOWN = 160


@dataclass(frozen=True)
class Answer:
    """An answer with `[n]` markers pointing at its citations (rank n)."""

    question: str
    text: str
    answerable: bool
    citations: tuple[Citation, ...]
    answer_language: str
    source_language: str | None
    mode: str = "extractive"
    latency_ms: float = 0.0
    remark: str | None = None  # why a generated answer fell back, what was left out of it, or why nothing was found
    caveat: str | None = None  # what the question names that no article has ("GPT-5", "Anthropic")
    searched_language: str | None = None  # the only language searched, because the question named it
    search_query: str | None = None  # what was searched with: the question, and the conversation it was read against
    quotes: tuple[Quote, ...] = ()  # the sentences an extractive answer quotes, in its order
    translations: tuple[Translation, ...] = ()  # of the quotes in another language than the question's

    @property
    def searched_shown(self) -> str | None:
        """The line a reader is shown under a follow-up's answer ("searched: …"): the question
        and the start of the conversation it was read against, cut short; None for a question
        searched as asked."""
        if not self.search_query or self.search_query == self.question:
            return None
        return shortened(self.search_query, _SEARCHED_SHOWN)

    @property
    def quoted_languages(self) -> list[str]:
        """The languages of the passages the answer quotes (`source_language` when no citation
        says), other than the question's, in the order the answer quotes them."""
        quoted = sorted((c for c in self.citations if c.answer_spans), key=lambda c: self.text.find(f"[{c.rank}]"))
        found = dict.fromkeys([c.lang for c in quoted] or [self.source_language])
        return [lang for lang in found if lang and lang != self.answer_language]

    @property
    def note(self) -> str | None:
        """One line for the reader: what the question names that no article has, the one language
        searched when the question named it, the sources' languages when they differ from the
        question's (extractive answers quote them verbatim), and any remark (on generation, or on
        a language filter no article matches)."""
        notes = [self.caveat] if self.caveat else []
        if self.searched_language:
            notes.append(searched_language_note(self.answer_language, self.searched_language))
        foreign = self.quoted_languages
        if self.answerable and self.mode == "extractive" and foreign and foreign != [self.searched_language]:
            notes.append(source_language_note(self.answer_language, *foreign))
        if self.remark:
            notes.append(self.remark)
        return " ".join(notes) or None

    def to_json(self, question_id: str | None = None) -> dict:
        """The answer object of FORMAT.md."""
        out = {} if question_id is None else {"id": question_id}
        out.update(
            question=self.question,
            answer=self.text,
            answerable=self.answerable,
            mode=self.mode,
            answer_language=self.answer_language,
            source_language=self.source_language,
            note=self.note,
            citations=[c.to_json() for c in self.citations],
            latency_ms=round(self.latency_ms, 1),
        )
        if self.search_query is not None:
            out["search_query"] = self.search_query
        if self.translations:
            out["translations"] = [t.to_json() for t in self.translations]
        return out
