#!/usr/bin/env python3
"""How corpus-qa's cost grows with the corpus: 1x, 10x and 100x the bundled one, on a Chroma server.

The corpus at size N is the bundled articles plus copies of them and of the xquad-dev articles
(each copy under its own file name, so each is its own document, and each of its lines opens
with the copy's number, so no two passages are the same text) until it holds N times the
bundled corpus's bytes. For each size, in a fresh `chroma run` server and a fresh process:
ingest throughput, the time to add one small file to the full store (the median of 9 files
added in turn), warm `ask` p50/p95 over the dev questions, peak memory (max RSS) of the
corpus-qa process, and what the store and the keyword index take on disk. At the smallest and the largest size it also serves the chat and
sends 20 concurrent `/ask` clients at it (5 questions each): answers per second, p50/p95 as the
clients see them, errors, answers that differ from the same question asked alone, and the CPU
seconds the server and the clients spent.

Usage: bench/scale.py [--sizes 1 10 100] [--json]   (--sizes 1 100: about 8 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import numpy as np  # noqa: E402
from run import SHARED_EVAL, _peak_rss_mb, _percentile  # noqa: E402

BIN = Path(sys.executable).parent
# Small files added in turn to each full store: a single add's time varies by half from one to the next.
_ADDS = 9
QUESTIONS = [
    "Which university created the Chatbot Arena ranking?",
    "伯克利的哪位计算机教授参与开发了Vicuna？",
    "Quand Meta a-t-il publié Llama ?",
    "华沙证券交易所是什么时候恢复运营的？",
    "What is Stable Diffusion comparable to?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def build_corpus(folder: Path, times: int) -> int:
    """Write a corpus of about `times` x the bundled one's bytes into `folder`; returns its bytes."""
    from ingest import bundled_corpus

    bundled = sorted(bundled_corpus().glob("*.txt"))
    extra = sorted((SHARED_EVAL / "xquad-dev" / "corpus").glob("*.txt"))
    target = times * sum(p.stat().st_size for p in bundled)
    folder.mkdir(parents=True)
    written, copy = 0, 0
    while written < target:
        for source in bundled + (extra if copy else []):
            if copy and written >= target:
                break
            data = source.read_bytes()
            if copy:
                # Every line of a copy carries its number: identical passages are collapsed when
                # answering, so exact copies would measure that rather than a corpus this size.
                data = b"\n".join(f"({copy}) ".encode() + line if line.strip() else line
                                   for line in data.split(b"\n"))
            (folder / f"c{copy:03d}-{source.name}").write_bytes(data)
            written += len(data)
        copy += 1
    return written


def _megabytes(folder: Path) -> float:
    """What the files under a folder take on disk."""
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def _one_small_file(folder: Path, n: int = 0) -> Path:
    """A new article of a few paragraphs, in no copy of the corpus (nor in another `n`'s): what
    one more file costs."""
    from ingest import bundled_corpus

    folder.mkdir(parents=True, exist_ok=True)
    source = sorted(bundled_corpus().glob("*.txt"))[0].read_text(encoding="utf-8")
    path = folder / f"one-more-article-{n}.txt"
    path.write_text("\n\n".join(f"(added {n}) {p}" for p in source.split("\n\n")[:6]), encoding="utf-8")
    return path


def measure_size(corpus: Path, chroma_url: str, data: Path) -> dict:
    """In this (fresh) process: ingest the corpus into the server, with `data` as the data dir
    (the keyword index's), add one file, then time warm asks."""
    from qa.app import build_app
    from qa.evaluate import read_question_file
    from qa.settings import load_settings

    app = build_app(load_settings({**os.environ, "CORPUS_QA_DATA_DIR": str(data), "CORPUS_QA_CHROMA_URL": chroma_url}))
    app.warm(for_ingest=True)
    started = time.perf_counter()
    report = app.ingest([corpus], progress=False)
    ingest_s = time.perf_counter() - started
    adds = []
    for n in range(_ADDS):  # one at a time, each a new file; the median, as one timing varies by half
        added = _one_small_file(corpus.parent / f"added-to-{corpus.name}", n)
        started = time.perf_counter()
        app.ingest([added], progress=False)
        adds.append(time.perf_counter() - started)
    add_one_s = float(np.median(adds))
    lines = [line for line in read_question_file(SHARED_EVAL / "dev.jsonl") if not line.error]
    for line in lines:  # warm-up pass: sentence vectors of the passages get cached
        app.ask(line.question)
    latencies = []
    for _ in range(3):
        for line in lines:
            started = time.perf_counter()
            app.ask(line.question)
            latencies.append((time.perf_counter() - started) * 1000)
    keyword_mb = _megabytes(data / "keywords")
    return {
        "keyword_index_mb": keyword_mb,
        "documents": report.documents_added,
        "chunks": report.chunks_total,
        "ingest_s": round(ingest_s, 2),
        "chunks_per_s": round(report.chunks_total / ingest_s, 1),
        "add_one_file_s": round(add_one_s, 3),
        "ask_p50_ms": _percentile(latencies, 50),
        "ask_p95_ms": _percentile(latencies, 95),
        "peak_rss_mb": _peak_rss_mb(),
    }


async def _ask(client, base: str, question: str) -> dict:
    """One /ask through gradio's REST API (`POST {base}`, then read the event stream): the endpoint
    gradio_client calls, without its per-call threads, which on 2 cores take more CPU than the
    server does and would measure the load generator instead."""
    posted = await client.post(base, json={"data": [question, None, "any", None]})
    posted.raise_for_status()
    event = None
    async with client.stream("GET", f"{base}/{posted.json()['event_id']}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(f"/ask failed: {line.removeprefix('data:').strip()}")
                return json.loads(line.removeprefix("data:"))[0]
    raise RuntimeError("/ask closed its event stream without an answer")


def _answer_key(answer: dict) -> tuple:
    """What must not change under load: the answer's text and the passages it cites."""
    return answer["answer"], tuple(c["chunk_id"] for c in answer["citations"])


def load_test(chroma_url: str | None, data: Path, clients: int = 20, per_client: int = 5) -> dict:
    """Serve the chat over the store and send `clients` concurrent /ask clients at it, `per_client`
    questions each. Reports p50/p95 as the clients see them, answers per second, errors, answers
    that differ from the same question asked alone, and the CPU seconds of server and clients."""
    import httpx

    port = _free_port()
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(data)}
    if chroma_url:
        env["CORPUS_QA_CHROMA_URL"] = chroma_url
    serve = subprocess.Popen([str(BIN / "corpus-qa"), "serve", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/gradio_api/call/ask"

    def cpu_seconds() -> tuple[float, float]:
        fields = Path(f"/proc/{serve.pid}/stat").read_text().rsplit(")", 1)[1].split()
        mine = resource.getrusage(resource.RUSAGE_SELF)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), mine.ru_utime + mine.ru_stime

    async def run() -> dict:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients * 2)) as client:
            alone = {q: _answer_key(await _ask(client, base, q)) for q in QUESTIONS}  # also warms up
            latencies, errors, differing = [], [], 0

            async def one_client(n: int) -> None:
                nonlocal differing
                for i in range(per_client):
                    question = QUESTIONS[(n + i) % len(QUESTIONS)]
                    started = time.perf_counter()
                    try:
                        differing += _answer_key(await _ask(client, base, question)) != alone[question]
                    except Exception as exc:  # any failure counts; the figure is the error count
                        errors.append(f"{type(exc).__name__}: {exc}")
                    latencies.append((time.perf_counter() - started) * 1000)

            cpu_before, started = cpu_seconds(), time.perf_counter()
            await asyncio.gather(*(one_client(n) for n in range(clients)))
            wall, cpu_after = time.perf_counter() - started, cpu_seconds()
        return {"clients": clients, "requests": len(latencies), "errors": len(errors), "differing": differing,
                "p50_ms": _percentile(latencies, 50), "p95_ms": _percentile(latencies, 95),
                "answers_per_s": round(len(latencies) / wall, 1),
                "server_cpu_s": round(cpu_after[0] - cpu_before[0], 2),
                "client_cpu_s": round(cpu_after[1] - cpu_before[1], 2),
                "first_error": errors[0] if errors else None}

    try:
        _wait_for(f"http://127.0.0.1:{port}/", seconds=900)  # at 1000x the server reads a large keyword index first
        return asyncio.run(run())
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100], help="corpus sizes, x the bundled one")
    parser.add_argument("--json", action="store_true", help="end with one JSON object holding every figure")
    parser.add_argument("--worker", nargs=3, metavar=("CORPUS", "CHROMA_URL", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure_size(Path(args.worker[0]), args.worker[1], Path(args.worker[2]))))
        return 0
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "sizes": {}}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for times in args.sizes:
            corpus = work / f"corpus-{times}x"
            size = build_corpus(corpus, times)
            port = _free_port()
            chroma = subprocess.Popen([str(BIN / "chroma"), "run", "--path", str(work / f"chroma-{times}x"),
                                       "--host", "127.0.0.1", "--port", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_for(f"{url}/api/v2/heartbeat")
                data = work / f"data-{times}x"
                proc = subprocess.run([sys.executable, __file__, "--worker", str(corpus), url, str(data)],
                                      capture_output=True, text=True, check=True)
                figures = {"bytes": size, **json.loads(proc.stdout.strip().splitlines()[-1]),
                           "store_mb": _megabytes(work / f"chroma-{times}x")}
                results["sizes"][f"{times}x"] = figures
                print(f"{times}x: " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
                if times in (min(args.sizes), max(args.sizes)):
                    try:  # served from the same data dir, whose keyword index is current
                        figures["load"] = load_test(url, data)
                    except RuntimeError as exc:  # said, not fatal: the sizes measured so far stay
                        figures["load"] = {"error": str(exc)}
                    print(f"{times}x load: {figures['load']}", flush=True)
            finally:
                chroma.terminate()
                chroma.wait(timeout=30)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
