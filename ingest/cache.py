"""Derived data cached on disk as pickles: written atomically, and a bad or old file read as missing."""

from __future__ import annotations

import os
import pickle
from pathlib import Path


def read_cached(path: Path):
    """The object pickled at `path`, or None when it is missing, truncated or from other code."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def write_cached(path: Path, value) -> None:
    """Pickle `value` to `path`: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    with open(partial, "wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
