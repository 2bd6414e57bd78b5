"""A checked translation beside each quote in another language than the question's, by the local model.

The check's edge cases use chosen replies; the plumbing runs the real SmolLM2 GGUF, in-process and
behind the loopback OpenAI-compatible endpoint. SmolLM2-135M translates poorly: these tests prove
that whatever it writes is shown only when it passes the checks, never that it translates well.
"""

import html
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from qa.generate import Generator
from qa.lexicon import load_lexicon
from qa.records import Quote
from qa.translate import foreign_quotes, number_values, translation_messages, translation_problem

VALUATION = "How much is OpenAI valued at?"  # answered from the Chinese article: "270亿美元的估值…"


@pytest.fixture(scope="module")
def lexicon():
    """The shipped CC-CEDICT, as the app reads it: how names are written in Chinese."""
    return load_lexicon("cc-cedict", Path(os.environ["CORPUS_QA_CACHE_DIR"]))


@pytest.mark.parametrize("source, source_lang, translation, target, problem", [
    ("谷歌投资了270亿美元。", "zh", "Google invested $27 billion.", "en", None),
    ("谷歌投资了270亿美元。", "zh", "Google invested twenty-seven billion dollars.", "en", None),
    ("谷歌投资了270亿美元。", "zh", "Google invested $270 billion.", "en",
     "the translation lacks the number 27,000,000,000 of the source"),
    ("约2万人使用了Vicuna。", "zh", "About 20,000 people used Vicuna.", "en", None),
    ("约2万人使用了Vicuna。", "zh", "About 2,000 people used Vicuna.", "en", "the translation lacks the number 20,000 of the source"),
    ("About 5,000 researchers at Berkeley built Vicuna.", "en", "Berkeley的大约5000名研究人员构建了Vicuna。", "zh", None),
    ("Meta在2023年7月发布了Llama 2。", "zh", "Meta released Llama 2 in July 2023.", "en", None),
    ("Meta在2023年7月发布了Llama 2。", "zh", "Meta released Llama 2 in June 2023.", "en", "the translation lacks the number 7 of the source"),
    ("Le modèle a coûté 1,5 million de dollars.", "fr", "The model cost 1.5 million dollars.", "en", None),
    ("前两个版本的GPT都是开源的。", "zh", "The first two versions of GPT were open source.", "en", None),
    ("约2万人使用了Vicuna。", "zh", "About 20,000 people used Vicuña.", "en", "the translation changes the name Vicuna"),
    ("About 5,000 researchers at Berkeley built Vicuna.", "en", "伯克利的大约5000名研究人员构建了Vicuna。", "zh", None),
    ("About 5,000 researchers at Berkeley built Vicuna.", "en", "大约5000名研究人员构建了维库纳。", "zh",
     "the translation changes the name Berkeley"),
    ("约2万人使用了Vicuna。", "zh", "About 20,000 people 使用了 Vicuna.", "en", "the translation leaves Chinese in its English"),
    ("About 5,000 researchers at Berkeley built Vicuna.", "en", "Berkeley的大约5000名researchers built了Vicuna。", "zh",
     'the translation leaves "researchers built" untranslated'),
    ("The country of Poland is divided into communes.", "en", "波兰划分为公社（gmina）。", "zh", None),  # CC-CEDICT: 波兰
    ("The country of Poland is divided into communes.", "en", "法国划分为公社。", "zh", "the translation changes the name Poland"),
    ("Trading went on until World War II.", "en", "交易一直持续到第二次世界大战。", "zh", None),
    ("Trading went on until World War II.", "en", "交易一直持续到第一次世界大战。", "zh", "the translation lacks the number 2 of the source"),
    ("About 5,000 researchers at Berkeley built Vicuna.", "en", "Environ 5 000 chercheurs de Berkeley ont construit Vicuna.",
     "en", "the translation is not in English"),
    ("Meta a publié Llama 2 en juillet 2023.", "fr", "Meta a publié Llama 2 in July 2023.", "en",
     'the translation leaves "meta a publié" untranslated'),
    ("谷歌投资了270亿美元。", "zh", "Here is the translation:\nGoogle invested $27 billion.", "en",
     "the reply is not one translated sentence"),
    # A number said by its size only is a number too: 几百 "a few hundred", 数百万 "millions".
    ("训练成本可以低至几百美元。", "zh", "Training can cost as little as a few hundred dollars.", "en", None),
    ("训练成本可以低至几百美元。", "zh", "Training can cost as little as a few dollars.", "en",
     "the translation lacks the number 100 of the source"),
    ("OpenAI收集了数百万人与ChatGPT互动的数据。", "zh", "OpenAI collected data on how 300,000 people use ChatGPT.", "en",
     "the translation lacks the number 1,000,000 of the source"),
    ("They won the cup twice.", "en", "他们两次赢得了杯赛。", "zh", None),
    ("对欧盟的了解在战后得到发展。", "zh", "Understanding of the EU grew after World War II.", "en",
     "the translation says 2, a number the source does not"),
    # From Chinese, a Latin-script name must be in the source or be how CC-CEDICT translates a word of it.
    ("谷歌和Meta都发布了模型。", "zh", "Both Google and Meta released models.", "en", None),
    ("然而，芝华士在2014赛季后停赛。", "zh", "However, Chelsea stopped playing after the 2014 season.", "en",
     "the translation names Chelsea, which the source does not"),
    ("芝大运营着许多学术项目。", "zh", "Zhuangda runs many academic projects.", "en",
     "the translation names Zhuangda, which the source does not"),
])
def test_a_translation_is_shown_only_with_the_sources_numbers_names_and_in_the_asked_language(
        source, source_lang, translation, target, problem, lexicon):
    assert translation_problem(source, source_lang, translation, target, lexicon) == problem


@pytest.mark.parametrize("text, lang, values", [
    ("270亿美元，约2万人，两千五百万，5,000台", "zh", [27e9, 2e4, 25e6, 5000]),
    ("一些人十分喜欢它", "zh", []),  # "some", "very": words, not numbers
    ("twenty-seven billion dollars, 1.5 million and 5,000 people", "en", [1.5e6, 27e9, 5000]),
    ("vingt-sept milliards, 1,5 million et 5 000 personnes", "fr", [1.5e6, 27e9, 5000]),
    ("数百万人，几百美元，上千次", "zh", [1e6, 100, 1000]),
    ("tens of thousands of people and hundreds of dollars", "en", [1e4, 100]),
    ("des dizaines de milliers de personnes", "fr", [1e4]),
])
def test_numbers_are_read_by_value_however_they_are_written(text, lang, values):
    assert sorted(number_values(text, lang)) == sorted(values)


def test_prompt_carries_the_sentence_and_both_languages():
    system, user = translation_messages(Quote(1, "谷歌投资了270亿美元。", "zh"), "en")
    assert "from Simplified Chinese" in system["content"] and "into English" in system["content"]
    assert user == {"role": "user", "content": "谷歌投资了270亿美元。"}


def with_replies(app, reply: str, **qa):
    """The app with a generator that answers every prompt with `reply`, and the prompts it got."""
    prompts = []

    def chat(messages, max_tokens, on_token, grammar):
        prompts.append(messages)
        return reply

    settings = app.settings.model_copy(update={"qa": app.settings.qa.model_copy(update={"llm_generate": False, **qa})})
    return replace(app, generator=Generator("chosen replies", chat), settings=settings), prompts


@pytest.mark.parametrize("reply, shown", [
    ("After all, the $27 billion valuation means that OpenAI's most advanced models will be used for commercial "
     "purposes, although the first two versions of GPT were open source.", True),
    ("After all, the $270 billion valuation means that OpenAI's most advanced models will be used for commercial "
     "purposes, although the first two versions of GPT were open source.", False),
])
def test_a_quote_in_chinese_comes_with_its_translation_only_when_the_numbers_hold(bundled_app, reply, shown):
    app, prompts = with_replies(bundled_app, reply)
    answer = app.ask(VALUATION)
    assert answer.text == bundled_app.ask(VALUATION).text, "the verbatim answer stands, translated or not"
    (translation,) = answer.to_json()["translations"]
    assert translation["text"] in answer.text and "270亿" in translation["text"]
    assert (translation["translated_from"], translation["translated_to"]) == ("zh", "en")
    assert prompts[0][1]["content"] == translation["text"]
    if shown:
        assert translation["translation"] == reply and "translation_rejected" not in translation
    else:
        assert translation["translation"] is None
        assert translation["translation_rejected"] == "the translation lacks the number 27,000,000,000 of the source"
        assert answer.note == "The source is in Chinese."


def test_without_a_model_the_answer_has_no_translation_fields(bundled_app):
    answer = bundled_app.ask(VALUATION)
    assert foreign_quotes(answer) and "translations" not in answer.to_json()
    assert set(answer.to_json()) == {"question", "answer", "answerable", "mode", "answer_language", "source_language",
                                     "note", "citations", "latency_ms", "search_query"}


def test_a_quote_in_the_questions_language_is_not_translated(bundled_app):
    app, prompts = with_replies(bundled_app, "anything")
    answer = app.ask("Which university created the Chatbot Arena ranking?")
    assert answer.answerable and not answer.translations and not prompts


def test_the_chat_shows_the_answer_first_then_its_translation(bundled_app):
    from ui.chat import stream_reply

    reply = ("After all, the $27 billion valuation means that OpenAI's most advanced models will be used for "
             "commercial purposes, although the first two versions of GPT were open source.")
    app, _ = with_replies(bundled_app, reply)
    updates = [(history[-1]["content"], answer) for history, answer in stream_reply(app, VALUATION, [], 5, None)]
    (first, answer), (last, translated) = updates[0], updates[-1]
    shown = html.escape(reply)
    assert len(updates) == 2 and not answer.translations and "translating…" in first and shown not in first
    assert "machine translation from Chinese, not a source" in last and shown in last and "translating…" not in last
    assert translated.text == answer.text


def test_the_cli_prints_each_translation_under_the_answer_marked_as_the_machines(bundled_app, endpoint):
    from click.testing import CliRunner

    from ui.cli import cli

    url, log = endpoint
    env = {"CORPUS_QA_DATA_DIR": str(bundled_app.settings.data_dir), "CORPUS_QA_LLM_URL": url,
           "CORPUS_QA_LLM_GENERATE": "false"}
    result = CliRunner().invoke(cli, ["ask", VALUATION, "--json"], env=env)
    assert result.exit_code == 0, result.output
    (translation,) = json.loads(result.stdout)["translations"]
    assert (translation["translation"] is None) != ("translation_rejected" not in translation)
    request = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert "into English" in request["messages"][0]["content"]
    assert request["messages"][1]["content"] == translation["text"]
    shown = CliRunner().invoke(cli, ["ask", VALUATION], env=env).stdout
    assert shown.startswith(bundled_app.ask(VALUATION).text + "\n")
    if translation["translation"]:
        assert f"↳ [1] machine translation from Chinese, not a source: {translation['translation']}" in shown


def test_the_real_model_in_process_shows_a_checked_translation_or_says_why_not(bundled_app, app_factory, gguf):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf, CORPUS_QA_LLM_GENERATE="false")
    answer = app.ask("What kind of task is Stoica's team trying to improve in Vicuna by increasing computation?")
    assert answer.text == bundled_app.ask(answer.question).text
    assert answer.translations and all(t.quote.lang == "zh" and t.translated_to == "en" for t in answer.translations)
    for t in answer.translations:
        assert (t.text is None) != (t.rejected is None)
        assert t.text is None or translation_problem(t.quote.text, "zh", t.text, "en") is None


def test_a_translation_over_its_time_limit_leaves_the_answer_as_it_is(bundled_app, app_factory, gguf):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf, CORPUS_QA_LLM_GENERATE="false",
                      CORPUS_QA_LLM_TRANSLATE_TIMEOUT="0.001")
    answer = app.ask(VALUATION)
    without = bundled_app.ask(VALUATION)
    assert (answer.text, answer.note, answer.citations) == (without.text, without.note, without.citations)
    (translation,) = answer.translations
    assert translation.text is None and translation.rejected == (
        "the translations took longer than the 0.001 s they may take (CORPUS_QA_LLM_TRANSLATE_TIMEOUT)")
