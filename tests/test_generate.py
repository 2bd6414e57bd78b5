"""Optional generated answers: a real small GGUF model, in-process and behind an OpenAI-compatible endpoint.

SmolLM2-135M is too small to answer well; these tests prove the plumbing: the prompt carries the
passages, every kept sentence carries a marker and is supported, the rest is caught, and
failures fall back to the extractive answer.
"""

import json
import re

import pytest

from ingest import detect_language
from qa.conversation import Turn
from qa.generate import build_messages, marked_sentences_grammar, supported_sentences

QUESTIONS = ["Which university created the Chatbot Arena ranking?", "Who released Llama 2?",
             "Quand Meta a-t-il publié Llama ?", "伯克利的哪位计算机教授参与开发了Vicuna？"]


def test_prompt_carries_the_numbered_passages_and_the_rules(bundled_app):
    answer = bundled_app.ask("Quand Meta a-t-il publié Llama ?", k=3)
    system, user = build_messages(answer.question, answer.citations, "fr")
    assert "Answer in French" in system["content"] and "[1]" in system["content"]
    for c in answer.citations:
        assert f"[{c.rank}] {c.text}" in user["content"]
    assert user["content"].endswith("Question: Quand Meta a-t-il publié Llama ?")


def test_sentences_unsupported_unmarked_asking_or_repeated_are_dropped(bundled_app):
    citations = bundled_app.ask("Quand Meta a-t-il publié Llama ?", k=2).citations
    text = ("En mars de cette année, Meta a publié Llama [1]. Meta a publié Llama en 1999 [1].\n"
            "Selon Google, Meta a publié Llama [1]. Llama est puissant. Selon [7], Llama est puissant [7].\n"
            "Quand Meta a-t-il publié Llama ? [1] En mars de cette année, Meta a publié Llama [2].")
    kept, dropped = supported_sentences(text, citations)
    assert kept == ["En mars de cette année, Meta a publié Llama [1]."]
    assert dropped[-2] == "Quand Meta a-t-il publié Llama ? [1]", "an echo of the question answers nothing"
    assert dropped[-1] == "En mars de cette année, Meta a publié Llama [2].", "nor does saying it again"
    assert len(dropped) == 6
    wrapped = "The answer is: Meta released Llama [1]. Meta released Llama [2]."
    assert supported_sentences(wrapped, citations)[1] == ["Meta released Llama [2]."], "said again within a longer one"


def test_a_sentence_naming_what_its_passages_do_not_is_dropped_wherever_the_name_stands(bundled_app):
    question = "What is Anthropic's position on open-source models?"
    citations = bundled_app.ask(question, k=2).citations
    # What a 135M model wrote for it: the question's subject, opening the sentence.
    text = ("Anthropic is a non-profit organization that supports the development of AI [2]. "
            "The open-source models are eroding the positions of OpenAI [1].")
    kept, dropped = supported_sentences(text, citations, question)
    assert dropped == ["Anthropic is a non-profit organization that supports the development of AI [2]."]
    assert supported_sentences(text, citations)[1] == [], "without the question, a first word is no name"
    zh = bundled_app.ask("DeepSeek的模型有多少参数？", k=2).citations
    assert supported_sentences("DeepSeek的模型比GPT-4更强[1]。", zh)[1] == ["DeepSeek的模型比GPT-4更强[1]。"]


def every_sentence_is_marked_and_supported(answer) -> bool:
    kept, dropped = supported_sentences(answer.text, answer.citations)
    return not dropped and " ".join(kept) == answer.text


def test_gguf_answers_are_checked_or_fall_back_with_a_note(bundled_app, app_factory, gguf):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf)
    modes = []
    for question in QUESTIONS:
        answer = app.ask(question)
        modes.append(answer.mode)
        if answer.mode == "generated":
            assert every_sentence_is_marked_and_supported(answer)
            assert detect_language(answer.text) == detect_language(question), "in the question's language"
        else:
            assert answer.remark and "extractive answer" in answer.remark
            assert answer.text == bundled_app.ask(question).text
        assert answer.to_json()["mode"] == answer.mode
    assert set(modes) <= {"generated", "extractive"}


def test_the_in_process_model_writes_only_marked_sentences_held_by_a_grammar(bundled_app, app_factory, gguf):
    generator = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf).generator
    for question in QUESTIONS[:2]:
        citations = bundled_app.ask(question, k=3).citations
        # Room for three sentences of the grammar's longest, so none is cut off unmarked.
        reply = generator.generate(build_messages(question, citations, "en"), 1000, 120, None,
                                   marked_sentences_grammar(len(citations)))
        assert re.fullmatch(r"[^\[\]\n]+[.!?。！？] \[[1-3]\]( [^\[\]\n]+[.!?。！？] \[[1-3]\]){0,2}", reply), reply


def test_tokens_stream_as_they_are_generated(bundled_app, app_factory, gguf):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf)
    tokens = []
    app.ask("Who released Llama 2?", on_token=tokens.append)
    assert len(tokens) > 3 and all(isinstance(t, str) for t in tokens)


def test_generation_over_its_time_limit_falls_back_to_the_extractive_answer(bundled_app, app_factory, gguf):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf, CORPUS_QA_LLM_TIMEOUT="0.001")
    answer = app.ask("Who released Llama 2?")
    assert answer.mode == "extractive" and "took longer than 0.001 s" in answer.remark
    assert re.search(r"\[\d+\]$", answer.text)


def test_openai_compatible_endpoint_gets_the_passages_and_answers_are_checked(bundled_app, app_factory, endpoint):
    url, log = endpoint
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_URL=url, CORPUS_QA_LLM_MODEL="smollm2")
    tokens = []
    answer = app.ask("Who released Llama 2?", on_token=tokens.append)
    seen = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert seen and seen[-1]["model"] == "smollm2" and seen[-1]["stream"] is True
    assert answer.citations[0].text in seen[-1]["messages"][1]["content"]
    assert tokens, f"streamed over server-sent events ({answer.remark})"
    assert answer.mode == "extractive" or every_sentence_is_marked_and_supported(answer)


def test_unreachable_endpoint_falls_back_with_a_note(bundled_app, app_factory):
    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_URL="http://127.0.0.1:9/v1")
    answer = app.ask("Who released Llama 2?")
    assert answer.mode == "extractive" and answer.remark.startswith("Generation failed")


def test_chat_shows_generated_tokens_as_they_come_then_the_checked_answer(bundled_app, app_factory, gguf):
    from ui.chat import render_answer, stream_reply

    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf)
    updates = list(stream_reply(app, "Who released Llama 2?", [], 5, None))
    partial = [history[-1]["content"].removesuffix(" ▌") for history, answer in updates if answer is None]
    assert len(partial) > 3, "tokens reach the chat one update at a time"
    assert all(b.startswith(a) for a, b in zip(partial, partial[1:])), "each update extends the last"
    history, answer = updates[-1]
    assert answer is not None and history[-1]["content"] == render_answer(answer, 1, app), "then the checked answer"
    assert [m["role"] for m in history] == ["user", "assistant"]


def test_chat_without_a_model_answers_in_one_update(bundled_app):
    from ui.chat import stream_reply

    updates = list(stream_reply(bundled_app, "Who released Llama 2?", [], 5, None))
    assert len(updates) == 1 and updates[0][1].mode == "extractive"


VICUNA = (Turn("Who developed Vicuna?", "Vicuna was developed by a team from UC Berkeley, CMU and Stanford. [1]"),)


@pytest.mark.parametrize("rewrite, problem", [
    ("How much did it cost to train Vicuna?", None),
    ("How much did it cost to train Vicuna at Berkeley?", None),
    ("How much did it cost to train GPT-5?", "the rewrite names GPT-5, which the conversation does not"),
    ("Combien a coûté l'entraînement de Vicuna ?", "the rewrite is in fr, the question in en"),
    ("", "the rewrite is empty or too long"),
])
def test_a_rewritten_follow_up_is_kept_only_in_its_language_and_naming_what_was_said(rewrite, problem):
    from qa.rewrite import rewrite_problem
    from qa.settings import QASettings

    assert rewrite_problem(rewrite, "How much did it cost to train?", VICUNA, QASettings()) == problem


@pytest.mark.parametrize("reply, searched", [
    ("How much did it cost to train Vicuna?\nHope this helps!", "How much did it cost to train Vicuna?"),
    ("How much did it cost to train Claude?", "How much did it cost to train?"),  # invented: the question as asked
])
def test_a_follow_up_is_searched_as_the_model_rewrote_it_when_the_rewrite_holds(bundled_app, reply, searched):
    from dataclasses import replace

    from qa.generate import Generator

    prompts = []

    def chat(messages, max_tokens, on_token, grammar):
        prompts.append(messages)
        return reply

    app = replace(bundled_app, generator=Generator("chosen replies", chat),
                  settings=bundled_app.settings.model_copy(update={"qa": bundled_app.settings.qa.model_copy(
                      update={"llm_rewrite": True})}))
    answer = app.ask("How much did it cost to train?", history=VICUNA)
    assert answer.question == "How much did it cost to train?"
    assert answer.search_query.split(" | ")[0] == searched
    assert "Who developed Vicuna?" in prompts[0][1]["content"] and "in English" in prompts[0][0]["content"]


def test_the_real_model_rewrites_a_follow_up_or_leaves_it_as_asked(bundled_app, app_factory, gguf):
    from qa.rewrite import rewrite_follow_up, rewrite_problem

    app = app_factory(bundled_app.settings.data_dir, CORPUS_QA_LLM_GGUF=gguf, CORPUS_QA_LLM_REWRITE="true")
    rewrite = rewrite_follow_up("How much did it cost to train?", VICUNA, app.generator, app.settings.qa)
    assert (rewrite.text is None) != (rewrite.rejected is None)
    searched = app.ask("How much did it cost to train?", history=VICUNA).search_query.split(" | ")[0]
    question = "How much did it cost to train?"
    assert searched == question or rewrite_problem(searched, question, VICUNA, app.settings.qa) is None


def test_without_llm_rewrite_a_follow_up_is_searched_as_asked(bundled_app):
    from dataclasses import replace

    from qa.generate import Generator

    prompts = []
    app = replace(bundled_app, generator=Generator("chosen replies", lambda m, n, t, g: prompts.append(m) or "x"))
    answer = app.ask("How much did it cost to train?", history=VICUNA)
    assert answer.search_query.split(" | ")[0] == "How much did it cost to train?"
    assert not any("Rewrite the last question" in m[0]["content"] for m in prompts)
