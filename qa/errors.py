"""Errors raised while answering questions."""


class QAError(Exception):
    """A question could not be answered."""


class QuestionError(QAError):
    """The question itself is unusable (empty, or too long)."""


class QuestionFileError(QAError):
    """A batch question file cannot be read as JSON Lines."""


class EmptyIndexError(QAError):
    """Nothing has been ingested yet, so there is nothing to answer from."""


class LexiconError(QAError):
    """The configured bilingual dictionary cannot be read."""


class SettingsError(QAError):
    """A setting (environment variable or option) has a value that cannot be used."""
