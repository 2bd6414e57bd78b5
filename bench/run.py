#!/usr/bin/env python3
"""Speed figures of corpus-qa, each a ratio against a baseline measured in the same run.

For each corpus (the bundled articles, and ../shared/eval/xquad-dev when present):
- encode_s: the embedder's raw encode of exactly the chunks ingest makes (the baseline);
- ingest_s: a full cold ingest into a fresh data dir; ingest_efficiency = encode_s / ingest_s;
- ask p50/p95 over the question file, warm, and model_calls p50: the time spent inside the
  embedder during those same asks; ask_overhead = ask_p50 / model_calls_p50.

Usage: bench/run.py [--json]   (the last line under --json is one JSON object with everything)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest import Embedder, bundled_corpus  # noqa: E402
from ingest.pipeline import collect_files, embedded_text, make_chunks  # noqa: E402
from ingest.readers import read_document  # noqa: E402
from qa.app import App, build_app  # noqa: E402
from qa.evaluate import read_question_file  # noqa: E402
from qa.settings import load_settings  # noqa: E402

SHARED_EVAL = ROOT.parent / "shared" / "eval"


class TimedEmbedder(Embedder):
    """The same model, with the seconds spent inside it added up."""

    def __init__(self, inner: Embedder):
        self.seconds = 0.0

        def encode(texts):
            started = time.perf_counter()
            try:
                return inner._encode(texts)
            finally:
                self.seconds += time.perf_counter() - started

        super().__init__(inner.name, inner.dimension, encode)


def bench_corpus(name: str, corpus: Path, questions: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings({**os.environ, "CORPUS_QA_DATA_DIR": data})
        app = build_app(settings)
        app.warm()
        files, _ = collect_files([corpus])
        texts = []
        for path in files:
            decoded = read_document(path, int(settings.ingest.max_file_mb * 1e6))
            prepared = make_chunks(path.stem, str(path), decoded, settings.ingest)
            texts += [embedded_text(c, settings.ingest) for c in prepared.chunks]
        started = time.perf_counter()
        for i in range(0, len(texts), settings.ingest.batch_size):
            app.embedder.embed_documents(texts[i : i + settings.ingest.batch_size])
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        report = app.ingest([corpus], progress=False)
        ingest_s = time.perf_counter() - started
        out = {
            "corpus": name,
            "documents": report.documents_added,
            "chunks": report.chunks_total,
            "encode_s": round(encode_s, 3),
            "ingest_s": round(ingest_s, 3),
            "ingest_efficiency": round(encode_s / ingest_s, 3),
        }
        if questions and questions.exists():
            out.update(bench_asks(app, questions))
        return out


def bench_asks(app: App, questions: Path) -> dict:
    timed = TimedEmbedder(app.embedder)
    timed_app = App(app.settings, timed, app.store, app.reranker)
    asks, model_calls = [], []
    for line in read_question_file(questions):
        if line.error:
            continue
        before = timed.seconds
        started = time.perf_counter()
        timed_app.ask(line.question)
        asks.append((time.perf_counter() - started) * 1000)
        model_calls.append((timed.seconds - before) * 1000)
    ask_p50, model_p50 = float(np.percentile(asks, 50)), float(np.percentile(model_calls, 50))
    return {
        "questions": len(asks),
        "ask_p50_ms": round(ask_p50, 1),
        "ask_p95_ms": round(float(np.percentile(asks, 95)), 1),
        "model_calls_p50_ms": round(model_p50, 1),
        "ask_overhead": round(ask_p50 / model_p50, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON object holding every figure")
    args = parser.parse_args()
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "bundled": bench_corpus("bundled", bundled_corpus(), SHARED_EVAL / "dev.jsonl"),
    }
    xquad = SHARED_EVAL / "xquad-dev"
    if xquad.exists():
        results["xquad"] = bench_corpus("xquad-dev", xquad / "corpus", xquad / "questions.jsonl")
    for key in ("bundled", "xquad"):
        if key in results:
            print(" ".join(f"{k}={v}" for k, v in results[key].items()))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
