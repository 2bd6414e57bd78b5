"""Batch answering of a JSON Lines question file, and the metrics of FORMAT.md."""

from __future__ import annotations

import codecs
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.conversation import Turn, parse_history
from qa.errors import QAError, QuestionError, QuestionFileError
from qa.records import Answer


@dataclass(frozen=True)
class QuestionLine:
    """One line of a question file: a question to ask, or why it cannot be asked."""

    line_no: int
    id: str
    question: str
    gold: dict | None = None  # the parsed line, when it carries gold fields
    error: str | None = None
    history: tuple[Turn, ...] = ()  # the conversation so far, when the line carries one


def read_question_file(path: Path) -> list[QuestionLine]:
    """Parse a JSONL question file; a bad line becomes a QuestionLine with `error` set.

    Raises:
        QuestionFileError: the file is missing, not UTF-8, or has no line that is a JSON object.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise QuestionFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    raw = raw.removeprefix(codecs.BOM_UTF8)  # Notepad's "UTF-8 with BOM"
    lines = [_parse_line(n, text) for n, text in enumerate(raw.split(b"\n"), 1) if text.strip()]
    if lines and all(line.error and line.error.startswith("not UTF-8") for line in lines):
        raise QuestionFileError(f"{path} is not UTF-8 text ({lines[0].error}): save it as UTF-8 JSON Lines")
    if not lines:
        raise QuestionFileError(f"{path} holds no questions: write one JSON object per line, e.g. "
                                '{"id": "q1", "question": "Who created Chatbot Arena?"}')
    if all(line.error and line.error.startswith("not JSON") for line in lines):
        raise QuestionFileError(f"{path} is not JSON Lines: no line parses as JSON ({lines[0].error})")
    return lines


def read_results(path: Path) -> list[dict]:
    """An earlier `eval` output (one answer object per line).

    Raises:
        QuestionFileError: the file is missing or a line is not a JSON object with an id.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    results = []
    for n, text in enumerate(raw.splitlines(), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path} line {n} is not JSON ({exc.msg}): pass an output of `corpus-qa eval`") from None
        if not isinstance(row, dict) or "id" not in row:
            raise QuestionFileError(f"{path} line {n} has no 'id': pass an output of `corpus-qa eval`")
        results.append(row)
    return results


def _parse_line(line_no: int, raw: bytes) -> QuestionLine:
    fallback_id = f"line-{line_no}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return QuestionLine(line_no, fallback_id, "", error=f"not UTF-8 text (byte {exc.start} of the line)")
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return QuestionLine(line_no, fallback_id, "", error=f"not JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(row, dict):
        return QuestionLine(line_no, fallback_id, "", error="not a JSON object")
    qid = row.get("id")
    qid = str(qid) if isinstance(qid, (str, int)) and str(qid) else fallback_id
    gold = row if "answerable" in row else None
    question = row.get("question")
    if not isinstance(question, str):
        return QuestionLine(line_no, qid, "", gold, error="missing 'question' (a string)")
    if "id" not in row:
        return QuestionLine(line_no, qid, question, gold, error="missing 'id' (a string)")
    try:
        history = parse_history(row.get("history"))
    except QuestionError as exc:
        return QuestionLine(line_no, qid, question, gold, error=str(exc))
    return QuestionLine(line_no, qid, question, gold, history=history)


def answer_lines(
    lines: Iterable[QuestionLine],
    ask: Callable[[str, tuple[Turn, ...]], Answer],
    on_result: Callable[[dict], None] = lambda result: None,
) -> list[dict]:
    """Answer each line in order, with its conversation so far; a line that fails still gets an
    output with `error`."""
    results = []
    for line in lines:
        if line.error:
            result = _error_result(line.id, line.question, line.error)
        else:
            try:
                result = ask(line.question, line.history).to_json(line.id)
            except QAError as exc:
                result = _error_result(line.id, line.question, str(exc))
        results.append(result)
        on_result(result)
    return results


# An error line names its question; a huge one is cut, as the error says why it was refused.
_QUESTION_SHOWN = 200


def _error_result(qid: str, question: str, error: str) -> dict:
    shown = question if len(question) <= _QUESTION_SHOWN else question[: _QUESTION_SHOWN - 1] + "…"
    return {"id": qid, "question": shown, "answer": "", "answerable": False, "citations": [], "error": error}


def repeated_ids(lines: Iterable[QuestionLine]) -> list[str]:
    """The ids more than one line carries: their answers cannot be told apart."""
    seen: dict[str, int] = {}
    for line in lines:
        seen[line.id] = seen.get(line.id, 0) + 1
    return [qid for qid, count in seen.items() if count > 1]


def normalise(text: str | None) -> str:
    """FORMAT.md's matching form: NFKC, whitespace runs collapsed, lower-cased."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def evidence_rank(gold: dict, result: dict) -> int | None:
    """1-based rank of the first citation holding any `gold` evidence string, or None."""
    evidence = [normalise(s) for s in gold.get("gold") or []]
    cited = [normalise(c.get("text")) for c in result.get("citations") or []]
    return next((i for i, c in enumerate(cited, 1) if any(s in c for s in evidence)), None)


def answer_is_right(gold: dict, result: dict) -> bool:
    """Answerable: marked answerable and holding an `answer_any` string. Unanswerable: refused."""
    if not gold.get("answerable"):
        return result.get("answerable") is False
    expected = [normalise(a) for a in gold.get("answer_any") or []]
    return bool(result.get("answerable", True)) and any(a in normalise(result.get("answer")) for a in expected)


def compute_metrics(lines: Iterable[QuestionLine], results: Iterable[dict], k: int = 5) -> dict | None:
    """hit@k, MRR, answer_acc, abstain_acc and latency, computed as eval/score.py does; None without gold."""
    gold = {line.id: line.gold for line in lines if line.gold is not None}
    if not gold:
        return None
    by_id = {r["id"]: r for r in results}
    hits = reciprocal = correct = answerable = abstained = unanswerable = 0
    for qid, row in gold.items():
        result = by_id.get(qid)
        if result is None:
            continue
        if row.get("answerable"):
            answerable += 1
            rank = evidence_rank(row, result)
            if rank and rank <= k:
                hits += 1
                reciprocal += 1.0 / rank
            correct += answer_is_right(row, result)
        else:
            unanswerable += 1
            abstained += answer_is_right(row, result)
    latencies = [by_id[qid]["latency_ms"] for qid in gold if "latency_ms" in by_id.get(qid, {})]
    return {
        f"hit@{k}": round(hits / max(answerable, 1), 3),
        "mrr": round(reciprocal / max(answerable, 1), 3),
        "answer_acc": round(correct / max(answerable, 1), 3),
        "abstain_acc": round(abstained / max(unanswerable, 1), 3),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "questions": len(gold),
        "answerable": answerable,
        "unanswerable": unanswerable,
    }


def metrics_breakdown(
    lines: list[QuestionLine], results: list[dict], doc_langs: dict[str, str], k: int = 5
) -> dict[str, dict]:
    """The metrics per question language (`lang`), and same-language versus cross-lingual.

    A question is cross-lingual when its `lang` differs from the language of its gold `doc`,
    looked up by file name or doc id in `doc_langs`.
    """
    groups: dict[str, list[QuestionLine]] = {}
    for line in lines:
        if line.gold is None or not line.gold.get("lang"):
            continue
        lang = str(line.gold["lang"])
        groups.setdefault(f"lang={lang}", []).append(line)
        doc_lang = doc_langs.get(str(line.gold.get("doc") or ""))
        if doc_lang:
            groups.setdefault("same-language" if doc_lang == lang else "cross-lingual", []).append(line)
    breakdown = {}
    for name, group in sorted(groups.items()):
        metrics = compute_metrics(group, results, k)
        # score.py reports 0 for a rate with no questions behind it; in a breakdown that misleads.
        if not metrics["unanswerable"]:
            metrics["abstain_acc"] = None
        if not metrics["answerable"]:
            metrics.update({f"hit@{k}": None, "mrr": None, "answer_acc": None})
        breakdown[name] = metrics
    return breakdown
