"""Errors raised by the store."""


class StoreError(Exception):
    """The vector store could not be opened, read or written."""


class IndexMismatchError(StoreError):
    """The stored index was built by a different embedder than the one configured."""


class StoreUnavailableError(StoreError):
    """The Chroma server cannot be reached, or went away."""


class StoreFolderError(StoreError):
    """The embedded store's folder cannot be made where the settings put it (a file is there, or no permission)."""
