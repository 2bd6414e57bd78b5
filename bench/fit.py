#!/usr/bin/env python3
"""Fit the scoring model (`qa/scoring_model.json`) on every labelled question set (`make fit`).

1. Each question is asked of its corpus as the product asks it; every candidate passage that
   retrieval really returns is kept with its signals (`qa.scoring.Signals`), sentence signals
   included, and marked gold when it holds a gold evidence string.
2. Ranking: a listwise logistic model (conditional logit) over each question's candidates: the
   weights that give the gold passages the most probability among the ones retrieval returned.
3. Answering: a logistic regression of `answerable` on the features of the best passage that
   the fitted ranking puts first; the threshold is the highest that refuses at most
   MAX_FALSE_REFUSALS of the answerable questions it was fitted on.

Every figure printed is cross-validated: folds split by article (an unanswerable question is
its own group), so no question is scored by weights fitted on its article or on itself.

Usage: bench/fit.py [--folds 5] [--dry-run] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devsets import available_sets, corpus_app  # noqa: E402
from qa.evaluate import normalise  # noqa: E402
from qa.retrieve import drop_repeated_passages, fuse_candidates, make_query, rescore_by_sentences  # noqa: E402
from qa.scoring import (CONTEXT_SIGNALS, RANKING_SIGNALS, ScoringModel, Signals, answer_features, bundled_model_path,  # noqa: E402
                        load_scoring_model)

# The product's promise, not a tuned number: at most one answerable question in 20 refused.
MAX_FALSE_REFUSALS = 0.05
SENTENCE_SIGNALS = ("best_sentence", "best_sentence_coverage")
C_GRID = (0.1, 1.0, 10.0, 100.0)
CACHE = Path(__file__).resolve().parent / "results" / "fit-candidates.pickle"


@dataclass
class Asked:
    """One question's candidates, as retrieval returned them, and its labels."""

    set_name: str
    group: str
    answerable: bool
    signals: list[Signals]
    gold: np.ndarray  # per candidate: holds gold evidence
    every_word: np.ndarray  # per candidate: holds every word of the question, or a translation of each
    names_unknown: bool
    unheld_share: float
    follow_up: bool = False  # asked with the conversation so far


def collect() -> list[Asked]:
    """Ask every question of every set; keep each candidate's signals, sentence signals for all."""
    asked, apps = [], {}
    for qset in available_sets():
        app = apps.get(qset.corpus) or apps.setdefault(qset.corpus, corpus_app(qset.corpus))
        retrieval, settings = app.retrieval(), app.settings.qa
        # A conversation's first turns are left to the question sets: QuAC's are vague without their article's title.
        lines = [line for line in qset.lines() if line.gold is not None and not line.error
                 and (line.history or not qset.conversations)]
        print(f"{qset.name}: {len(lines)} questions", file=sys.stderr, flush=True)
        for line in lines:
            query = make_query(line.question, retrieval, settings, line.history)
            fused = drop_repeated_passages(fuse_candidates(query, retrieval, settings, query.named_language))
            if not fused and query.named_language:
                fused = drop_repeated_passages(fuse_candidates(query, retrieval, settings))
            if not fused:
                continue
            # Sentence signals for every candidate, so that ranking is fitted on more than the head.
            evidence = rescore_by_sentences(query, fused, retrieval.embedder, retrieval.scoring)
            golds = [normalise(s) for s in line.gold.get("gold") or []]
            texts = [normalise(e.passage.chunk.text + e.passage.chunk.following) for e in evidence]
            doc = line.gold.get("doc")
            asked.append(Asked(
                f"{qset.name} (follow-ups)" if line.history else qset.name,
                f"{qset.corpus}:{doc}" if line.gold.get("answerable") and doc else f"{qset.name}:{line.id}",
                bool(line.gold.get("answerable")),
                [e.signals for e in evidence],
                np.array([any(g in t for g in golds) for t in texts]),
                np.array([query.terms.matches_every_word(e.passage.chunk.text) for e in evidence]),
                bool(query.unknown_names),
                query.unheld_share,
                bool(line.history),
            ))
    return asked


def ranking_matrix(signals: list[Signals], with_sentences: bool = True) -> np.ndarray:
    rows = [[float(getattr(s, n)) if with_sentences or n not in SENTENCE_SIGNALS else 0.0 for n in RANKING_SIGNALS]
            for s in signals]
    return np.array(rows, dtype=np.float64)


def product_order(q: Asked, weights: np.ndarray, rescore: int) -> np.ndarray:
    """The candidates' order as the product ranks them: all without sentence signals, then the
    best `rescore` again with them."""
    first = np.argsort(-(ranking_matrix(q.signals, False) @ weights), kind="stable")
    head = first[:rescore]
    head = head[np.argsort(-(ranking_matrix([q.signals[i] for i in head]) @ weights), kind="stable")]
    return np.concatenate([head, first[rescore:]])


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float, balanced: bool):
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=5000)
    model.fit((x - mean) / scale, y)
    # Back to raw units: w.(x - mean)/scale + b = (w/scale).x + (b - w.mean/scale).
    weights = model.coef_[0] / scale
    return weights, float(model.intercept_[0] - weights @ mean)


def fit_ranking(train: list[Asked], c: float) -> np.ndarray:
    """Ranking weights in two steps: the question's own signals on questions asked alone, then,
    with those held, the conversation's (`CONTEXT_SIGNALS`) on follow-ups. A question without
    history ranks as if no conversation model existed."""
    own = [i for i, n in enumerate(RANKING_SIGNALS) if n not in CONTEXT_SIGNALS]
    context = [i for i, n in enumerate(RANKING_SIGNALS) if n in CONTEXT_SIGNALS]
    weights = np.zeros(len(RANKING_SIGNALS))
    weights[own] = _listwise([q for q in train if not q.follow_up], own, np.zeros(len(RANKING_SIGNALS)), c)
    follow_ups = [q for q in train if q.follow_up]
    if follow_ups:
        weights[context] = _listwise(follow_ups, context, weights, c)
    # Ranking is the same at any scale: put the score on the calibrated cosine's scale, which
    # is what the passage term of sentence choice reads.
    return weights / abs(weights[RANKING_SIGNALS.index("calibrated_cosine")])


def _listwise(questions: list[Asked], columns: list[int], held: np.ndarray, c: float) -> np.ndarray:
    """The weights of `columns` maximising, over the answerable questions, the softmax probability
    of their gold candidates among all their candidates, the other columns' weights `held`, with
    an L2 penalty of 1/c on standardised signals."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    lists = []
    for q in questions:
        if q.answerable and q.gold.any():
            x = ranking_matrix(q.signals)
            lists.append((x[:, columns], x @ held, q.gold))
    if not lists:
        return np.zeros(len(columns))
    scale = np.vstack([x for x, _, _ in lists]).std(axis=0)
    scale[scale == 0] = 1.0
    lists = [(x / scale, offset, gold) for x, offset, gold in lists]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = np.sum(w * w) / c, 2 * w / c
        for x, offset, gold in lists:
            s = x @ w + offset
            value += logsumexp(s) - logsumexp(s[gold])
            grad += x.T @ softmax(s) - x[gold].T @ softmax(s[gold])
        return value, grad

    start = np.eye(len(columns))[0] if not held.any() else np.zeros(len(columns))
    return minimize(loss, start, jac=True, method="L-BFGS-B").x / scale


def ranks(questions: list[Asked], weights: np.ndarray, rescore: int) -> list[int | None]:
    out = []
    for q in questions:
        if not q.answerable:
            continue
        order = product_order(q, weights, rescore)
        hit = np.flatnonzero(q.gold[order])
        out.append(int(hit[0]) + 1 if hit.size else None)
    return out


def answer_rows(questions: list[Asked], weights: np.ndarray, rescore: int) -> tuple[np.ndarray, list[str]]:
    rows = []
    for q in questions:
        order = product_order(q, weights, rescore)
        best = replace(q.signals[order[0]], every_word=bool(q.every_word[order[0]]))
        runner_up = q.signals[order[1]] if len(order) > 1 else None
        margin = float(ranking_matrix([best])[0] @ weights - ranking_matrix([runner_up])[0] @ weights) if runner_up else 0.0
        rows.append(answer_features(best, runner_up, margin, q.names_unknown, q.unheld_share, q.follow_up))
    names = list(rows[0])
    return np.array([[r[n] for n in names] for r in rows]), names


def fit_answering(train: list[Asked], weights: np.ndarray, rescore: int, c: float, follow_up: bool = False,
                  inner_folds: int = 5):
    """The answer model of questions asked alone, or (`follow_up`) of follow-ups: one is never
    fitted on the other, so history changes nothing for a question without it."""
    train = [q for q in train if q.follow_up == follow_up]
    x, names = answer_rows(train, weights, rescore)
    y = np.array([q.answerable for q in train])
    coef, bias = fit_logistic(x, y, c, balanced=True)
    # The threshold is read off probabilities of questions the weights were not fitted on:
    # on their own training questions they are too sure, and refuse more answerable ones elsewhere.
    held_out = np.zeros(len(train))
    for inner_train, inner_test in _group_splits(train, inner_folds):
        inner_coef, inner_bias = fit_logistic(x[inner_train], y[inner_train], c, balanced=True)
        held_out[inner_test] = x[inner_test] @ inner_coef + inner_bias
    # At most MAX_FALSE_REFUSALS of the answerable ones of every question set refused (one set's
    # easy questions must not pay for another's hard ones); below that cap, the threshold that
    # best tells the unanswerable from the answerable (refusing none, where the model cannot).
    sets = [np.array([q.set_name == name for q in train]) for name in sorted({q.set_name for q in train})]
    sets = [in_set for in_set in sets if (y & in_set).sum() >= 1 / MAX_FALSE_REFUSALS] or [np.ones(len(train), bool)]
    cap = min(np.quantile(held_out[y & in_set], MAX_FALSE_REFUSALS, method="lower") for in_set in sets)

    def separation(cut: float) -> float:
        refused = held_out < cut
        return (refused[~y].mean() if (~y).any() else 0.0) - refused[y].mean()

    cut = max([-np.inf, *held_out[held_out <= cap], cap], key=separation)
    threshold = float(1 / (1 + np.exp(-cut)))
    return dict(zip(names, coef)), bias, threshold


def _group_splits(questions: list[Asked], k: int):
    from sklearn.model_selection import GroupKFold

    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=0)
    return splitter.split(np.zeros(len(questions)), groups=[q.group for q in questions])


def folds(questions: list[Asked], k: int) -> list[tuple[list[Asked], list[Asked]]]:
    return [([questions[i] for i in tr], [questions[i] for i in te]) for tr, te in _group_splits(questions, k)]


def summary(rank_list: list[int | None], refused: list[bool], answerable: list[bool]) -> dict:
    n = max(len(rank_list), 1)
    unans = [r for r, a in zip(refused, answerable) if not a]
    false = [r for r, a in zip(refused, answerable) if a]
    return {
        "hit@5": round(sum(1 for r in rank_list if r and r <= 5) / n, 3),
        "mrr": round(sum(1 / r for r in rank_list if r and r <= 5) / n, 3),
        "abstain_acc": round(sum(unans) / len(unans), 3) if unans else None,
        "false_refusals": round(sum(false) / max(len(false), 1), 3),
    }


def cross_validate(questions: list[Asked], k: int, rescore: int, c_rank: float, c_answer: float,
                   c_follow_up: float, baseline: np.ndarray | None = None) -> dict[str, dict]:
    """Out-of-fold figures per question set (with `baseline`: the ranking weights not fitted),
    and for all questions asked alone and all follow-ups."""
    by_set: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for train, test in folds(questions, k):
        weights = baseline if baseline is not None else fit_ranking(train, c_rank)
        for follow_up, c in ((False, c_answer), (True, c_follow_up)):
            asked = [q for q in test if q.follow_up == follow_up]
            if not asked:
                continue
            answering, bias, threshold = fit_answering(train, weights, rescore, c, follow_up)
            x, names = answer_rows(asked, weights, rescore)
            probability = 1 / (1 + np.exp(-(x @ np.array([answering[n] for n in names]) + bias)))
            for q, p in zip(asked, probability):
                for name in (q.set_name, "all follow-ups" if follow_up else "all asked alone"):
                    by_set[name]["ranks"] += ranks([q], weights, rescore)
                    by_set[name]["refused"].append(bool(p < threshold))
                    by_set[name]["answerable"].append(q.answerable)
    return {name: summary(r["ranks"], r["refused"], r["answerable"]) for name, r in sorted(by_set.items())}


def print_table(title: str, figures: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(f"  {'set':<36} {'hit@5':>6} {'mrr':>6} {'abstain':>8} {'false ref.':>10}")
    for name, f in figures.items():
        abstain = "-" if f["abstain_acc"] is None else f"{f['abstain_acc']:.3f}"
        print(f"  {name:<36} {f['hit@5']:>6.3f} {f['mrr']:>6.3f} {abstain:>8} {f['false_refusals']:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no model")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the candidates the last run collected (they do not depend on the weights)")
    args = parser.parse_args()
    current = load_scoring_model()  # its ranking weights are the baseline the fitted ones are compared with
    rescore = 12  # QASettings.rescore_candidates' default
    if args.reuse and CACHE.exists():
        questions = pickle.loads(CACHE.read_bytes())
    else:
        questions = collect()
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(pickle.dumps(questions))
    baseline = np.array([current.ranking[n] for n in RANKING_SIGNALS])
    # The regularisation of each model, chosen by cross-validation: ranking's by MRR of the
    # questions asked alone (follow-ups' weights are fitted at the same), then each answer model's
    # by abstention at the false-refusal rate its threshold allows.
    by_rank_c = {c: cross_validate(questions, args.folds, rescore, c, 1.0, 1.0) for c in C_GRID}
    c_rank = max(C_GRID, key=lambda c: by_rank_c[c]["all asked alone"]["mrr"])
    by_answer_c = {c: cross_validate(questions, args.folds, rescore, c_rank, c, c) for c in C_GRID}
    c_answer = max(C_GRID, key=lambda c: by_answer_c[c]["all asked alone"]["abstain_acc"] or 0.0)
    c_follow_up = max(C_GRID, key=lambda c: by_answer_c[c].get("all follow-ups", {}).get("abstain_acc") or 0.0)
    for c in C_GRID:
        print(f"C={c}: ranking mrr {by_rank_c[c]['all asked alone']['mrr']}, answering abstain "
              f"{by_answer_c[c]['all asked alone']['abstain_acc']} false refusals "
              f"{by_answer_c[c]['all asked alone']['false_refusals']}", file=sys.stderr)
    print_table("ranking weights of the current model file, abstention fitted (cross-validated)",
                cross_validate(questions, args.folds, rescore, c_rank, c_answer, c_follow_up, baseline))
    print_table(f"fitted ranking (C={c_rank}) and abstention (C={c_answer}, follow-ups {c_follow_up}), "
                "cross-validated by article",
                cross_validate(questions, args.folds, rescore, c_rank, c_answer, c_follow_up))
    weights = fit_ranking(questions, c_rank)
    answering, bias, threshold = fit_answering(questions, weights, rescore, c_answer)
    follow_up, follow_up_bias, follow_up_threshold = fit_answering(questions, weights, rescore, c_follow_up, True)
    model = ScoringModel(
        ranking={n: round(float(w), 5) for n, w in zip(RANKING_SIGNALS, weights)},
        answering={"bias": round(bias, 5), **{n: round(float(w), 5) for n, w in answering.items()}},
        answer_threshold=round(threshold, 5),
        follow_up_answering={"bias": round(follow_up_bias, 5), **{n: round(float(w), 5) for n, w in follow_up.items()}},
        follow_up_threshold=round(follow_up_threshold, 5),
        fitted_on=f"{len(questions)} questions of {', '.join(sorted({q.set_name for q in questions}))}; "
                  f"C={c_rank}, {c_answer}, {c_follow_up}",
    )
    print("\nranking weights:", json.dumps(model.ranking))
    print("answering weights:", json.dumps(model.answering))
    print("answer threshold:", model.answer_threshold)
    print("follow-up answering weights:", json.dumps(model.follow_up_answering))
    print("follow-up answer threshold:", model.follow_up_threshold)
    if not args.dry_run:
        bundled_model_path().write_text(json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
        print(f"wrote {bundled_model_path()}")


if __name__ == "__main__":
    main()
