"""The scoring model: shipped with the package, checked on loading, read by ranking and answering."""

import json

import pytest

from qa.scoring import (RANKING_SIGNALS, SENTENCE_SIGNALS, SWITCH_FEATURES, ScoringModelError, bundled_model_path,
                        load_scoring_model)


def test_the_shipped_model_weighs_every_signal_and_says_what_it_was_fitted_on():
    model = load_scoring_model()
    assert set(model.ranking) == set(RANKING_SIGNALS)
    assert model.ranking["calibrated_cosine"] == 1.0, "scores stay on the calibrated cosine's scale"
    assert "bias" in model.answering and 0.0 < model.answer_threshold < 1.0
    assert set(model.sentence_choice) == set(SENTENCE_SIGNALS)
    assert set(model.topic_switch) == {"bias", *SWITCH_FEATURES}
    assert "scale-dev" in model.fitted_on and "topic switches" in model.fitted_on


@pytest.mark.parametrize("spoil, says", [
    (lambda raw: "{not json", "cannot read"),
    (lambda raw: json.dumps({**raw, "version": 0}), "not of version"),
    (lambda raw: json.dumps({**raw, "ranking": {k: v for k, v in raw["ranking"].items() if k != "coverage"}}),
     "missing ['coverage']"),
    (lambda raw: json.dumps({**raw, "answering": {**raw["answering"], "mood": 1.0}}), "unknown ['mood']"),
    (lambda raw: json.dumps({**raw, "answer_threshold": "high"}), "malformed weight"),
    (lambda raw: json.dumps({k: v for k, v in raw.items() if k != "sentence_choice"}), "no sentence_choice weights"),
    (lambda raw: json.dumps({k: v for k, v in raw.items() if k != "topic_switch"}), "no topic_switch weights"),
])
def test_a_model_file_that_does_not_fit_the_code_is_refused_with_how_to_fix_it(tmp_path, spoil, says):
    raw = json.loads(bundled_model_path().read_text(encoding="utf-8"))
    path = tmp_path / "scoring_model.json"
    path.write_text(spoil(raw), encoding="utf-8")
    with pytest.raises(ScoringModelError, match="make fit") as refused:
        load_scoring_model(path)
    assert says in str(refused.value)


def test_a_missing_model_file_is_refused(tmp_path):
    with pytest.raises(ScoringModelError, match="cannot read"):
        load_scoring_model(tmp_path / "absent.json")


@pytest.mark.parametrize("threshold, answers", [("0", True), ("1", False)])
def test_the_answer_threshold_setting_overrides_the_fitted_one(app_factory, bundled_app, threshold, answers):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_ANSWER_THRESHOLD=threshold)
    off_topic = app.ask("What is the capital of Germany?")
    on_topic = app.ask("Who developed Vicuna?")
    assert off_topic.answerable is answers and on_topic.answerable is answers
    assert off_topic.citations, "the passages looked at are shown either way"


def test_the_fitted_threshold_answers_an_article_question_and_refuses_an_off_topic_one(bundled_app):
    assert bundled_app.ask("Who developed Vicuna?").answerable
    assert not bundled_app.ask("What is the capital of Germany?").answerable
