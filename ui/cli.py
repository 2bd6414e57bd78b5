"""The corpus-qa command line: parses options, calls the packages, formats their output."""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
import textwrap
from collections import Counter
from pathlib import Path

import click

from ingest import EmbedderError, IngestError, IngestInputError
from ingest.text import in_column, one_line
from qa.errors import EmptyIndexError, LexiconError, QAError, QuestionError, QuestionFileError, SettingsError
from qa.settings import MOST_CITED, load_settings
from store import IndexMismatchError, StoreError, StoreFolderError, StoreUnavailableError

# Errors the user can fix by changing the input or the setup (a server to start): exit code 2.
_INPUT_ERRORS = (IngestInputError, QuestionError, QuestionFileError, EmptyIndexError, SettingsError, EmbedderError,
                 LexiconError, StoreUnavailableError, StoreFolderError)
_OTHER_ERRORS = (IngestError, QAError, StoreError, IndexMismatchError)


# `eval`: every line was answered, but some got an error line instead (2: the file is unreadable).
LINES_FAILED = 3


class InputError(click.ClickException):
    """Bad input: one line on stderr, exit code 2."""

    exit_code = 2


def _one_line_errors(command):
    """Turn the packages' errors into one line on stderr instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except _INPUT_ERRORS as exc:
            raise InputError(str(exc)) from None
        except _OTHER_ERRORS as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _app(ctx: click.Context):
    from qa.app import build_app

    return build_app(ctx.obj)


class _OneLineUsageErrors(click.Group):
    """The command group, whose usage errors (a bad option value, a missing argument) are one line
    on stderr naming where help is, not click's block of usage, hint and error."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "corpus-qa"
            click.echo(f"Error: {exc.format_message()} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_OneLineUsageErrors,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="corpus-qa")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the index [env CORPUS_QA_DATA_DIR; default ~/.local/share/corpus-qa].",
)
@click.option(
    "--embedder",
    metavar="NAME|PATH",
    help="'use-multilingual-v3' (default) or a local sentence-transformers model folder [env CORPUS_QA_EMBEDDER].",
)
@click.option(
    "--chroma-url",
    metavar="URL",
    help="Use this Chroma server (`chroma run`) instead of the local store [env CORPUS_QA_CHROMA_URL].",
)
@click.pass_context
@_one_line_errors
def cli(ctx: click.Context, data_dir: Path | None, embedder: str | None, chroma_url: str | None):
    """Ask questions about a folder of articles in English, Chinese or French.

    Every answer cites the passages it rests on, with their file and offsets.
    Everything runs offline.

    \b
    Quick start:
      corpus-qa ingest                      # the bundled sample articles
      corpus-qa ask "Who created Chatbot Arena?"
      corpus-qa chat                        # follow-up questions in the terminal
      corpus-qa serve                       # chat at http://127.0.0.1:7860
    """
    ctx.meta["overrides"] = {"data_dir": data_dir, "embedder": embedder, "chroma_url": chroma_url}
    ctx.obj = load_settings(os.environ, ctx.meta["overrides"])


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object instead of text.")
@click.option("--prune", is_flag=True, help="Also remove documents whose files are gone.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show, per file, the lines cleaning left out and why, and every file skipped.")
@click.pass_context
@_one_line_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, prune: bool, verbose: bool):
    """Add files and folders to the index; no PATH means the bundled corpus.

    It reads .txt, .md, .html (and pages saved whole: .mhtml, .webarchive), .pdf, .docx, .odt,
    .pptx, .rtf and .epub files; a folder's other files are skipped with a line saying so (many
    of them, as a saved web page's images and scripts, are counted by type in one line).
    Unchanged files are skipped and renamed ones keep their vectors, so running it again
    only embeds what changed. Boilerplate (comment widgets, share lines, related-links
    lists, repeated blocks) is left out of chunks. A file that is not UTF-8 is decoded as
    detected; one that is UTF-8 but for a few bytes gets a note saying how to mend it.
    Exits 2 if any file failed. Interrupted (Ctrl-C), it keeps what it wrote: run it again
    to go on.

    \b
    Examples:
      corpus-qa ingest
      corpus-qa ingest ~/articles notes.md --prune -v
    """
    app = _app(ctx)
    try:
        report = app.ingest(paths, progress=not as_json, prune=prune)
    except KeyboardInterrupt:
        click.echo("\ninterrupted: the files written so far are kept; run the same command again to go on "
                   "(what is stored already is skipped)", err=True)
        ctx.exit(130)
    _print_skipped(report.skipped, verbose)
    for path, reason in report.failures:
        click.echo(f"failed {one_line(path)}: {reason}", err=True)
    for path, note in report.notes:
        click.echo(f"note {one_line(path)}: {note}", err=True)
    if verbose:
        for path, lines in report.dropped:
            click.echo(f"{one_line(path)}: left out {len(lines)} lines", err=True)
            for (reason, excerpt), count in Counter(lines).items():  # a page's running header once, counted
                click.echo(f"    {reason:30} {excerpt!r}" + (f" ({count} times)" if count > 1 else ""), err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        click.echo(
            f"{report.documents_added} added, {report.documents_updated} updated, "
            f"{report.documents_unchanged} unchanged, {report.documents_renamed} renamed, "
            f"{report.documents_removed} removed, {report.documents_failed} failed; "
            f"{report.chunks_embedded} chunks embedded, {report.chunks_total} in the index"
        )
    if report.documents_failed:
        ctx.exit(2)


@cli.command()
@click.argument("target", metavar="PATH|DOC_ID")
@click.pass_context
@_one_line_errors
def remove(ctx: click.Context, target: str):
    """Remove one document from the index, by its file's path or its id (see `status`)."""
    document = _app(ctx).remove(target)
    click.echo(f"removed {document.doc_id} ({document.chunks} chunks) {one_line(document.source)}")


@cli.command()
@click.argument("question")
@click.option("-k", "--top-k", "k", type=click.IntRange(1, MOST_CITED), help="How many passages to cite [default 5].")
@click.option("--lang", metavar="CODE", help="Cite only passages in this language: en, zh, fr ... [default any].")
@click.option("--json", "as_json", is_flag=True, help="Print the answer object of FORMAT.md.")
@click.pass_context
@_one_line_errors
def ask(ctx: click.Context, question: str, k: int | None, lang: str | None, as_json: bool):
    """Answer QUESTION from the ingested articles, citing numbered sources.

    \b
    Examples:
      corpus-qa ask "Which university created the Chatbot Arena ranking?"
      corpus-qa ask "伯克利的哪位计算机教授参与开发了Vicuna？" -k 3
      corpus-qa ask "Quand Meta a-t-il publié Llama ?" --json | jq .answer
      corpus-qa ask "Who is Ion Stoica?" --lang zh      # from the Chinese articles only
      corpus-qa ask "According to the Chinese article, who is Ion Stoica?"   # the same

    A question that names its articles' language ("According to the French article, ...",
    "d'après l'article chinois", "根据英文文章") is answered from that language's articles.
    """
    from qa.answer import check_question

    check_question(question, ctx.obj.qa)  # fail fast, before loading the model
    app = _app(ctx)
    answer = _ask_showing_tokens(app, question, k, lang, as_json=as_json)
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
        return
    _print_sources(_print_answer(app, answer))


def _ask_showing_tokens(app, question: str, k, lang, history=None, as_json: bool = False):
    """`app.ask`; on a terminal, a local model's tokens show on stderr as the model writes them,
    before the checked answer is printed. Translations come with the answer only `as_json`: printed,
    they follow it one by one (`_print_answer`)."""
    stream = app.generator is not None and not as_json and sys.stdout.isatty()
    answer = app.ask(question, k, lang, on_token=(lambda t: click.echo(t, nl=False, err=True)) if stream else None,
                     history=history, translate=as_json)
    if stream:
        click.echo("\n", err=True)
    return answer


def _print_answer(app, answer, label: str = ""):
    """Print an answer, then each checked translation of its quotes as the model writes it, then its
    note; return the answer with its translations."""
    click.echo(f"{label}{answer.text}")
    for step in app.translations(answer):  # each step is the answer with one more translation
        answer, done = step, step.translations[-1]
        if done.text:
            click.echo(f"  {done.label} {one_line(done.text)}")
    if answer.note:
        click.echo(f"({answer.note})")
    return answer


def _print_sources(answer) -> None:
    if answer.citations:
        click.echo("\nSources:" if answer.answerable else "\nClosest passages:")
    for c in answer.citations:
        click.echo(f"[{c.rank}] {one_line(Path(c.source).name)}  {c.place}  score {c.score:.2f}  "
                   f"{one_line(c.title[:60])}")
        click.echo(textwrap.indent(textwrap.fill(c.text, 96), "    "))


# Beyond this many files skipped for one reason (a saved web page's images and scripts), they
# are counted by type in one line rather than listed; -v lists them.
_MOST_SKIPPED_LISTED = 5


def _print_skipped(skipped: tuple[tuple[str, str], ...], verbose: bool) -> None:
    by_reason: dict[str, list[str]] = {}
    for path, reason in skipped:
        by_reason.setdefault(reason, []).append(path)
    for reason, paths in by_reason.items():
        if verbose or len(paths) <= _MOST_SKIPPED_LISTED:
            for path in paths:
                click.echo(f"skipped {one_line(path)}: {reason}", err=True)
        else:
            types = Counter(Path(path).suffix.lower() or "no suffix" for path in paths)
            counted = ", ".join(f"{count} {suffix}" for suffix, count in types.most_common())
            click.echo(f"skipped {len(paths)} files ({counted}): {reason}; -v lists them", err=True)


@cli.command()
@click.option("-k", "--top-k", "k", type=click.IntRange(1, MOST_CITED), help="How many passages to cite [default 5].")
@click.option("--lang", metavar="CODE", help="Cite only passages in this language: en, zh, fr ... [default any].")
@click.pass_context
@_one_line_errors
def chat(ctx: click.Context, k: int | None, lang: str | None):
    """Chat in the terminal: follow-up questions are read against the conversation so far.

    \b
    Type a question and press Enter (arrow keys edit and recall earlier lines). Then:
      /sources N   show the sources of answer N (the last answer without N)
      /new         start a new conversation
      /quit        leave (or Ctrl-D)
    Ctrl-C stops an answer that takes long (a local model's) and keeps the chat.

    \b
    Example:
      > Who developed Vicuna?
      > How much did it cost to train?      # read as a question about Vicuna
    """
    try:
        import readline  # noqa: F401  -- line editing and history for input()
    except ImportError:  # not on every platform; input() still works
        pass
    from qa.answer import check_options
    from qa.conversation import Turn

    k, lang = check_options(k, lang)  # before the first question, not after it
    app = _app(ctx)
    answers: list = []
    click.echo("Ask about the articles; /sources N, /new, /quit. Follow-ups are read against the conversation.")
    while True:
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line == "/new":
            answers = []
            click.echo("(a new conversation)")
            continue
        if line.startswith("/sources"):
            _show_sources(answers, line.removeprefix("/sources").strip())
            continue
        if line.startswith("/"):
            click.echo(f"unknown command {line.split()[0]!r}: use /sources N, /new or /quit", err=True)
            continue
        try:
            answer = _ask_showing_tokens(app, line, k, lang, history=[Turn(a.question, a.text) for a in answers])
        except QAError as exc:  # the user's to fix: say so, and keep the conversation
            click.echo(f"error: {exc}", err=True)
            continue
        except KeyboardInterrupt:  # Ctrl-C stops a slow answer (a local model's), not the chat
            click.echo("\n(stopped: this question is left out of the conversation; /quit or Ctrl-D leaves)", err=True)
            continue
        try:
            answer = _print_answer(app, answer, f"[{len(answers) + 1}] ")
        except KeyboardInterrupt:  # the answer is on screen: only its translations stop
            click.echo("\n(translations stopped)", err=True)
        answers.append(answer)
        if answer.searched_shown:
            click.echo(click.style(f"searched: {answer.searched_shown}", dim=True))


def _show_sources(answers: list, which: str) -> None:
    if not answers:
        click.echo("no answer yet: ask a question first", err=True)
        return
    if which and not (which.isdigit() and 1 <= int(which) <= len(answers)):
        click.echo(f"no answer {which!r}: give a number from 1 to {len(answers)}", err=True)
        return
    _print_sources(answers[int(which) - 1] if which else answers[-1])


@cli.command(name="eval")
@click.argument("questions", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write answers here [default stdout]."
)
@click.option("-k", "--top-k", "k", type=click.IntRange(1, MOST_CITED),
              help="How many passages to cite [default 5; 10 with --report, for its hit@k plot].")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write report.html (plots embedded), report.md and metrics.json into this folder.")
@click.option("--compare", nargs=2, type=click.Path(dir_okay=False, path_type=Path), metavar="A.jsonl B.jsonl",
              help="Ask nothing: show which questions got better or worse from output A to output B.")
@click.pass_context
@_one_line_errors
def evaluate(ctx: click.Context, questions: Path, output: Path | None, k: int | None, as_json: bool,
             report_dir: Path | None, compare: tuple[Path, Path] | None):
    """Answer every question of a JSON Lines file (FORMAT.md), one answer line each.

    A bad line gets an output line with "error", and the batch goes on; the exit code is
    then 3 (2: the file cannot be read at all). Repeated ids are warned about. When the
    questions carry gold fields (gold, answer_any, answerable), prints hit@5, MRR,
    answer_acc, abstain_acc and p50/p95 latency; with `lang` and `doc` fields, also
    per question language and same-language versus cross-lingual.

    \b
    Examples:
      corpus-qa eval ../shared/eval/dev.jsonl -o answers.jsonl --report report/
      corpus-qa eval ../shared/eval/dev.jsonl --compare before.jsonl after.jsonl
    """
    from qa.evaluate import compute_metrics, metrics_breakdown, read_question_file, read_results, repeated_ids

    lines = read_question_file(questions)
    repeated = repeated_ids(lines)
    if repeated:
        click.echo(f"warning: {len(repeated)} ids are on more than one line ({', '.join(repeated[:5])}"
                   f"{', …' if len(repeated) > 5 else ''}): their answers share an id", err=True)
    if compare:
        _print_comparison(lines, read_results(compare[0]), read_results(compare[1]), as_json)
        return
    app = _app(ctx)
    app.warm()
    try:
        results = _answer_all(app, lines, output, k or (10 if report_dir else None))
    except _Interrupted as stop:
        kept = f"; their answers are in {output}" if output else ""
        click.echo(f"\ninterrupted after {stop.answered} of {len(lines)} questions{kept}", err=True)
        ctx.exit(130)
    metrics = compute_metrics(lines, results, 5)
    report = sys.stdout if output else sys.stderr
    if metrics:
        doc_langs = {key: doc.lang for doc in app.documents() for key in (doc.doc_id, Path(doc.source).name)}
        groups = metrics_breakdown(lines, results, doc_langs, 5)
        if as_json:
            print(json.dumps({**metrics, "breakdown": groups}), file=report)
        else:
            for name, group in groups.items():
                print(f"  {name:14} " + " ".join(f"{key}={value}" for key, value in group.items()), file=report)
            print(" ".join(f"{key}={value}" for key, value in metrics.items()), file=report)
        if report_dir:
            from qa.report import write_report

            write_report(report_dir, lines, results, doc_langs, f"corpus-qa eval: {questions.name}")
            click.echo(f"report written to {report_dir / 'report.html'}", err=True)
    elif report_dir:
        raise InputError(f"{questions} has no gold fields (gold, answer_any, answerable): there is nothing to report")
    if any(r.get("error") for r in results):
        ctx.exit(LINES_FAILED)


class _Interrupted(Exception):
    """Ctrl-C during a batch, after `answered` answers were written."""

    def __init__(self, answered: int):
        super().__init__(answered)
        self.answered = answered


def _answer_all(app, lines, output: Path | None, k: int | None) -> list[dict]:
    """Answer each line, writing each answer as it comes, with a progress bar on stderr."""
    from tqdm import tqdm

    from qa.evaluate import answer_lines

    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    bar = tqdm(total=len(lines), desc="eval", unit="q", disable=None, file=sys.stderr)
    written = 0

    def write(result: dict) -> None:
        nonlocal written
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.flush()
        written += 1
        bar.update()

    try:
        results = answer_lines(lines, lambda q, history: app.ask(q, k, history=history), write)
    except KeyboardInterrupt:
        raise _Interrupted(written) from None
    finally:
        bar.close()
        if output:
            out.close()
    errors = [r for r in results if r.get("error")]
    for r in errors:
        click.echo(f"{r['id']}: {r['error']}", err=True)
    if output:
        click.echo(f"{len(results)} answers written to {output} ({len(errors)} with errors)", err=True)
    return results


def _print_comparison(lines, before: list[dict], after: list[dict], as_json: bool) -> None:
    from qa.report import compare_runs

    rows = compare_runs(lines, before, after)
    if not rows:
        raise InputError("no question with gold fields appears in both outputs: nothing to compare")
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        if row["verdict"] != "same":
            (ok_a, rr_a), (ok_b, rr_b) = row["before"], row["after"]
            click.echo(f"{row['verdict']:6} {row['id']}: answer {'right' if ok_a else 'wrong'} -> "
                       f"{'right' if ok_b else 'wrong'}, evidence 1/rank {rr_a} -> {rr_b}  {row['question'][:60]}")
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("better", "worse", "same")}
    click.echo(f"{counts['better']} better, {counts['worse']} worse, {counts['same']} the same")


@cli.command()
@click.option("--host", help="Interface to bind [env CORPUS_QA_HOST; default 127.0.0.1, this machine only].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [env CORPUS_QA_PORT; default 7860].")
@click.option("--auth-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Require a login: FILE holds one USER:PASSWORD per line [env CORPUS_QA_AUTH_FILE].")
@click.option("--auth", metavar="USER:PASSWORD",
              help="Require this login. Anyone on this machine sees it in `ps`: prefer --auth-file or "
                   "CORPUS_QA_AUTH.")
@click.option("--allow-anonymous-upload", is_flag=True, default=None,
              help="Offer upload even when the chat listens beyond this machine without a login "
                   "[env CORPUS_QA_ALLOW_ANONYMOUS_UPLOAD].")
@click.pass_context
@_one_line_errors
def serve(ctx: click.Context, host: str | None, port: int | None, auth_file: Path | None, auth: str | None,
          allow_anonymous_upload: bool | None):
    """Serve the chat in the browser, with a sources panel, upload and an /ask API.

    Listening beyond this machine (--host 0.0.0.0), require a login: failed logins then slow
    down per address, and without one upload is off unless --allow-anonymous-upload.

    \b
    Examples:
      corpus-qa serve                                     # http://127.0.0.1:7860
      corpus-qa serve --host 0.0.0.0 --auth-file logins   # reachable from other machines
    """
    settings = load_settings(os.environ, {**ctx.meta["overrides"], "host": host, "port": port, "auth": auth,
                                          "auth_file": auth_file, "allow_anonymous_upload": allow_anonymous_upload})
    from qa.app import build_app
    from ui import launch_chat

    _check_can_listen(settings.ui.host, settings.ui.port)  # before the models load, not after
    if auth:
        click.echo("warning: --auth shows the password to anyone who lists this machine's processes; "
                   "prefer --auth-file or CORPUS_QA_AUTH", err=True)
    if settings.ui.auth_file and settings.ui.auth_file.expanduser().stat().st_mode & 0o077:
        click.echo(f"warning: other users may read {settings.ui.auth_file}: chmod 600 it", err=True)
    app = build_app(settings)
    app.warm(for_ingest=settings.ui.uploads_allowed)
    status = app.status()
    if status.chunks == 0:
        click.echo("warning: nothing is ingested yet; run `corpus-qa ingest` first", err=True)
    if settings.ui.exposed_without_login:
        uploads = ("upload is on (--allow-anonymous-upload)" if settings.ui.uploads_allowed
                   else "upload is off")
        click.echo(f"warning: listening on {settings.ui.host} without a login: anyone who can reach this "
                   f"machine can read the corpus ({uploads}); add --auth-file FILE", err=True)
    click.echo(f"serving {status.documents} documents ({status.chunks} chunks) at "
               f"http://{settings.ui.host}:{settings.ui.port}", err=True)
    try:
        launch_chat(app, quiet=True)
    except OSError as exc:  # taken meanwhile
        raise InputError(f"cannot listen on {settings.ui.host}:{settings.ui.port}: {exc}") from None


def _check_can_listen(host: str, port: int) -> None:
    """Raise InputError, naming the fix, when the chat could not listen on host:port (taken, or
    an address this machine does not have)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own socket is
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"cannot listen on {host}:{port} ({reason}): choose another --port (CORPUS_QA_PORT) "
                         "or --host (CORPUS_QA_HOST)") from None


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@_one_line_errors
def status(ctx: click.Context, as_json: bool):
    """Show what is indexed: counts, embedder, store, and each document (id, language, chunks, hash, path)."""
    app = _app(ctx)
    current = app.status()
    if as_json:
        documents = [dict(doc.__dict__) for doc in app.documents()]
        click.echo(json.dumps({**current.to_json(), "document_list": documents}, ensure_ascii=False))
        return
    for key, value in current.to_json().items():
        click.echo(f"{key:10} {value}")
    for doc in app.documents():
        click.echo(f"  {in_column(one_line(doc.doc_id), 32)} {doc.lang:3} {doc.chunks:5} chunks  "
                   f"sha256:{doc.content_hash[:12]}  {one_line(doc.source)}")
