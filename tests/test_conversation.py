"""Follow-up questions: the conversation so far reaches retrieval from the API, batch, chat and CLI."""

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa import QuestionError
from qa.conversation import Turn, parse_history
from qa.evaluate import read_question_file

from conftest import launched_chat

EXE = Path(sys.executable).parent / "corpus-qa"
# A French follow-up about a Chinese article: "it" is OpenAI, named only in the turn before.
FIRST = {"question": "Selon l'article chinois sur le futur modèle open source d'OpenAI, dans quel domaine OpenAI "
                     "a-t-il pris de l'avance ?",
         "answer": "Dans la collecte de données sur la façon dont des millions de personnes interagissent avec ChatGPT."}
FOLLOW_UP = "Et avec quelle entreprise a-t-il un accord ?"
GOLD = "更不用提它和微软的合作协议"


@pytest.fixture(scope="module")
def client(bundled_app):
    from gradio_client import Client

    with launched_chat(bundled_app) as url:
        yield Client(url, verbose=False)


def test_a_follow_up_through_the_api_finds_its_passage_with_the_history_and_not_without(client):
    alone = client.predict(FOLLOW_UP, api_name="/ask")
    followed = client.predict(FOLLOW_UP, history=[FIRST], api_name="/ask")
    assert GOLD in followed["citations"][0]["text"]
    assert GOLD not in alone["citations"][0]["text"]
    assert followed["search_query"].startswith(FOLLOW_UP) and "OpenAI" in followed["search_query"]
    assert alone["search_query"] == FOLLOW_UP


def test_a_history_that_is_not_a_list_of_turns_is_refused_with_how_to_fix_it(client):
    with pytest.raises(Exception, match="history turn 1 must be an object with a 'question'"):
        client.predict(FOLLOW_UP, history=["Who developed Vicuna?"], api_name="/ask")
    with pytest.raises(QuestionError, match="history must be a list"):
        parse_history({"question": "Who?"})
    assert parse_history([{"question": " Who? ", "answer": "Ion."}, {"question": "  "}]) == (Turn("Who?", "Ion."),)


def test_a_question_without_history_is_answered_as_before(bundled_app):
    for history in (None, []):
        assert bundled_app.ask(FOLLOW_UP, history=history).to_json() | {"latency_ms": 0} == \
            bundled_app.ask(FOLLOW_UP).to_json() | {"latency_ms": 0}


def test_a_question_on_another_topic_is_answered_as_if_asked_alone_and_a_follow_up_is_not(bundled_app):
    question = "What did Meta originally promise about how LLaMA would be released?"
    switched, alone = bundled_app.ask(question, history=[FIRST]), bundled_app.ask(question)
    assert switched.search_query == question, "the conversation about OpenAI was not searched"
    assert switched.to_json() | {"latency_ms": 0} == alone.to_json() | {"latency_ms": 0}
    followed = bundled_app.ask(FOLLOW_UP, history=[FIRST])
    assert "OpenAI" in followed.search_query and GOLD in followed.citations[0].text


def test_the_line_that_says_what_was_searched_stays_short_after_long_answers(bundled_app):
    long_turns = [Turn(f"Question {n} about OpenAI?", "OpenAI said many things. " * 12) for n in range(3)]
    followed = bundled_app.ask(FOLLOW_UP, history=long_turns)
    assert len(followed.search_query) > 400, "the search reads the last turns whole"
    shown = followed.searched_shown
    assert shown.startswith(FOLLOW_UP + " | Question 0 about OpenAI?") and shown.endswith("…") and len(shown) <= 160
    assert bundled_app.ask(FOLLOW_UP).searched_shown is None, "a question searched as asked has no such line"


def test_a_follow_up_about_the_article_keeps_to_the_language_the_conversation_named(bundled_app):
    # Two articles tell the OpenAI story, one in English (000_…) and one in Chinese (001_…).
    follow_up = "What does the article say about Google?"
    for named, lang, doc in (("English", "en", "000_"), ("Chinese", "zh", "001_")):
        first = {"question": f"According to the {named} article, is OpenAI going to release an open source model?",
                 "answer": "Yes."}
        answer = bundled_app.ask(follow_up, history=[first])
        assert answer.searched_language == lang and answer.citations[0].doc_id.startswith(doc)
        assert f"Only the {named} articles were searched" in answer.note
        assert "Google" in answer.citations[0].text or "谷歌" in answer.citations[0].text
    # A follow-up that does not speak of the article may be about another one: not kept to it.
    moved_on = bundled_app.ask("Which company developed PyTorch Lightning?", history=[first])
    assert moved_on.searched_language is None and "Lightning AI" in moved_on.citations[0].text


def test_batch_lines_carry_their_history_and_the_output_says_what_was_searched(bundled_app, tmp_path):
    questions = tmp_path / "conversation.jsonl"
    questions.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in [
        {"id": "t2", "question": FOLLOW_UP, "history": [FIRST]},
        {"id": "bad", "question": FOLLOW_UP, "history": "Who developed Vicuna?"},
    ]) + "\n", encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(bundled_app.settings.data_dir)}
    done = subprocess.run([str(EXE), "eval", str(questions), "-o", str(output)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 3, "a line failed"
    followed, bad = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert GOLD in followed["citations"][0]["text"] and "OpenAI" in followed["search_query"]
    assert "history must be a list" in bad["error"]
    assert read_question_file(questions)[0].history == (Turn(FIRST["question"], FIRST["answer"]),)


def test_a_follow_up_of_words_that_name_nothing_alone_is_read_against_the_conversation(bundled_app):
    # "Et pourquoi ?" asked alone is refused as naming nothing; after a turn it is about that turn.
    with pytest.raises(QuestionError, match="name nothing"):
        bundled_app.ask("Et pourquoi ?")
    answer = bundled_app.ask("Et pourquoi ?", history=[FIRST])
    assert "OpenAI" in answer.search_query and answer.citations


def read_until(fd: int, wanted: str, timeout: float = 120.0) -> str:
    """What the terminal shows until `wanted` appears."""
    seen, deadline = b"", time.monotonic() + timeout
    while wanted.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{wanted!r} never came; the terminal showed {seen.decode(errors='replace')[-500:]!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the program ended
                break
    return seen.decode(errors="replace")


def test_ctrl_c_in_the_terminal_chat_stops_the_answer_under_way_and_keeps_the_chat(bundled_app):
    # A local model that never replies (a socket that listens and says nothing) keeps an answer waiting.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(bundled_app.settings.data_dir), "TERM": "dumb",
           "CORPUS_QA_LLM_URL": f"http://127.0.0.1:{silent.getsockname()[1]}", "CORPUS_QA_LLM_TIMEOUT": "600"}
    pid, fd = pty.fork()
    if pid == 0:
        # A job started in the background (CI's, say) ignores SIGINT, and so would the chat.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(str(EXE), [str(EXE), "chat"], env)
    try:
        read_until(fd, "> ")
        os.write(fd, (FIRST["question"] + "\n").encode())
        time.sleep(3)  # the answer waits on the model
        os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it
        assert "stopped" in read_until(fd, "\n> ")
        os.write(fd, b"/sources\n")
        assert "no answer yet" in read_until(fd, "\n> "), "the stopped question is not in the conversation"
        os.write(fd, b"/quit\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
        silent.close()


def test_the_terminal_chat_shows_a_local_models_words_as_it_writes_them(bundled_app, endpoint):
    url, _ = endpoint
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(bundled_app.settings.data_dir), "TERM": "dumb",
           "CORPUS_QA_LLM_URL": url}
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(EXE), [str(EXE), "chat"], env)
    try:
        read_until(fd, "> ")
        os.write(fd, b"Who created Chatbot Arena?\n")
        shown = read_until(fd, "\n> ").replace("\r\n", "\n")
        streamed, _, checked = shown.partition("\n[1] ")
        streamed = streamed.split("Who created Chatbot Arena?", 1)[-1]
        assert streamed.strip() and checked, "the model's words, then the checked answer"
        os.write(fd, b"/quit\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)


def test_the_terminal_chat_answers_a_follow_up_and_shows_its_sources(bundled_app):
    env = {**os.environ, "CORPUS_QA_DATA_DIR": str(bundled_app.settings.data_dir), "TERM": "dumb"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the chat, on the pseudo-terminal
        os.execve(str(EXE), [str(EXE), "chat"], env)
    try:
        read_until(fd, "> ")
        os.write(fd, (FIRST["question"] + "\n").encode())
        first = read_until(fd, "\n> ")
        assert "[1] " in first
        os.write(fd, (FOLLOW_UP + "\n").encode())
        assert "searched: " + FOLLOW_UP in read_until(fd, "\n> ")
        os.write(fd, b"/sources\n")
        assert GOLD in read_until(fd, "\n> ").replace("\r\n", "\n").replace("\n    ", "")
        os.write(fd, b"/sources 7\n")
        assert "no answer '7'" in read_until(fd, "\n> ")
        os.write(fd, b"/new\n")
        assert "a new conversation" in read_until(fd, "\n> ")
        os.write(fd, b"/quit\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
