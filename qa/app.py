"""Wiring: the loaded embedder and the opened store, shared by the CLI, the batch and the UI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest import Embedder, IngestReport, bundled_corpus, ingest_paths, load_embedder
from qa.answer import answer_question
from qa.records import Answer
from qa.settings import Settings
from store import ChromaStore, Document, open_store


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


@dataclass(frozen=True)
class App:
    """The heavy parts, loaded once per process, and the settings they were built from."""

    settings: Settings
    embedder: Embedder
    store: ChromaStore

    def ask(self, question: str, k: int | None = None) -> Answer:
        """Answer a question with cited passages."""
        return answer_question(question, self.store, self.embedder, self.settings.qa, k)

    def ingest(self, paths: Sequence[Path] = (), progress: bool = True) -> IngestReport:
        """Ingest files and folders; no paths means the bundled corpus."""
        return ingest_paths(list(paths) or [bundled_corpus()], self.store, self.embedder, self.settings.ingest, progress)

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

    def warm(self) -> None:
        """Run the model once, so the first real question is not the one that pays for loading."""
        self.embedder.embed_query("warm-up")
        self.store.chunk_count()


def build_app(settings: Settings) -> App:
    """Load the embedder (cached per process) and open its collections in the store."""
    embedder = load_embedder(settings.ingest.embedder, settings.ingest.threads)
    return App(settings, embedder, open_store(settings.store, embedder.name, embedder.dimension))
