#!/usr/bin/env python3
"""Fusion compared: hit@5 and MRR of other ways to rank the same retrieval candidates.

Each question's candidates are gathered as corpus-qa gathers them (the nearest chunks and the
best by BM25, `qa.retrieve.fuse_candidates`), then ranked by: the cosine alone; BM25 alone (the
question's words and their translations); reciprocal rank fusion (k = 60); cosine + 0.1 or 0.35
x BM25 min-max-normalised over the candidates; cosine + keyword_weight x coverage; the same with
calibrated cosines; the fusion as built; and that fusion re-scored by sentences (what
`corpus-qa eval` cites). A ranking's top 5 are its first five distinct passages, each with the
sentence that follows it, as citations are. bench/README.md, "Fusion", has the figures.

Usage: CORPUS_QA_DATA_DIR=DIR bench/fusion.py QUESTIONS.jsonl [...]   (DIR ingested first)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa import load_settings  # noqa: E402
from qa.app import build_app  # noqa: E402
from qa.evaluate import evidence_rank, read_question_file  # noqa: E402
from qa.retrieve import drop_repeated_passages, find_evidence, fuse_candidates, make_query  # noqa: E402

RRF_K = 60
TOP = 5


def rankings(question: str, retrieval, settings, rows: dict[str, int]) -> dict[str, list]:
    """Each way of ranking one question's candidates -> its evidence, best first (`rows`: each
    chunk id's place in the keyword index)."""
    query = make_query(question, retrieval, settings)
    fused = fuse_candidates(query, retrieval, settings, query.named_language)
    if not fused:
        return {}
    cosine = np.array([e.cosine for e in fused])
    coverage = np.array([e.coverage for e in fused])
    calibration = retrieval.keywords.languages.calibration(query.vector)
    shift, scale = np.array([calibration.get(e.passage.chunk.lang, (0.0, 1.0)) for e in fused]).T
    scores = retrieval.keywords.bm25_scores(query.terms)
    bm25 = np.array([scores[rows[e.passage.chunk.chunk_id]] for e in fused])
    spread = bm25.max() - bm25.min()
    min_max = (bm25 - bm25.min()) / spread if spread > 0 else np.zeros_like(bm25)
    rrf = 1 / (RRF_K + _ranks(cosine)) + np.where(bm25 > 0, 1 / (RRF_K + _ranks(bm25)), 0.0)
    w = settings.keyword_weight
    keys = {
        "cosine alone": cosine,
        "BM25 alone": bm25,
        f"reciprocal rank fusion, k = {RRF_K}": rrf,
        "cosine + 0.1 x min-max BM25": cosine + 0.1 * min_max,
        "cosine + 0.35 x min-max BM25": cosine + 0.35 * min_max,
        f"cosine + {w} x coverage": cosine + w * coverage,
        f"calibrated cosine + {w} x coverage": shift + scale * cosine + w * coverage,
        "the fusion as built": np.array([e.passage.score for e in fused]),
    }
    # Ties (frequent in reciprocal rank fusion) go to the higher cosine, not to the built fusion's order.
    ranked = {name: [fused[i] for i in np.lexsort((-cosine, -key))] for name, key in keys.items()}
    ranked["re-scored by sentences (cited)"] = find_evidence(query, retrieval, settings, query.named_language)
    return ranked


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 for the highest value, 2 for the next, ..."""
    ranks = np.empty(len(values))
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return ranks


def cited(evidence: list) -> dict:
    """The first TOP distinct passages as a result's citations (each with the sentence that follows it)."""
    top = drop_repeated_passages(evidence)[:TOP]
    return {"citations": [{"text": e.passage.chunk.text + e.passage.chunk.following} for e in top]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="+", type=Path, help="JSON Lines question files with gold evidence")
    args = parser.parse_args()
    settings = load_settings(os.environ)
    retrieval = build_app(settings).retrieval()
    rows = {chunk_id: i for i, chunk_id in enumerate(retrieval.keywords.chunk_ids)}
    totals: dict[str, list[float]] = {}
    answerable = 0
    for path in args.questions:
        for line in read_question_file(path):
            if not line.gold or not line.gold.get("answerable"):
                continue
            answerable += 1
            for name, evidence in rankings(line.question, retrieval, settings.qa, rows).items():
                rank = evidence_rank(line.gold, cited(evidence))
                hits = totals.setdefault(name, [0.0, 0.0])
                hits[0] += rank is not None
                hits[1] += 1 / rank if rank else 0.0
    print(f"{answerable} answerable questions; hit@{TOP} / MRR")
    for name, (hits, reciprocal) in totals.items():
        print(f"  {name:42} {hits / answerable:.3f} / {reciprocal / answerable:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
