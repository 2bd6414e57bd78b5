#!/usr/bin/env python3
"""Every labelled question set, answered as `corpus-qa eval` answers it, in one table (`make eval`).

Each corpus is ingested into its own data dir under bench/results/eval-data (cached: a second
run embeds nothing). Per set: hit@5, MRR, answer_acc, abstain_acc, false refusals (answerable
questions refused), p50 latency, and the problems `verify.py --markers --max-answer 300` finds
in its answers. A set of conversations gets a row for its first turns, one for its follow-ups,
one for the same follow-ups asked without their history, and one for their standalone
rewrites, asked alone. The answers are written to bench/results/eval/SET.jsonl; `--json` prints the
table as JSON too. This is the one way a ranking change is judged.

Usage: bench/eval.py [--only NAME ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devsets import EVAL, available_sets, corpus_app  # noqa: E402
from qa.evaluate import answer_lines, compute_metrics  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "eval"
COLUMNS = ("questions", "hit@5", "mrr", "answer_acc", "abstain_acc", "false_refusals", "p50_ms", "verify_problems")


def verify_problems(path: Path) -> int:
    """How many problems the reference checker finds in an answers file."""
    done = subprocess.run([sys.executable, str(EVAL / "verify.py"), str(path), "--markers", "--max-answer", "300"],
                          capture_output=True, text=True)
    found = re.search(r"problems=(\d+)", done.stdout)
    return int(found.group(1)) if found else -1


def evaluate_set(qset, app) -> dict[str, dict]:
    """The set's row; for a set of conversations, one row for its first turns, one for its
    follow-ups, and one for the follow-ups' standalone rewrites asked alone (where it has them)."""
    lines = qset.lines()
    results = answer_lines(lines, lambda q, history: app.ask(q, history=history))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{qset.name.replace('/', '-')}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results), encoding="utf-8")
    problems = verify_problems(path) if qset.verifiable else None
    if not qset.conversations:
        return {qset.name: table_row(lines, results, problems)}
    by_id = {r["id"]: r for r in results}
    first = [line for line in lines if not line.history]
    follow_ups = [line for line in lines if line.history]
    rows = {f"{qset.name} (first turns)": table_row(first, [by_id[line.id] for line in first], problems),
            f"{qset.name} (follow-ups)": table_row(follow_ups, [by_id[line.id] for line in follow_ups], problems)}
    alone = [replace(line, history=()) for line in follow_ups]
    rows[f"{qset.name} (follow-ups, no history)"] = table_row(alone, answer_lines(alone, lambda q, h: app.ask(q)), None)
    rewritten = [replace(line, question=line.gold["standalone"], history=())
                 for line in follow_ups if line.gold and line.gold.get("standalone")]
    if rewritten:
        rows[f"{qset.name} (their rewrites)"] = table_row(rewritten, answer_lines(rewritten, lambda q, h: app.ask(q)),
                                                          None)
    return rows


def table_row(lines, results, problems: int | None) -> dict:
    metrics = compute_metrics(lines, results)
    gold = {line.id: line.gold for line in lines if line.gold}
    refused = sum(1 for r in results if r["id"] in gold and gold[r["id"]].get("answerable") and not r["answerable"])
    return {
        "questions": metrics["questions"],
        "hit@5": metrics["hit@5"] if metrics["answerable"] else None,
        "mrr": metrics["mrr"] if metrics["answerable"] else None,
        "answer_acc": metrics["answer_acc"] if metrics["answerable"] else None,
        "abstain_acc": metrics["abstain_acc"] if metrics["unanswerable"] else None,
        "false_refusals": f"{refused}/{metrics['answerable']}",
        "p50_ms": metrics["p50_ms"],
        "verify_problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="only these sets (names as in the table)")
    parser.add_argument("--json", action="store_true", help="also print the table as one JSON object")
    args = parser.parse_args()
    chosen = available_sets(args.only)
    apps, table = {}, {}
    for qset in chosen:
        app = apps.get(qset.corpus) or apps.setdefault(qset.corpus, corpus_app(qset.corpus))
        table.update(evaluate_set(qset, app))
        print(f"{qset.name}: done", file=sys.stderr, flush=True)
    print(f"{'set':<40}" + "".join(f"{c:>16}" for c in COLUMNS))
    for name, row in table.items():
        print(f"{name:<40}" + "".join(f"{'-' if row[c] is None else row[c]:>16}" for c in COLUMNS))
    if args.json:
        print(json.dumps(table, ensure_ascii=False))


if __name__ == "__main__":
    main()
