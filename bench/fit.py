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
4. Sentence choice: the weights and margin that choose sentences (`qa.scoring.SentenceSignals`)
   are searched coordinate by coordinate for the most answers holding a gold answer string, each
   answer composed as the product composes it from the candidate sentences it finds (lead-ins,
   lists, cuts to the answer's length). They are read with the passage scores of the ranking in
   the current model file, so a ranking change is followed by a second `make fit`.
5. Topic switches: every answerable question with history is read both ways, against its
   conversation and alone, with the ranking of the model file (or the one just fitted); a
   logistic regression of "alone ranks gold better" on `qa.scoring.SwitchSignals`, each question
   weighed by the reciprocal rank the choice moves, decides which reading the product answers.

Every figure printed is cross-validated: folds split by article (an unanswerable question is
its own group), so no question is scored by weights fitted on its article or on itself.

Usage: bench/fit.py [--folds 5] [--dry-run] [--reuse] [--only passages|sentences|switches]
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devsets import available_sets, corpus_app  # noqa: E402
from qa.answer import (candidate_sentences, evidence_to_cite, read_both_ways, sentence_signals,  # noqa: E402
                       switch_signals)
from qa.answer import choose_sentences, continued_in_paragraph, quoted_text  # noqa: E402
from qa.answer_type import asked_type  # noqa: E402
from qa.evaluate import answer_is_right, evidence_rank, normalise  # noqa: E402
from qa.retrieve import drop_repeated_passages, fuse_candidates, make_query, rescore_by_sentences  # noqa: E402
from qa.scoring import (CONTEXT_SIGNALS, RANKING_SIGNALS, SENTENCE_SIGNALS, SWITCH_FEATURES, ScoringModel,  # noqa: E402
                        SentenceSignals, Signals, SwitchSignals, answer_features, bundled_model_path,
                        load_scoring_model)

# The product's promise, not a tuned number: at most one answerable question in 20 refused.
MAX_FALSE_REFUSALS = 0.05
# The values each sentence-choice weight and the margin are searched among, in units of the
# similarity's weight (held at 1): a grid, since answers held move in steps, not smoothly.
SENTENCE_WEIGHT_GRID = (-1.0, -0.5, -0.25, -0.1, 0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
SENTENCE_MARGIN_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)
# The ranking signals that only re-scored passages have.
RESCORED_SIGNALS = ("best_sentence", "best_sentence_coverage")
C_GRID = (0.1, 1.0, 10.0, 100.0)
CACHE = Path(__file__).resolve().parent / "results" / "fit-candidates.pickle"
# How the model file's `fitted_on` opens what it says of each part, in its order.
PROVENANCE = {"passages": "ranking", "sentences": "sentence", "switches": "topic switches", "sets": "of "}


@dataclass
class SentenceChoice:
    """What choosing one answer's sentences reads beside their signals, and the gold answers."""

    candidates: list  # (rank, Sentence, bullet), as `qa.answer.candidate_sentences` finds them
    continued: set[int]  # the candidates the next one continues in its paragraph
    terms: object  # the query's `QueryTerms`, which a cut sentence keeps most of
    kind: str | None  # what the question asks for (`qa.answer_type.asked_type`)
    max_chars: int
    answers: list[str]  # the gold answer strings, normalised (none empty)


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
    sentences: list[SentenceSignals] = field(default_factory=list)  # the candidate answer sentences
    sentence_gold: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per sentence: holds an answer
    question: str = ""  # as searched (`Query.text`), and its candidates' texts and languages: for new signals
    texts: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    docs: list[str] = field(default_factory=list)  # each candidate's document id
    choice: SentenceChoice | None = None

    @functools.cached_property
    def sentence_signal_matrix(self) -> np.ndarray:
        """`sentences` as rows of `SENTENCE_SIGNALS`: read at every step of the sentence-choice search."""
        return sentence_matrix(self.sentences)


def collect() -> list[Asked]:
    """Ask every question of every set; keep each candidate's signals, sentence signals for all."""
    asked, apps = [], {}
    for qset in [s for s in available_sets() if s.fitted]:
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
            sentences, sentence_gold, choice = answer_sentences(query, retrieval, settings,
                                                                line.gold.get("answer_any") or [])
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
                sentences,
                sentence_gold,
                query.text,
                [e.passage.chunk.text for e in evidence],
                [e.passage.chunk.lang for e in evidence],
                [e.passage.chunk.doc_id for e in evidence],
                choice,
            ))
    return asked


def collected(reuse: bool) -> list[Asked]:
    """`collect`'s questions: the last run's with `reuse` (when there are some), else collected and kept."""
    if reuse and CACHE.exists():
        return pickle.loads(CACHE.read_bytes())
    questions = collect()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_bytes(pickle.dumps(questions))
    return questions


def answer_sentences(query, retrieval, settings, answers: list[str]):
    """The candidate sentences an answer to `query` may quote, as the product finds them, which of
    them hold one of the gold `answers`, and what choosing among them reads (`SentenceChoice`)."""
    evidence, _ = evidence_to_cite(query, retrieval, settings)
    candidates = candidate_sentences(evidence[: settings.answer_passages])
    golds = [normalise(a) for a in answers if normalise(a)]
    holds = np.array([any(g in normalise(sentence.text) for g in golds) for _, sentence, _ in candidates], bool)
    kind = asked_type(query.text)
    choice = SentenceChoice(candidates, continued_in_paragraph(candidates, evidence), query.terms, kind,
                            settings.max_answer_chars, golds)
    return sentence_signals(kind, candidates, evidence), holds, choice


def ranking_matrix(signals: list[Signals], with_sentences: bool = True) -> np.ndarray:
    rows = [[float(getattr(s, n)) if with_sentences or n not in RESCORED_SIGNALS else 0.0 for n in RANKING_SIGNALS]
            for s in signals]
    return np.array(rows, dtype=np.float64)


def candidate_matrix(q: Asked, extra=None, rows: np.ndarray | None = None, with_sentences: bool = True) -> np.ndarray:
    """The `ranking_matrix` of q's candidates (those at `rows`, else all), followed by the
    columns of `extra(q)` (a row per candidate: signals measured outside the product), if given."""
    rows = np.arange(len(q.signals)) if rows is None else rows
    x = ranking_matrix([q.signals[i] for i in rows], with_sentences)
    return np.column_stack([x, extra(q)[rows]]) if extra is not None else x


def product_order(q: Asked, weights: np.ndarray, rescore: int, extra=None) -> np.ndarray:
    """The candidates' order as the product ranks them: all without sentence signals, then the
    best `rescore` again with them. `weights` end with those of `extra`'s columns (`candidate_matrix`)."""
    first = np.argsort(-(candidate_matrix(q, extra, with_sentences=False) @ weights), kind="stable")
    head = first[:rescore]
    head = head[np.argsort(-(candidate_matrix(q, extra, head) @ weights), kind="stable")]
    return np.concatenate([head, first[rescore:]])


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float, balanced: bool, sample_weight: np.ndarray | None = None):
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=5000)
    model.fit((x - mean) / scale, y, sample_weight=sample_weight)
    # Back to raw units: w.(x - mean)/scale + b = (w/scale).x + (b - w.mean/scale).
    weights = model.coef_[0] / scale
    return weights, float(model.intercept_[0] - weights @ mean)


def fit_ranking(train: list[Asked], c: float, extra=None) -> np.ndarray:
    """Ranking weights in two steps: the question's own signals on questions asked alone, then,
    with those held, the conversation's (`CONTEXT_SIGNALS`) on follow-ups. A question without
    history ranks as if no conversation model existed. `extra`'s columns (`candidate_matrix`)
    are fitted with the question's own signals, and their weights follow the others."""
    width = len(RANKING_SIGNALS) + (extra(train[0]).shape[1] if extra is not None and train else 0)
    own = [i for i, n in enumerate(RANKING_SIGNALS) if n not in CONTEXT_SIGNALS]
    own += list(range(len(RANKING_SIGNALS), width))
    context = [i for i, n in enumerate(RANKING_SIGNALS) if n in CONTEXT_SIGNALS]
    weights = np.zeros(width)
    weights[own] = _listwise([q for q in train if not q.follow_up], own, np.zeros(width), c, extra)
    follow_ups = [q for q in train if q.follow_up]
    if follow_ups:
        weights[context] = _listwise(follow_ups, context, weights, c, extra)
    # Ranking is the same at any scale: put the score on the calibrated cosine's scale, which
    # is what the passage term of sentence choice reads.
    return weights / abs(weights[RANKING_SIGNALS.index("calibrated_cosine")])


def _listwise(questions: list[Asked], columns: list[int], held: np.ndarray, c: float, extra=None) -> np.ndarray:
    """The ranking weights of `columns` (of `candidate_matrix`) maximising, over the answerable
    questions, the softmax probability of their gold candidates among all their candidates, the
    other columns' weights `held`."""
    lists = []
    for q in questions:
        if q.answerable and q.gold.any():
            x = candidate_matrix(q, extra)
            lists.append((x[:, columns], x @ held, q.gold))
    start = np.eye(len(columns))[0] if not held.any() else np.zeros(len(columns))
    return conditional_logit(lists, c, start)


def conditional_logit(lists: list[tuple[np.ndarray, np.ndarray, np.ndarray]], c: float,
                      start: np.ndarray) -> np.ndarray:
    """The weights w maximising the summed log softmax probability of each list's gold rows, the
    rows scored x @ w + offset, for lists of (x, offset, gold), with an L2 penalty of 1/c on
    standardised columns. Zero without a list."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    if not lists:
        return np.zeros(len(start))
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

    return minimize(loss, start, jac=True, method="L-BFGS-B").x / scale


def sentence_matrix(signals: list[SentenceSignals]) -> np.ndarray:
    return np.array([[float(getattr(s, n)) for n in SENTENCE_SIGNALS] for s in signals], dtype=np.float64)


def answer_holds(q: Asked, weights: np.ndarray, margin: float) -> bool:
    """Whether the answer the product composes for `q` with these sentence-choice weights and
    margin holds a gold answer string, as `make eval`'s answer_acc reads it."""
    if q.choice is None or not q.sentences:
        return False
    c = q.choice
    chosen = choose_sentences(c.candidates, q.sentence_signal_matrix @ weights, margin, c.max_chars, c.terms, c.kind,
                              c.continued)
    return answer_is_right({"answerable": True, "answer_any": c.answers}, {"answer": quoted_text(chosen)})


def answers_held(questions: list[Asked], weights: np.ndarray, margin: float) -> float:
    held = [answer_holds(q, weights, margin) for q in questions]
    return float(np.mean(held)) if held else 0.0


def fit_sentence_choice(train: list[Asked], start: np.ndarray, start_margin: float) -> tuple[np.ndarray, float]:
    """Weights and margin that compose the most answers holding a gold answer, searched one
    coordinate at a time (the margin first) over the grids from (`start`, `start_margin`) until
    none moves; the similarity's weight stays as it starts (it sets the scale). Fitted on questions asked alone,
    as ranking's own weights are: a follow-up's sentences are chosen by the same reading."""
    train = [q for q in train if q.answerable and not q.follow_up and q.choice is not None
             and q.sentence_gold.any()]
    scale = float(start[0])
    weights, margin = start.astype(float).copy(), float(start_margin)
    best = answers_held(train, weights, margin)
    for _ in range(4):
        moved = False
        for i in [None, *range(1, len(weights))]:  # None: the margin
            grid = SENTENCE_MARGIN_GRID if i is None else SENTENCE_WEIGHT_GRID
            for value in (scale * v for v in grid):
                trial_weights, trial_margin = weights.copy(), margin
                if i is None:
                    trial_margin = value
                else:
                    trial_weights[i] = value
                held = answers_held(train, trial_weights, trial_margin)
                if held > best + 1e-9:  # only a strict gain moves a value: ties keep the one it has
                    best, weights, margin, moved = held, trial_weights, trial_margin, True
        if not moved:
            break
    return weights, margin


def held_by_set(questions: list[Asked], choice_of) -> dict[str, tuple[float, int]]:
    """Per question set, and for all questions asked alone and all follow-ups: the share of
    answerable questions whose composed answer holds a gold answer (`choice_of(q)` gives the
    weights and margin that choose q's sentences), and how many questions."""
    held: dict[str, list[bool]] = defaultdict(list)
    for q in questions:
        if q.answerable and q.choice is not None:
            hit = answer_holds(q, *choice_of(q))
            for name in (q.set_name, "all follow-ups" if q.follow_up else "all asked alone"):
                held[name].append(hit)
    return {name: (round(float(np.mean(rows)), 3), len(rows)) for name, rows in sorted(held.items())}


def cross_validate_sentences(questions: list[Asked], k: int, start: np.ndarray,
                             start_margin: float) -> dict[str, tuple[float, int]]:
    """`held_by_set` out of fold: each question's sentences chosen as fitted on other articles."""
    fitted = {}
    for train, test in folds(questions, k):
        choice = fit_sentence_choice(train, start, start_margin)
        fitted.update({id(q): choice for q in test})
    return held_by_set(questions, lambda q: fitted[id(q)])


def ranks(questions: list[Asked], weights: np.ndarray, rescore: int, extra=None) -> list[int | None]:
    out = []
    for q in questions:
        if not q.answerable:
            continue
        order = product_order(q, weights, rescore, extra)
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


def fit_passage_scoring(questions: list[Asked], current: ScoringModel, k: int) -> dict:
    """Ranking and answering, fitted and cross-validated (their figures printed): the model file's
    fields they set."""
    rescore = 12  # QASettings.rescore_candidates' default
    baseline = np.array([current.ranking[n] for n in RANKING_SIGNALS])
    # The regularisation of each model, chosen by cross-validation: ranking's by MRR of the
    # questions asked alone (follow-ups' weights are fitted at the same), then each answer model's
    # by abstention at the false-refusal rate its threshold allows.
    by_rank_c = {c: cross_validate(questions, k, rescore, c, 1.0, 1.0) for c in C_GRID}
    c_rank = max(C_GRID, key=lambda c: by_rank_c[c]["all asked alone"]["mrr"])
    by_answer_c = {c: cross_validate(questions, k, rescore, c_rank, c, c) for c in C_GRID}
    c_answer = max(C_GRID, key=lambda c: by_answer_c[c]["all asked alone"]["abstain_acc"] or 0.0)
    c_follow_up = max(C_GRID, key=lambda c: by_answer_c[c].get("all follow-ups", {}).get("abstain_acc") or 0.0)
    for c in C_GRID:
        print(f"C={c}: ranking mrr {by_rank_c[c]['all asked alone']['mrr']}, answering abstain "
              f"{by_answer_c[c]['all asked alone']['abstain_acc']} false refusals "
              f"{by_answer_c[c]['all asked alone']['false_refusals']}", file=sys.stderr)
    print_table("ranking weights of the current model file, abstention fitted (cross-validated)",
                cross_validate(questions, k, rescore, c_rank, c_answer, c_follow_up, baseline))
    print_table(f"fitted ranking (C={c_rank}) and abstention (C={c_answer}, follow-ups {c_follow_up}), "
                "cross-validated by article",
                cross_validate(questions, k, rescore, c_rank, c_answer, c_follow_up))
    weights = fit_ranking(questions, c_rank)
    answering, bias, threshold = fit_answering(questions, weights, rescore, c_answer)
    follow_up, follow_up_bias, follow_up_threshold = fit_answering(questions, weights, rescore, c_follow_up, True)
    return {
        "ranking": {n: round(float(w), 5) for n, w in zip(RANKING_SIGNALS, weights)},
        "answering": {"bias": round(bias, 5), **{n: round(float(w), 5) for n, w in answering.items()}},
        "answer_threshold": round(threshold, 5),
        "follow_up_answering": {"bias": round(follow_up_bias, 5),
                                **{n: round(float(w), 5) for n, w in follow_up.items()}},
        "follow_up_threshold": round(follow_up_threshold, 5),
        "fitted_on": f"ranking and answering: {len(questions)} questions; C={c_rank}, {c_answer}, {c_follow_up}",
    }


def fit_sentence_scoring(questions: list[Asked], current: ScoringModel, k: int) -> dict:
    """Sentence choice, fitted and cross-validated (its figures printed): the model file's fields it sets."""
    current_weights = np.array([current.sentence_choice[n] for n in SENTENCE_SIGNALS])
    current_held = held_by_set(questions, lambda q: (current_weights, current.sentence_margin))
    # The search starts from the similarity alone, quoting one sentence: nothing of the current model.
    start, start_margin = np.eye(len(SENTENCE_SIGNALS))[0], 0.0
    fitted_held = cross_validate_sentences(questions, k, start, start_margin)
    print("\nanswers holding a gold answer (of answerable questions): current model / fitted (cross-validated)")
    for name, (share, n) in fitted_held.items():
        print(f"  {name:<36} {current_held[name][0]:>6.3f} {share:>6.3f}  ({n})")
    weights, margin = fit_sentence_choice(questions, start, start_margin)
    return {
        "sentence_choice": {n: round(float(w), 5) for n, w in zip(SENTENCE_SIGNALS, weights)},
        "sentence_margin": round(margin, 5),
        "fitted_on": f"sentence choice: {sum(not q.follow_up for q in questions)} questions, grid search",
    }


@dataclass(frozen=True)
class Switch:
    """A question asked with history, read both ways: against its conversation and alone."""

    set_name: str
    group: str
    signals: SwitchSignals
    history_rank: int | None  # of its first passage holding gold evidence, read against the conversation
    alone_rank: int | None


def collect_switches(scoring: ScoringModel) -> list[Switch]:
    """Every answerable question with history (follow-ups, and the topic-switch sets), read both
    ways with the ranking and answer models of `scoring`."""
    asked, apps = [], {}
    for qset in [s for s in available_sets() if s.fitted and (s.conversations or s.switches)]:
        app = apps.get(qset.corpus) or apps.setdefault(qset.corpus, corpus_app(qset.corpus))
        retrieval, settings = replace(app.retrieval(), scoring=scoring), app.settings.qa
        lines = [line for line in qset.lines() if line.history and not line.error and line.gold
                 and line.gold.get("answerable")]
        print(f"{qset.name}: {len(lines)} questions with history", file=sys.stderr, flush=True)
        for line in lines:
            with_history, alone = read_both_ways(line.question, line.history, retrieval, settings)
            if alone is None:
                continue
            signals = switch_signals(with_history, alone, retrieval.scoring)
            asked.append(Switch(qset.name, f"{qset.corpus}:{line.gold.get('doc')}", signals,
                                _gold_rank(line.gold, with_history.evidence), _gold_rank(line.gold, alone.evidence)))
    return asked


def _gold_rank(gold: dict, evidence) -> int | None:
    return evidence_rank(gold, {"citations": [{"text": e.passage.chunk.text} for e in evidence]})


def _reciprocal(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def fit_switch_model(train: list[Switch], c: float) -> dict[str, float]:
    """The topic-switch model's weights: a logistic regression of "answered better alone" on the
    questions where the two readings rank gold differently, each weighed by how much reciprocal
    rank the choice moves, so that odds above even are a choice that gains rank on average."""
    moved = [q for q in train if q.alone_rank != q.history_rank]
    x = np.array([[getattr(q.signals, n) for n in SWITCH_FEATURES] for q in moved])
    gain = np.array([_reciprocal(q.alone_rank) - _reciprocal(q.history_rank) for q in moved])
    if len(moved) < 2 or (gain > 0).all() or (gain < 0).all():
        return {}  # nothing to tell apart: read every question against its conversation
    weights, bias = fit_logistic(x, gain > 0, c, balanced=False, sample_weight=np.abs(gain))
    return {"bias": round(bias, 5), **{n: round(float(w), 5) for n, w in zip(SWITCH_FEATURES, weights)}}


def cross_validate_switches(questions: list[Switch], k: int, c: float) -> dict[str, dict]:
    """Per question set, out of fold: hit@5 and MRR read always against the conversation, always
    alone, and as the fitted model chooses."""
    from sklearn.model_selection import GroupKFold

    chosen: dict[int, bool] = {}
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=0)
    for train, test in splitter.split(np.zeros(len(questions)), groups=[q.group for q in questions]):
        model = ScoringModel({}, {}, 0.0, {}, 0.0, {}, 0.0, fit_switch_model([questions[i] for i in train], c))
        chosen.update({i: model.is_topic_switch(questions[i].signals) for i in test})
    by_set: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for i, q in enumerate(questions):
        for name in (q.set_name, "all"):
            by_set[name]["with history"].append(q.history_rank)
            by_set[name]["alone"].append(q.alone_rank)
            by_set[name]["chosen"].append(q.alone_rank if chosen[i] else q.history_rank)
    return {name: {way: summary(r, [], []) for way, r in ways.items()} for name, ways in sorted(by_set.items())}


def fit_switch_scoring(questions: list[Switch], k: int) -> dict:
    """The topic-switch model, its regularisation chosen by the mean MRR of the question sets
    (each set counts the same: the follow-ups of a few conversations as much as many switches)."""
    by_c = {c: cross_validate_switches(questions, k, c) for c in C_GRID}

    def mean_mrr(c: float) -> float:
        return float(np.mean([f["chosen"]["mrr"] for name, f in by_c[c].items() if name != "all"]))

    c_switch = max(C_GRID, key=mean_mrr)
    print(f"\nquestions with history, hit@5 / MRR: read against the conversation, alone, and as the "
          f"fitted topic-switch model (C={c_switch}) chooses, cross-validated by article")
    for name, f in by_c[c_switch].items():
        print(f"  {name:<28} " + "  ".join(f"{way} {v['hit@5']:.3f} / {v['mrr']:.3f}" for way, v in f.items()))
    return {"topic_switch": fit_switch_model(questions, c_switch),
            "fitted_on": f"topic switches: {len(questions)} questions with history; C={c_switch}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write no model")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the candidates the last run collected (they do not depend on the weights)")
    parser.add_argument("--only", choices=("passages", "sentences", "switches"),
                        help="fit only ranking and answering, only sentence choice, or only the topic-switch "
                             "model; keep the rest of the model file")
    args = parser.parse_args()
    current = load_scoring_model()  # the baseline the fitted weights are compared with
    fields = asdict(current)
    # What each part was fitted on, as the model file says it: "ranking …", "sentence …", "topic switches …", "of …".
    fitted_on = {part: said for said in current.fitted_on.split(" | ")
                 for part, opening in PROVENANCE.items() if said.startswith(opening)}
    if args.only in (None, "passages", "sentences"):
        questions = collected(args.reuse)
        fitted_on["sets"] = "of " + ", ".join(sorted({q.set_name for q in questions}))
        for part, fit_part in (("passages", fit_passage_scoring), ("sentences", fit_sentence_scoring)):
            if args.only in (None, part):
                fitted = fit_part(questions, current, args.folds)
                fitted_on[part] = fitted.pop("fitted_on")
                fields.update(fitted)
    if args.only in (None, "switches"):
        # Read with the ranking just fitted: the two readings' ranks depend on it.
        switches = collect_switches(ScoringModel(**fields))
        fitted = fit_switch_scoring(switches, args.folds)
        fitted_on["switches"] = fitted.pop("fitted_on")
        fields.update(fitted)
    model = ScoringModel(**{**fields, "fitted_on": " | ".join(fitted_on[part] for part in PROVENANCE if part in fitted_on)})
    for name, value in asdict(model).items():
        print(f"{name}: {json.dumps(value, ensure_ascii=False)}")
    if not args.dry_run:
        bundled_model_path().write_text(json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
        print(f"wrote {bundled_model_path()}")


if __name__ == "__main__":
    main()
