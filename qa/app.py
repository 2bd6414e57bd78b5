"""Wiring: the loaded embedder and the opened store, shared by the CLI, the batch and the UI."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest import (Embedder, IngestInputError, IngestReport, bundled_corpus, ingest_paths, load_embedder,
                    load_language_identifier)
from ingest.readers import read_document
from qa.answer import answer_question
from qa.conversation import parse_history
from qa.generate import Generator, OnToken, load_generator
from qa.keyword_cache import load_keyword_index, read_records
from qa.keywords import IndexedDocument, KeywordIndex
from qa.lexicon import Lexicon, check_lexicon, load_lexicon
from qa.records import Answer, Citation
from qa.rerank import Reranker, load_reranker
from qa.retrieve import Retrieval
from qa.scoring import ScoringModel, load_scoring_model
from qa.settings import Settings
from qa.translate import foreign_quotes, translate_quotes
from store import ChromaStore, Document, StoreUnavailableError, fingerprint_of, open_store


@dataclass(frozen=True)
class Status:
    """What is indexed, with which embedder, and where."""

    documents: int
    chunks: int
    embedder: str
    store: str
    data_dir: str

    def to_json(self) -> dict:
        """The object `status --json` prints."""
        return dict(self.__dict__)


@dataclass
class App:
    """The heavy parts, loaded once per process, and the settings they were built from."""

    settings: Settings
    embedder: Embedder
    store: ChromaStore
    scoring: ScoringModel
    reranker: Reranker | None = None
    generator: Generator | None = None
    _keywords: KeywordIndex | None = field(default=None, repr=False)
    _keywords_checked: float = field(default=0.0, repr=False)
    _lexicon: Lexicon | bool | None = field(default=None, repr=False)  # False: read, and there is none

    def ask(self, question: str, k: int | None = None, lang: str | None = None,
            on_token: OnToken | None = None, history: object = None, translate: bool = True) -> Answer:
        """Answer a question with cited passages; `lang` keeps only passages in that language;
        `history`, the conversation so far (`qa.conversation.parse_history`), resolves a follow-up.
        With a local model, quotes in another language than the question's come with their
        checked translations, unless `translate` is off (`translations` gives them one by one).

        A lost connection to a Chroma server is retried once: a server restart or a dropped
        keep-alive connection should not cost a user their question.
        """
        for attempt in (1, 2):
            try:
                answer = answer_question(question, self.retrieval(), self.settings.qa, k, lang, self.generator,
                                         on_token, parse_history(history))
                break
            except StoreUnavailableError:
                if attempt == 2:
                    raise
                time.sleep(0.5)
        if translate:
            *_, answer = [answer, *self.translations(answer)]  # the last step holds every translation
        return answer

    def translations(self, answer: Answer) -> Iterator[Answer]:
        """The answer with one more of its foreign quotes translated at each step (`qa.translate`);
        nothing without a local model, with `llm_translate` off, or when every quote is in the question's language."""
        if self.pending_translations(answer):
            # Only a translation into or from Chinese reads the dictionary: for how it writes names.
            chinese = answer.answer_language == "zh" or any(q.lang == "zh" for q in foreign_quotes(answer))
            lexicon = self.lexicon() if chinese else None
            yield from translate_quotes(answer, self.generator, self.settings.qa, lexicon)

    def pending_translations(self, answer: Answer) -> int:
        """How many translations `translations` will give of this answer: one per quote in another
        language than the question's, with a local model and `llm_translate` on; else none."""
        translating = self.generator is not None and self.settings.qa.llm_translate
        return len(foreign_quotes(answer)) if translating else 0

    def lexicon(self) -> Lexicon | None:
        """The bilingual dictionary of the settings, read on first use (None with CORPUS_QA_LEXICON=none)."""
        if self._lexicon is None:
            self._lexicon = load_lexicon(self.settings.qa.lexicon, self.settings.cache_dir) or False
        return self._lexicon or None

    def surrounding_text(self, citation: Citation, chars: int = 600) -> tuple[str, str]:
        """The document text just before and just after a cited passage."""
        stat = Path(citation.source).stat()
        text = _document_text(citation.source, stat.st_mtime_ns, stat.st_size,
                              self.settings.ingest.max_file_bytes)
        return text[max(0, citation.start - chars) : citation.start], text[citation.end : citation.end + chars]

    def ingest(self, paths: Sequence[Path] = (), progress: bool = True, prune: bool = False) -> IngestReport:
        """Ingest files and folders (no paths: the bundled corpus), then bring the keyword index in
        step: the records of what was written are made from the chunks in hand, not read back."""
        fresh: dict[str, IndexedDocument] = {}
        report = ingest_paths(list(paths) or [bundled_corpus()], self.store, self.embedder, self.settings.ingest,
                              progress, prune, on_written=lambda written: fresh.update(read_records(written)))
        if progress and report.changed:
            # Seconds after a large ingest (every chunk is counted, its words placed): say why it waits.
            print("updating the keyword index ...", file=sys.stderr, flush=True)
        self.keywords(documents=report.documents, fresh=fresh)
        return report

    def remove(self, target: str) -> Document:
        """Remove one document, named by its id or its file's path.

        Raises:
            IngestInputError: no ingested document has that id or path.
        """
        documents = self.store.documents()
        path = str(Path(target).expanduser().resolve())
        found = next((d for d in documents if target in (d.doc_id, d.source) or d.source == path), None)
        if found is None:
            raise IngestInputError(f"no ingested document has the id or path {target!r}; `corpus-qa status` lists them")
        self.store.remove_document(found.doc_id)
        self.keywords(documents=[d for d in documents if d is not found])
        return found

    def keywords(self, max_age: float = 2.0, documents: Sequence[Document] | None = None,
                 fresh: Mapping[str, IndexedDocument] | None = None) -> KeywordIndex:
        """The keyword index of what the store holds; brought in step when another run changed the store.

        The store's manifest is read at most every `max_age` seconds: on a server with
        thousands of documents it is a request of its own, too dear to repeat per question.
        So another machine's ingest shows up within `max_age`; this app's own at once, with
        `documents`, the manifest as its change left it (and `fresh`, the records it made, see
        `qa.keyword_cache.load_keyword_index`).
        """
        now = time.monotonic()
        if documents is not None or self._keywords is None or now - self._keywords_checked >= max_age:
            documents = self.store.documents() if documents is None else documents
            if self._keywords is None or self._keywords.fingerprint != fingerprint_of(documents):
                self._keywords = load_keyword_index(self.store, self.settings.data_dir / "keywords", self.embedder,
                                                    documents, self.lexicon(), self.settings.cache_dir,
                                                    current=self._keywords, fresh=fresh)
            self._keywords_checked = now
        return self._keywords

    def retrieval(self) -> Retrieval:
        """The store, the current keyword index and the models, as answering takes them."""
        return Retrieval(self.store, self.embedder, self.keywords(), self.scoring, self.reranker)

    def documents(self) -> list[Document]:
        """The ingested documents."""
        return self.store.documents()

    def status(self) -> Status:
        """Counts, embedder and location of the index."""
        return Status(
            documents=len(self.store.documents()),
            chunks=self.store.chunk_count(),
            embedder=self.embedder.name,
            store=self.store.location,
            data_dir=str(self.settings.data_dir),
        )

    def warm(self, for_ingest: bool = False) -> None:
        """Run the model once, so the first real question is not the one that pays for loading;
        `for_ingest`: load what reading a new file needs too (the chat's upload panel)."""
        self.embedder.embed_query("warm-up")
        self.keywords().search("warm-up 预热", 1, self.embedder)  # Chinese too: jieba loads its dictionary on first use
        if for_ingest:
            load_language_identifier()
            self.store.warm()


@functools.lru_cache(maxsize=32)
def _document_text(source: str, mtime_ns: int, size: int, max_bytes: int) -> str:
    """A document's text, read once per version of the file: an answer often cites one
    document several times, and HTML or PDF text is extracted anew on every read."""
    return read_document(Path(source), max_bytes).text


def build_app(settings: Settings) -> App:
    """Load the embedder (cached per process) and open its collections in the store.

    Raises:
        LexiconError: the configured lexicon file is not in CC-CEDICT format.
        ScoringModelError: the shipped scoring model is missing or does not fit this code.
    """
    check_lexicon(settings.qa.lexicon)
    embedder = load_embedder(settings.ingest.embedder, settings.ingest.threads, settings.cache_dir)
    reranker = load_reranker(settings.qa.reranker) if settings.qa.reranker else None
    store = open_store(settings.store, embedder.name, embedder.dimension)
    return App(settings, embedder, store, load_scoring_model(), reranker, load_generator(settings.qa))
