"""An optional cross-encoder that re-scores the best candidates (CORPUS_QA_RERANKER, off by default).

No multilingual cross-encoder ships its weights in a package, so none is on by default;
any sentence-transformers CrossEncoder folder given by path plugs in here.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from qa.errors import SettingsError


class Reranker:
    """A loaded cross-encoder: scores (question, passage) pairs in [0, 1]."""

    def __init__(self, name: str, model):
        self.name = name
        self._model = model

    def score(self, question: str, passages: list[str]) -> np.ndarray:
        """One relevance score per passage, squashed to [0, 1]."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        logits = np.asarray(self._model.predict([(question, p) for p in passages], show_progress_bar=False))
        return (1.0 / (1.0 + np.exp(-logits.reshape(len(passages), -1)[:, 0]))).astype(np.float32)


@functools.cache
def load_reranker(path: str) -> Reranker:
    """Load a CrossEncoder from a local folder, once per process.

    Raises:
        SettingsError: the folder is missing or holds no loadable cross-encoder.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise SettingsError(f"CORPUS_QA_RERANKER={path!r} is not a folder: give the path of a local CrossEncoder model")
    from sentence_transformers import CrossEncoder

    try:
        model = CrossEncoder(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:
        raise SettingsError(f"cannot load a CrossEncoder from {path} ({type(exc).__name__}: {exc})") from exc
    return Reranker(folder.name, model)
