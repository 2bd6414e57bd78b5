"""A question in, an answer with cited passages out; also the settings and the wiring of the app."""

from qa.errors import EmptyIndexError, LexiconError, QAError, QuestionError, QuestionFileError, SettingsError
from qa.records import Answer, Citation, Span
from qa.settings import Settings, load_settings
from store import StoreUnavailableError  # what a UI tells its user apart: the index is not reachable

__all__ = [
    "Answer",
    "Citation",
    "EmptyIndexError",
    "LexiconError",
    "QAError",
    "QuestionError",
    "QuestionFileError",
    "Settings",
    "SettingsError",
    "Span",
    "StoreUnavailableError",
    "load_settings",
]
