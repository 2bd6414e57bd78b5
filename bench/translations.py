"""Translations of cross-lingual answers by a local model: how many are shown, how many rejected and why,
and the time they add, on dev.jsonl, xquad-dev and the news example conversations.

Usage: CORPUS_QA_LLM_GGUF=model.gguf python bench/translations.py [--only SET ...]
Every translation is written to bench/results/translations.jsonl, to be read and judged by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections import Counter

from devsets import ROOT, available_sets, corpus_app

from qa.translate import foreign_quotes

SETS = ["dev.jsonl", "xquad-dev", "conv/news-example"]
OUT = ROOT / "bench" / "results" / "translations.jsonl"


def _kind(rejected: str) -> str:
    """A rejection without its particulars: "lacks the number", "changes the name", "took longer" ..."""
    return re.sub(r'\S*\d\S*|"[^"]*"|(?<=the name )\S+|(?<=names )\S+(?=, which)|GGUF model \S+', "…", rejected.removeprefix("the translation "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SET", help=f"question sets [default: {' '.join(SETS)}]")
    args = parser.parse_args()
    if not (os.environ.get("CORPUS_QA_LLM_GGUF") or os.environ.get("CORPUS_QA_LLM_URL")):
        raise SystemExit("set CORPUS_QA_LLM_GGUF or CORPUS_QA_LLM_URL: translations come from a local model")
    # Translations are of quotes: the model writes none of the answer itself here.
    os.environ.setdefault("CORPUS_QA_LLM_GENERATE", "false")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    print(f"{'set':20} {'answers':>8} {'quotes':>7} {'shown':>6} {'rejected':>9} {'p50 added s':>12}")
    with OUT.open("w", encoding="utf-8") as out:
        for qset in available_sets(args.only or SETS):
            app = corpus_app(qset.corpus, progress=False)
            answers, added, reasons = 0, [], Counter()
            for line in qset.lines():
                if line.error:
                    continue
                answer = app.ask(line.question, history=line.history, translate=False)
                if not foreign_quotes(answer):
                    continue
                answers += 1
                started = time.perf_counter()
                *_, translated = [answer, *app.translations(answer)]
                added.append(time.perf_counter() - started)
                for t in translated.translations:
                    reasons[_kind(t.rejected) if t.rejected else "shown"] += 1
                    out.write(json.dumps({"set": qset.name, "id": line.id, "question": line.question,
                                          **t.to_json()}, ensure_ascii=False) + "\n")
            quotes = sum(reasons.values())
            p50 = statistics.median(added) if added else 0.0
            print(f"{qset.name:20} {answers:8} {quotes:7} {reasons['shown']:6} {quotes - reasons['shown']:9} "
                  f"{p50:12.2f}", flush=True)
            print("   rejected: " + "; ".join(f"{n} {why}" for why, n in reasons.most_common() if why != "shown"))
    print(f"every translation: {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
