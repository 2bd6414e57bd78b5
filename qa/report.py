"""A readable evaluation report (HTML with embedded plots, Markdown, JSON), and run-to-run comparison."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from qa.evaluate import QuestionLine, answer_is_right, compute_metrics, evidence_rank, metrics_breakdown

HIT_KS = tuple(range(1, 11))


def report_metrics(lines: list[QuestionLine], results: list[dict], doc_langs: dict[str, str]) -> dict:
    """Everything the report shows: summary with hit@1/3/5, the hit@k curve and the breakdown."""
    summary = compute_metrics(lines, results, 5) or {}
    curve = {k: (compute_metrics(lines, results, k) or {}).get(f"hit@{k}") for k in HIT_KS}
    summary.update({"hit@1": curve[1], "hit@3": curve[3]})
    return {"summary": summary, "hit_at_k": curve, "breakdown": metrics_breakdown(lines, results, doc_langs, 5)}


def failures(lines: list[QuestionLine], results: list[dict], k: int = 5) -> list[dict]:
    """Gold-bearing questions whose evidence was not cited in the top k, or whose answer was wrong."""
    by_id = {r["id"]: r for r in results}
    out = []
    for line in lines:
        result = by_id.get(line.id)
        if line.gold is None or result is None:
            continue
        rank = evidence_rank(line.gold, result)
        missed = bool(line.gold.get("answerable")) and (rank is None or rank > k)
        if missed or not answer_is_right(line.gold, result):
            out.append({
                "id": line.id,
                "question": line.question,
                "expected": "; ".join(line.gold.get("gold") or []) or "(should abstain)",
                "evidence_rank": rank,
                "answer": result.get("answer", ""),
                "cited": [f"{Path(c.get('source', '')).name}: {c.get('text', '')[:120]}"
                          for c in (result.get("citations") or [])[:3]],
            })
    return out


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(metrics: dict, results: list[dict]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")  # no display here or on servers
    import matplotlib.pyplot as plt

    curve = metrics["hit_at_k"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(list(curve), [v or 0 for v in curve.values()], marker="o")
    ax.set(xlabel="k (citations)", ylabel="hit@k", ylim=(0, 1.02), xticks=list(curve), title="Evidence found in the top k")
    ax.grid(alpha=0.3)
    hit = _png(fig)
    plt.close(fig)
    latencies = [r["latency_ms"] for r in results if "latency_ms" in r]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(latencies, bins=30, color="#4c72b0")
    ax.set(xlabel="latency per question (ms)", ylabel="questions", title="Latency")
    latency = _png(fig)
    plt.close(fig)
    return {"hit_at_k": hit, "latency": latency}


def write_report(folder: Path, lines: list[QuestionLine], results: list[dict], doc_langs: dict[str, str],
                 title: str) -> dict:
    """Write report.html (self-contained), report.md, two PNG plots and metrics.json into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = report_metrics(lines, results, doc_langs)
    failed = failures(lines, results)
    plots = _plots(metrics, results)
    for name, data in plots.items():
        (folder / f"{name}.png").write_bytes(base64.b64decode(data))
    (folder / "metrics.json").write_text(json.dumps({**metrics, "failures": failed}, ensure_ascii=False, indent=2),
                                         encoding="utf-8")
    (folder / "report.md").write_text(_markdown(title, metrics, failed), encoding="utf-8")
    (folder / "report.html").write_text(_html(title, metrics, failed, plots), encoding="utf-8")
    return metrics


_SUMMARY_KEYS = ("hit@1", "hit@3", "hit@5", "mrr", "answer_acc", "abstain_acc", "p50_ms", "p95_ms", "questions")


def _rows(metrics: dict) -> list[tuple[str, dict]]:
    return [("all", metrics["summary"])] + list(metrics["breakdown"].items())


def _markdown(title: str, metrics: dict, failed: list[dict]) -> str:
    keys = ("hit@5", "mrr", "answer_acc", "abstain_acc", "p50_ms", "questions")
    out = [f"# {title}", "", "## Summary", "", "| " + " | ".join(_SUMMARY_KEYS) + " |",
           "|" + "---|" * len(_SUMMARY_KEYS), "| " + " | ".join(str(metrics["summary"].get(k)) for k in _SUMMARY_KEYS) + " |",
           "", "## By question language and same-language vs cross-lingual", "",
           "| group | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    out += [f"| {name} | " + " | ".join(str(m.get(k)) for k in keys) + " |" for name, m in _rows(metrics)]
    out += ["", "![hit@k](hit_at_k.png) ![latency](latency.png)", "", f"## Failures ({len(failed)})", "",
            "| id | question | expected evidence | rank | cited instead |", "|---|---|---|---|---|"]
    out += [f"| {f['id']} | {_cell(f['question'])} | {_cell(f['expected'])} | {f['evidence_rank'] or '-'} | "
            f"{_cell(' / '.join(f['cited']))} |" for f in failed]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _html(title: str, metrics: dict, failed: list[dict], plots: dict[str, str]) -> str:
    esc = html.escape
    keys = ("hit@5", "mrr", "answer_acc", "abstain_acc", "p50_ms", "questions")
    summary = "".join(f"<th>{esc(k)}</th>" for k in _SUMMARY_KEYS)
    values = "".join(f"<td>{esc(str(metrics['summary'].get(k)))}</td>" for k in _SUMMARY_KEYS)
    groups = "".join(
        f"<tr><td>{esc(name)}</td>" + "".join(f"<td>{esc(str(m.get(k)))}</td>" for k in keys) + "</tr>"
        for name, m in _rows(metrics)
    )
    failures_rows = "".join(
        f"<tr><td>{esc(f['id'])}</td><td>{esc(f['question'])}</td><td>{esc(f['expected'])}</td>"
        f"<td>{f['evidence_rank'] or '-'}</td><td>{esc(f['answer'][:200])}</td>"
        f"<td>{'<br>'.join(esc(c) for c in f['cited'])}</td></tr>"
        for f in failed
    )
    images = "".join(f'<img alt="{name}" src="data:image/png;base64,{data}">' for name, data in plots.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title><style>
body{{font-family:sans-serif;margin:24px;max-width:1200px}} table{{border-collapse:collapse;margin:8px 0 20px}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px;vertical-align:top}} th{{background:#f3f3f3}}
img{{margin-right:16px}}</style></head><body>
<h1>{esc(title)}</h1><h2>Summary</h2><table id="summary"><tr>{summary}</tr><tr>{values}</tr></table>
<h2>By question language and same-language vs cross-lingual</h2>
<table id="breakdown"><tr><th>group</th>{''.join(f'<th>{esc(k)}</th>' for k in keys)}</tr>{groups}</table>
<h2>Plots</h2><div id="plots">{images}</div>
<h2>Failures ({len(failed)})</h2><table id="failures"><tr><th>id</th><th>question</th><th>expected evidence</th>
<th>rank</th><th>answer</th><th>cited instead</th></tr>{failures_rows}</table></body></html>
"""


def compare_runs(lines: list[QuestionLine], before: list[dict], after: list[dict]) -> list[dict]:
    """Per gold-bearing question: evidence rank and answer correctness before and after, and the verdict."""
    a, b = {r["id"]: r for r in before}, {r["id"]: r for r in after}
    out = []
    for line in lines:
        if line.gold is None or line.id not in a or line.id not in b:
            continue
        old, new = _standing(line, a[line.id]), _standing(line, b[line.id])
        verdict = "better" if new > old else "worse" if new < old else "same"
        out.append({"id": line.id, "question": line.question, "before": old, "after": new, "verdict": verdict})
    return out


def _standing(line: QuestionLine, result: dict) -> tuple[int, float]:
    """(answer right, reciprocal evidence rank): tuples compare answer first, then evidence."""
    rank = evidence_rank(line.gold, result)
    return (int(answer_is_right(line.gold, result)), round(1.0 / rank, 3) if rank else 0.0)
