"""The one settings object: defaults, then CORPUS_QA_* environment variables, then CLI flags."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.settings import IngestSettings
from qa.errors import SettingsError
from store.settings import StoreSettings, checked_http_url


DEFAULT_LEXICON = "cc-cedict"
NO_LEXICON = "none"

# The most passages an answer may cite (`top_k`, `ask -k`, the /ask endpoint's `k`).
MOST_CITED = 50


class QASettings(BaseModel):
    """How questions become answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(5, ge=1, le=MOST_CITED, description="Passages cited per answer.")
    answer_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description=("Answer when the fitted model's probability that the articles answer the question is at "
                     "least this; lower answers more readily (default: the threshold fitted with the model)."),
    )
    lexicon: str = Field(
        DEFAULT_LEXICON,
        description=(
            f"Bilingual dictionary for matching keywords across languages: '{DEFAULT_LEXICON}' (Chinese<->English, "
            f"shipped in its package), the path of a file in CC-CEDICT format, or '{NO_LEXICON}'."
        ),
    )
    translation_threshold: float = Field(
        0.1,
        ge=-2.0,
        le=2.0,
        # Measured with `make eval` (bench/README.md, "Decisions"); above 1 nothing counts as a translation.
        description="CSLS score a corpus word needs to count as a translation of a question word in keyword matching.",
    )
    translations_per_word: int = Field(
        3, ge=0, le=20,
        description="Most corpus words matched per question word by word vectors, in each script (letters, Chinese characters).",
    )
    dense_candidates: int = Field(30, ge=1, le=500, description="Nearest chunks taken from the vector search.")
    keyword_candidates: int = Field(20, ge=0, le=500, description="Best BM25 chunks added to the candidates.")
    rescore_candidates: int = Field(
        12, ge=0, le=100, description="Best fused candidates re-scored by their most similar sentence."
    )
    reranker: str | None = Field(
        None, description="Path of a sentence-transformers CrossEncoder folder that re-scores the best candidates."
    )
    reranker_weight: float = Field(1.0, ge=0.0, le=10.0, description="Weight of the cross-encoder's score.")
    llm_url: str | None = Field(None, description="OpenAI-compatible endpoint of a local model (Ollama, llama.cpp, vLLM).")
    llm_model: str | None = Field(None, description="Model name sent to the endpoint at llm_url.")
    llm_gguf: str | None = Field(None, description="A GGUF model file run in-process by xllamacpp.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds a generation may take before the extractive answer is used.")
    llm_max_tokens: int = Field(200, ge=16, le=4096, description="Longest generated answer, in tokens.")
    llm_threads: int = Field(2, ge=1, le=64, description="CPU threads of the in-process GGUF model.")
    llm_rewrite: bool = Field(
        False, description="Let the local model rewrite a follow-up question to stand alone before it is searched "
                           "(checked; worth it only with a model that rewrites well)."
    )
    llm_generate: bool = Field(
        True, description="Let the local model write the answer from the cited passages (checked); off: quote them."
    )
    llm_translate: bool = Field(
        True, description="Show the local model's translation of each quoted sentence that is not in the question's "
                          "language, beside the quote (checked; never a citation)."
    )
    llm_translate_timeout: float = Field(
        30.0, gt=0, description="Seconds the translations of one answer may take; the quotes stand alone after."
    )
    answer_passages: int = Field(3, ge=1, le=10, description="Top passages whose sentences may form the answer.")
    max_answer_chars: int = Field(300, ge=40, le=2000, description="Longest answer, markers not counted.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")

    @field_validator("lexicon")
    @classmethod
    def _lexicon_is_known_or_a_file(cls, spec: str) -> str:
        if spec not in (DEFAULT_LEXICON, NO_LEXICON) and not Path(spec).expanduser().is_file():
            raise ValueError(f"not a file: give '{DEFAULT_LEXICON}', '{NO_LEXICON}' or the path of a CC-CEDICT file")
        return spec

    @field_validator("llm_url")
    @classmethod
    def _llm_url_is_http(cls, url: str | None) -> str | None:
        return checked_http_url(url, "the local model's endpoint", "http://127.0.0.1:11434/v1")


class UISettings(BaseModel):
    """Where the chat listens, and who may use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Interface the chat binds to.")
    port: int = Field(7860, ge=1, le=65535, description="Port the chat listens on.")
    auth: str | None = Field(None, description="'user:password' to require a login for the chat and its API.")
    auth_file: Path | None = Field(
        None, description="A file of logins, one 'user:password' per line ('#' starts a comment), kept out of `ps`."
    )
    allow_anonymous_upload: bool = Field(
        False, description="Let anyone add documents to a chat that listens beyond this machine without a login."
    )

    @field_validator("auth")
    @classmethod
    def _auth_is_a_login(cls, auth: str | None) -> str | None:
        if auth is not None and parse_login(auth) is None:
            raise ValueError("give it as USER:PASSWORD")
        return auth

    @field_validator("auth_file")
    @classmethod
    def _auth_file_holds_logins(cls, path: Path | None) -> Path | None:
        if path is not None:
            read_logins(path.expanduser())
        return path

    @property
    def credentials(self) -> list[tuple[str, str]] | None:
        """Every (user, password) that may log in, or None when no login is required."""
        logins = [parse_login(self.auth)] if self.auth else []
        if self.auth_file:
            logins += read_logins(self.auth_file.expanduser())
        return logins or None

    @property
    def exposed_without_login(self) -> bool:
        """Whether the chat listens beyond this machine with no login."""
        return self.host not in ("127.0.0.1", "localhost", "::1") and not (self.auth or self.auth_file)

    @property
    def uploads_allowed(self) -> bool:
        """Whether the chat offers upload: not to anyone on the network, unless the user says so."""
        return not self.exposed_without_login or self.allow_anonymous_upload


def parse_login(text: str) -> tuple[str, str] | None:
    """(user, password) of 'user:password' (the password may hold colons), or None when either is missing."""
    user, colon, password = text.partition(":")
    return (user, password) if user and colon and password else None


def read_logins(path: Path) -> list[tuple[str, str]]:
    """The (user, password) pairs of a logins file: one 'user:password' per line, blank and '#' lines aside.

    Raises:
        ValueError: the file is missing or unreadable, holds no login, or a line is not 'user:password'
        (the message names the line, never the password).
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    logins = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        login = parse_login(line)
        if login is None:
            raise ValueError(f"line {number} of {path} is not 'user:password'")
        logins.append(login)
    if not logins:
        raise ValueError(f"{path} holds no login: write one 'user:password' per line")
    return logins


class Settings(BaseModel):
    """Everything configurable, one section per package."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(description="Folder that holds all of corpus-qa's data.")
    cache_dir: Path = Field(
        description="Folder for what is derived from installed files and shared by every data dir (the read lexicon)."
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    store: StoreSettings
    qa: QASettings = Field(default_factory=QASettings)
    ui: UISettings = Field(default_factory=UISettings)


# Environment variable suffix (and CLI override key, lower-cased) -> (section, field). By hand,
# not pydantic-settings: it reads os.environ only, names nested fields CORPUS_QA_QA__TOP_K, and
# ignores unknown variables; ours are flat, come from a mapping given, and unknown ones are refused.
ENV_FIELDS: dict[str, tuple[str, str]] = {
    "EMBEDDER": ("ingest", "embedder"),
    "THREADS": ("ingest", "threads"),
    "LEXICON": ("qa", "lexicon"),
    "CHUNK_CHARS": ("ingest", "chunk_chars"),
    "OVERLAP_SENTENCES": ("ingest", "overlap_sentences"),
    "EMBED_TITLE": ("ingest", "embed_title"),
    "MAX_FILE_MB": ("ingest", "max_file_mb"),
    "WRITE_BATCH_CHUNKS": ("ingest", "write_batch_chunks"),
    "TOP_K": ("qa", "top_k"),
    "RERANKER": ("qa", "reranker"),
    "LLM_URL": ("qa", "llm_url"),
    "LLM_MODEL": ("qa", "llm_model"),
    "LLM_GGUF": ("qa", "llm_gguf"),
    "LLM_TIMEOUT": ("qa", "llm_timeout"),
    "LLM_REWRITE": ("qa", "llm_rewrite"),
    "LLM_GENERATE": ("qa", "llm_generate"),
    "LLM_TRANSLATE": ("qa", "llm_translate"),
    "LLM_TRANSLATE_TIMEOUT": ("qa", "llm_translate_timeout"),
    "ANSWER_THRESHOLD": ("qa", "answer_threshold"),
    "TRANSLATION_THRESHOLD": ("qa", "translation_threshold"),
    "HOST": ("ui", "host"),
    "PORT": ("ui", "port"),
    "AUTH": ("ui", "auth"),
    "AUTH_FILE": ("ui", "auth_file"),
    "ALLOW_ANONYMOUS_UPLOAD": ("ui", "allow_anonymous_upload"),
    "CHROMA_URL": ("store", "url"),
    "CHROMA_TOKEN": ("store", "token"),
    "CHROMA_TENANT": ("store", "tenant"),
    "CHROMA_DATABASE": ("store", "database"),
}


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The per-user data folder: $XDG_DATA_HOME/corpus-qa, else ~/.local/share/corpus-qa."""
    base = environ.get("XDG_DATA_HOME") or os.path.join(environ.get("HOME") or str(Path.home()), ".local", "share")
    return Path(base) / "corpus-qa"


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """The per-user cache folder: $XDG_CACHE_HOME/corpus-qa, else ~/.cache/corpus-qa."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or str(Path.home()), ".cache")
    return Path(base) / "corpus-qa"


def load_settings(environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """Merge defaults, CORPUS_QA_* variables from `environ`, then non-None `overrides`.

    Raises:
        SettingsError: a value is invalid; the message names the variable or option.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _refuse_unknown_variables(environ)
    data_dir = Path(overrides.get("data_dir") or environ.get("CORPUS_QA_DATA_DIR") or default_data_dir(environ))
    data_dir = data_dir.expanduser()
    cache_dir = Path(environ.get("CORPUS_QA_CACHE_DIR") or default_cache_dir(environ)).expanduser()
    sections: dict[str, dict[str, Any]] = {"ingest": {}, "qa": {}, "ui": {}, "store": {}}
    origin: dict[tuple[str, str], str] = {}
    for suffix, (section, name) in ENV_FIELDS.items():
        if overrides.get(suffix.lower()) is not None:
            sections[section][name] = overrides[suffix.lower()]
            origin[(section, name)] = f"--{suffix.lower().replace('_', '-')}"
        elif environ.get(f"CORPUS_QA_{suffix}"):
            sections[section][name] = environ[f"CORPUS_QA_{suffix}"]
            origin[(section, name)] = f"CORPUS_QA_{suffix}"
    store = sections.pop("store")
    store["mode"] = "server" if store.get("url") else "embedded"
    try:
        store_settings = StoreSettings(path=data_dir / "chroma", **store)
    except ValidationError as exc:
        raise _invalid(exc, origin, ("store",)) from None
    try:
        return Settings(data_dir=data_dir, cache_dir=cache_dir, store=store_settings, **sections)
    except ValidationError as exc:
        raise _invalid(exc, origin) from None


def _invalid(exc: ValidationError, origin: dict[tuple[str, str], str], within: tuple[str, ...] = ()) -> SettingsError:
    """The first error of a validation, naming the variable or option that set the value."""
    error = exc.errors()[0]
    message = error["msg"].removeprefix("Value error, ")
    where = within + tuple(str(part) for part in error["loc"])
    if len(where) < 2:  # about several values together: no one of them to name
        return SettingsError(f"invalid settings: {message}")
    where = where[:2]
    name = origin.get(where, ".".join(where))
    value = error.get("input")
    shown = "…" if where[-1] in _SECRET_FIELDS else repr(str(value) if isinstance(value, Path) else value)
    return SettingsError(f"{name}={shown} is invalid: {message}")


# Settings whose value an error message must not repeat: it may be a password.
_SECRET_FIELDS = ("auth", "token")
# Read by load_settings itself rather than through ENV_FIELDS.
_PATH_VARIABLES = ("DATA_DIR", "CACHE_DIR")


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    """A CORPUS_QA_* variable that is no setting is most likely a typo, which would silently change nothing.

    Raises:
        SettingsError: naming the variable, and the setting it most resembles.
    """
    known = [*ENV_FIELDS, *_PATH_VARIABLES]
    for name in sorted(environ):
        suffix = name.removeprefix("CORPUS_QA_")
        if suffix != name and suffix not in known:
            close = difflib.get_close_matches(suffix, known, n=1)
            hint = f"did you mean CORPUS_QA_{close[0]}? " if close else ""
            raise SettingsError(f"{name} is not a corpus-qa setting: {hint}the settings are listed in the README")
