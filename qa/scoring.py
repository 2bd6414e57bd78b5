"""Scoring: every signal about a candidate passage in one record, read by one fitted model.

Ranking and the decision to answer read `Signals`, and the choice of the answer's sentences reads
`SentenceSignals`, each through the weights of `ScoringModel`, fitted by `bench/fit.py` on labelled questions (`make fit`) and
shipped as `qa/scoring_model.json`. No weight here is set by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

from qa.errors import QAError

# The version of the model file's layout this code reads; `bench/fit.py` writes it.
MODEL_VERSION = 2


class ScoringModelError(QAError):
    """The scoring model file is missing, malformed, or of another version."""


@dataclass(frozen=True)
class Signals:
    """What is known of one candidate passage for one question.

    Ranking reads `RANKING_SIGNALS`; the decision to answer reads all but `CONTEXT_SIGNALS`.
    """

    calibrated_cosine: float  # its cosine mapped onto one scale across languages (`qa.language_spread`)
    coverage: float  # share of the question's IDF mass it holds, translations of its words included
    document_behind: float  # how far its document is behind the best candidate's in coverage
    hubness: float  # how close it comes to passages of other articles (`qa.hubness`)
    best_sentence: float = 0.0  # similarity of its statement closest to the question (re-scored passages)
    best_sentence_coverage: float = 0.0  # the largest coverage one of its statements holds
    cosine: float = 0.0  # its raw cosine similarity to the question
    exact_coverage: float = 0.0  # share of the question's IDF mass it holds in the question's own words
    document_coverage: float = 0.0  # share of the question's IDF mass its document's passages hold together
    name_coverage: float = 0.0  # share of the question's IDF mass its article's title and file name hold
    name_held: float = 0.0  # the largest share of its article's names' IDF mass the question holds (`qa.retrieve.article_names`)
    context_cosine: float = 0.0  # a follow-up's: calibrated cosine to the conversation's last turns
    context_coverage: float = 0.0  # a follow-up's: share of the conversation's IDF mass it holds
    context_document_coverage: float = 0.0  # a follow-up's: the same, of its document's passages together
    question_held: float = 0.0  # a follow-up's: the largest share of its own words one candidate holds
    same_language: bool = False  # written in the question's language
    every_word: bool = False  # holds every word of the question, or a translation of each

    # A question complete on its own (its words held together somewhere) leans less on the
    # conversation than a follow-up ("And how much did it cost?"): its context signals, gated.
    @property
    def context_cosine_x_held(self) -> float:
        return self.context_cosine * self.question_held

    @property
    def context_coverage_x_held(self) -> float:
        return self.context_coverage * self.question_held

    @property
    def context_document_coverage_x_held(self) -> float:
        return self.context_document_coverage * self.question_held


# Zero for a question asked alone: fitted on follow-ups only, after the others, so that history
# changes nothing for a question without it.
CONTEXT_SIGNALS = ("context_cosine", "context_coverage", "context_document_coverage", "question_held",
                   "context_cosine_x_held", "context_coverage_x_held", "context_document_coverage_x_held")
# Which article a question names, not whether the articles answer it: a file's name is a title
# in one corpus and a number in another, which would move the answer threshold with the corpus.
RANKING_ONLY = ("name_held",)
RANKING_SIGNALS = ("calibrated_cosine", "coverage", "document_behind", "hubness", "name_coverage", "name_held",
                   "best_sentence", "best_sentence_coverage", *(n for n in CONTEXT_SIGNALS if n != "question_held"))



@dataclass(frozen=True)
class SentenceSignals:
    """What is known of one candidate answer sentence, of one of the best passages."""

    similarity: float  # its cosine to the question
    coverage: float  # the share of the question's keyword weight it holds, translations included
    passage_score: float  # its passage's ranking score
    passage_rank: float  # 1 / its passage's rank
    holds_type: bool  # holds what the question asks for (a number for "how many", a date for "when")
    length: float  # log(1 + its length in characters)


SENTENCE_SIGNALS = tuple(f.name for f in fields(SentenceSignals))


def answer_features(best: Signals, runner_up: Signals | None, rank_margin: float, names_unknown: bool,
                    unheld_share: float, follow_up: bool = False) -> dict[str, float]:
    """The numbers the decision to answer reads: the best passage's signals, how far ahead of the
    next one it ranks, whether the question names something no article holds, and the share of
    its words that no article writes; for a follow-up, its signals about the conversation too."""
    features = {f.name: float(getattr(best, f.name)) for f in fields(Signals)
                if f.name not in RANKING_ONLY and (follow_up or f.name not in CONTEXT_SIGNALS)}
    features["translated_coverage"] = best.coverage - best.exact_coverage
    # Words and phrasing match directly within a language, so the same coverage means less there.
    features["same_language_x_exact_coverage"] = features["same_language"] * best.exact_coverage
    features["same_language_x_cosine"] = features["same_language"] * best.cosine
    features["rank_margin"] = rank_margin if runner_up is not None else 0.0
    features["names_unknown"] = float(names_unknown)
    features["unheld_share"] = unheld_share
    return features


@dataclass(frozen=True)
class SwitchSignals:
    """What tells a topic switch from a follow-up, for a question with history read both ways:
    alone and against its conversation."""

    alone_probability: float  # the answer model's probability, the question read alone
    history_probability: float  # the follow-up answer model's, read against the conversation
    question_held: float  # of the best passage read against the conversation (`Signals`), as the next three
    context_cosine: float
    context_coverage: float
    context_document_coverage: float
    same_best_document: float  # 1.0 when both readings' best passages are of one article
    alone_best_among_history: float  # 1.0 when the alone reading's best article is among the other's cited ones


SWITCH_FEATURES = tuple(f.name for f in fields(SwitchSignals))


@dataclass(frozen=True)
class ScoringModel:
    """Fitted weights: a linear ranking score, a logistic answer probability with its threshold, and
    a linear score that chooses the answer's sentences."""

    ranking: dict[str, float]
    answering: dict[str, float]  # "bias" and one weight per `answer_features` key
    answer_threshold: float  # answer when the probability is at least this
    # The same for a follow-up, whose own words say less and whose conversation says more.
    follow_up_answering: dict[str, float]
    follow_up_threshold: float
    sentence_choice: dict[str, float]  # log-odds weights of a sentence holding the answer, per `SENTENCE_SIGNALS`
    sentence_margin: float  # a further sentence is quoted when it scores within this of the best one
    # "bias" and one weight per SWITCH_FEATURES: the log-odds that a question with history is
    # better answered alone (a topic switch) than read against its conversation.
    topic_switch: dict[str, float] = field(default_factory=dict)
    fitted_on: str = ""

    def rank_score(self, signals: Signals) -> float:
        """The score candidates are ranked by (sentence signals count once a passage is re-scored)."""
        return sum(weight * float(getattr(signals, name)) for name, weight in self.ranking.items())

    def sentence_score(self, signals: SentenceSignals) -> float:
        """The log-odds, up to a constant per question, that a candidate sentence holds the answer."""
        return sum(weight * float(getattr(signals, name)) for name, weight in self.sentence_choice.items())

    def answer_probability(self, features: dict[str, float], follow_up: bool = False) -> float:
        """How likely the question is answerable from the articles, given its best passage."""
        weights = self.follow_up_answering if follow_up else self.answering
        z = weights["bias"] + sum(w * features[name] for name, w in weights.items() if name != "bias")
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def is_topic_switch(self, signals: SwitchSignals) -> bool:
        """Whether a question with history is better answered alone: when the fitted odds favour
        it, as the fit weighs each question by how much rank the choice moves."""
        if not self.topic_switch:
            return False
        z = self.topic_switch["bias"] + sum(w * getattr(signals, n) for n, w in self.topic_switch.items() if n != "bias")
        return z > 0.0

    def threshold(self, follow_up: bool = False) -> float:
        """The probability at or above which a question is answered."""
        return self.follow_up_threshold if follow_up else self.answer_threshold

    def to_json(self) -> dict:
        """The model file's content."""
        return {"version": MODEL_VERSION, **asdict(self)}


def bundled_model_path() -> Path:
    """The model file shipped in the package."""
    return Path(str(resources.files("qa") / "scoring_model.json"))


def load_scoring_model(path: Path | None = None) -> ScoringModel:
    """Read and check a scoring model file (the shipped one by default).

    Raises:
        ScoringModelError: the file is missing, not JSON, of another version, or lacks a weight.
    """
    path = path or bundled_model_path()
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScoringModelError(f"cannot read the scoring model {path}: {exc}; run `make fit` to write it") from exc
    if not isinstance(raw, dict) or raw.get("version") != MODEL_VERSION:
        raise ScoringModelError(f"the scoring model {path} is not of version {MODEL_VERSION}: run `make fit` again")
    expected = {
        "ranking": list(RANKING_SIGNALS),
        "answering": ["bias", *answer_features(Signals(0.0, 0.0, 0.0, 0.0), None, 0.0, False, 0.0)],
        "follow_up_answering": ["bias", *answer_features(Signals(0.0, 0.0, 0.0, 0.0), None, 0.0, False, 0.0, True)],
        "sentence_choice": list(SENTENCE_SIGNALS),
        "topic_switch": ["bias", *SWITCH_FEATURES],
    }
    for part, names in expected.items():
        weights = raw.get(part)
        if not isinstance(weights, dict):
            raise ScoringModelError(f"the scoring model {path} has no {part} weights: run `make fit` again")
        missing, unknown = [n for n in names if n not in weights], [n for n in weights if n not in names]
        if missing or unknown:
            raise ScoringModelError(f"the scoring model {path} does not fit this code ({part}: missing {missing}, "
                                    f"unknown {unknown}): run `make fit` again")
    try:
        weights = {part: {n: float(w) for n, w in raw[part].items()} for part in expected}
        return ScoringModel(weights["ranking"], weights["answering"], float(raw["answer_threshold"]),
                            weights["follow_up_answering"], float(raw["follow_up_threshold"]),
                            weights["sentence_choice"], float(raw["sentence_margin"]), weights["topic_switch"],
                            str(raw.get("fitted_on", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ScoringModelError(f"the scoring model {path} has a malformed weight ({exc}): run `make fit` again") from exc
