"""Similarities to chunks of different languages, put on one scale.

For a given question the embedder scores all Chinese chunks higher, and more spread out, than
all French ones, say: the question's language and the script play a part. For a question vector
q, a set of vectors has similarities of mean q·mean and variance qᵀ·covariance·q, exactly, so
each language's similarities can be mapped onto a common distribution, as when merging the
result lists of per-language collections.

Measured on the corpus's own chunks, a language's mean carries its articles' topics as well as
its bias: where the French articles are on the question's topic and the English ones on others,
every French chunk scores higher, and calibration would rank it down for being on topic. So the
bias is measured where topics cannot differ: on the same paragraphs written in each language
(`qa/reference/parallel.jsonl`: 94 short news paragraphs on everyday subjects, written for
this project in English, Chinese and French). The corpus's own chunks serve only where it holds
a language those paragraphs are not written in.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from ingest.cache import read_cached, write_cached

# The key of all the vectors together in `LanguageSpread` (not a language code).
CORPUS = "*"
# A language with fewer chunks than this is not calibrated: its mean and spread would be noise.
_FEWEST_TO_CALIBRATE = 10
# However a language's spread compares with the whole's, its similarities are not stretched or
# squeezed more than this.
_SCALE_LIMITS = (0.5, 2.0)


class LanguageSpread:
    """How each language's vectors spread: their mean and covariance, and all of them together.

    Built by counting: `add_vectors` (or take them away), then `finish`, or `counted` to keep
    counting. For the corpus's chunks, `measure_bias` instead measures the same statistics of
    the parallel paragraphs (`bias`), which `calibration` uses in place of the chunks' own (of
    those, only the counts are kept).
    """

    def __init__(self):
        self.counts: Counter = Counter()
        self.means: dict[str, np.ndarray] = {}
        self.covariances: dict[str, np.ndarray] = {}
        self.bias: LanguageSpread | None = None
        self._sums: dict[str, np.ndarray] = {}
        self._products: dict[str, np.ndarray] = {}

    def add_vectors(self, vectors: np.ndarray, langs: Sequence[str], sign: int = 1) -> None:
        """Count these vectors (rows), each in the language at its row; with `sign` -1, take them away."""
        langs = np.asarray(langs)
        for lang in dict.fromkeys(langs.tolist()):
            block = np.asarray(vectors[langs == lang], np.float64)
            self.counts[lang] += sign * len(block)
            self._sums[lang] = self._sums.get(lang, 0.0) + sign * block.sum(axis=0)
            self._products[lang] = self._products.get(lang, 0.0) + sign * (block.T @ block)
            if not self.counts[lang]:  # no residue of sums that cancel out
                del self.counts[lang], self._sums[lang], self._products[lang]

    def __getstate__(self) -> dict:
        # A sum of products `block.T @ block` is symmetric: its upper triangle is written, half of it.
        return {**self.__dict__, "_products": {lang: p[_upper(len(p))] for lang, p in self._products.items()}}

    def __setstate__(self, state: dict) -> None:
        products = {}
        for lang, packed in state["_products"].items():
            if packed.ndim == 2:  # written whole, by older code
                products[lang] = packed
                continue
            size = int((np.sqrt(8 * len(packed) + 1) - 1) / 2)
            products[lang] = np.zeros((size, size))
            products[lang][_upper(size)] = packed
            products[lang] += np.triu(products[lang], 1).T
        self.__dict__.update({**state, "_products": products})

    def counted(self) -> LanguageSpread:
        """A copy of the counts, to add to and take from without changing these (`add_vectors`
        replaces the arrays it changes, so they are shared, not copied)."""
        spread = LanguageSpread()
        spread.counts, spread._sums, spread._products = Counter(self.counts), dict(self._sums), dict(self._products)
        return spread

    def finish(self) -> LanguageSpread:
        """Turn the sums into means and covariances (per language, and `CORPUS` for all vectors);
        a spread finished already stays as it is."""
        if not self.counts or not self._sums:
            return self
        sums, products = dict(self._sums), dict(self._products)
        sums[CORPUS], products[CORPUS] = sum(self._sums.values()), sum(self._products.values())
        counts = {**self.counts, CORPUS: sum(self.counts.values())}
        for lang, total in sums.items():
            mean = total / counts[lang]
            self.means[lang] = mean.astype(np.float32)
            self.covariances[lang] = (products[lang] / counts[lang] - np.outer(mean, mean)).astype(np.float32)
        self._sums, self._products = {}, {}
        return self

    def measure_bias(self, embedder, cache_dir: Path | None = None) -> None:
        """Measure each calibrated language's bias on the parallel paragraphs (`bias`); where the
        corpus holds a language they are not written in, leave it to the corpus's own chunks.

        Embedding the paragraphs takes about 0.4 s; with a `cache_dir`, what was measured for an
        embedder and a set of languages is kept there and read by every later index build.
        """
        self.bias = None
        languages = sorted(lang for lang, count in self.counts.items() if count >= _FEWEST_TO_CALIBRATE)
        paragraphs = parallel_paragraphs()
        if len(languages) < 2 or not set(languages) <= set(paragraphs):
            self.finish()  # calibrated on the corpus's own chunks
            return
        key = hashlib.sha256(json.dumps([embedder.name, languages, [paragraphs[lang] for lang in languages]],
                                        ensure_ascii=False).encode()).hexdigest()
        cached = Path(cache_dir) / f"language-bias-{key[:16]}.pkl" if cache_dir else None
        bias = read_cached(cached) if cached else None
        if not isinstance(bias, LanguageSpread):
            bias = LanguageSpread()
            for lang in languages:
                bias.add_vectors(embedder.embed_documents(list(paragraphs[lang])), [lang] * len(paragraphs[lang]))
            bias.finish()
            if cached:
                try:
                    write_cached(cached, bias)
                except OSError:
                    pass  # a read-only cache folder costs the next build 0.4 s, nothing more
        self.bias = bias
        # Calibration now reads the paragraphs' statistics, not the chunks': theirs are neither
        # computed nor kept (a 512 x 512 covariance per language, 4 MB in every cached index).
        self.means, self.covariances, self._sums, self._products = {}, {}, {}, {}

    def calibration(self, query: np.ndarray) -> dict[str, tuple[float, float]]:
        """{language: (shift, scale)}: `shift + scale × similarity` puts a similarity between the
        question and a chunk of that language on one scale with every other language's.

        That scale is the parallel paragraphs' in all the languages together (see `bias`), or
        failing them the whole corpus's. A language of too few chunks to measure keeps its raw
        similarities (0, 1).
        """
        measured = self.bias or self
        if CORPUS not in measured.means:
            return {}
        whole_mean = float(measured.means[CORPUS] @ query)
        whole_spread = _spread(measured.covariances[CORPUS], query)
        out = {}
        for lang, count in self.counts.items():
            spread = _spread(measured.covariances[lang], query) if lang in measured.means else 0.0
            if count < _FEWEST_TO_CALIBRATE or spread <= 1e-6:
                out[lang] = (0.0, 1.0)
                continue
            scale = float(np.clip(whole_spread / spread, *_SCALE_LIMITS))
            out[lang] = (whole_mean - scale * float(measured.means[lang] @ query), scale)
        return out


@functools.cache
def _upper(size: int) -> np.ndarray:
    """Where the upper triangle of a square matrix of this size is, diagonal included."""
    return np.triu(np.ones((size, size), bool))


def _spread(covariance: np.ndarray, query: np.ndarray) -> float:
    """The standard deviation of the similarities to `query` of vectors with this covariance."""
    return float(np.sqrt(max(query @ covariance @ query, 0.0)))


@functools.cache
def parallel_paragraphs() -> dict[str, tuple[str, ...]]:
    """{language: the reference paragraphs in it}, the same paragraphs in the same order in each."""
    lines = resources.files("qa").joinpath("reference/parallel.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return {lang: tuple(row[lang] for row in rows) for lang in rows[0]}
