"""A checked translation of each quoted sentence that is not in the question's language, by the local model.

The verbatim quote stays the answer and its citation; the translation is shown beside it, marked
as machine-made. A small model gets numbers and names wrong and leaves words untranslated, so a
translation is shown only when every number of the quote has the same value in it (270亿 = 27
billion, 2万 = 20,000) and it adds none, every Latin-script name of the quote is in it unchanged
(in Chinese, or as CC-CEDICT writes it: Poland, 波兰), a translation from Chinese names nothing the
quote does not (as CC-CEDICT translates its words: 谷歌, Google), and it is written in the
question's language with no run of the quote's words left in.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace

from ingest.text import CAPITALISED_WORD, HAN, HAN_CHARACTERS, LANGUAGE_NAMES, NAME, detect_language
from qa.generate import GenerationError, Generator
from qa.lexicon import Lexicon
from qa.records import Answer, Quote, Translation
from qa.settings import QASettings

TIME_LIMIT_SETTING = "CORPUS_QA_LLM_TRANSLATE_TIMEOUT"
# The checks below know the numbers, names and scripts of these languages only.
_CHECKED_LANGUAGES = ("en", "zh", "fr")
_PROMPT_LANGUAGE = {"en": "English", "zh": "Simplified Chinese (简体中文)", "fr": "French"}

# A number as written with digits: "5,000", "5 000", "1.5", "1,5" (a comma before exactly three
# digits groups thousands; before other digits it is a French decimal comma).
_DIGITS = r"(?<![A-Za-z0-9])(?<!\d[.,])(\d{1,3}(?:[,\u00a0\u202f ]\d{3})+(?!\d)|\d+)(?:[.,](\d+))?"
# Words that multiply the number before them, per language, longest first within a language.
_SCALES = {
    "en": {"trillion": 1e12, "billions": 1e9, "billion": 1e9, "millions": 1e6, "million": 1e6, "thousand": 1e3},
    "fr": {"milliards": 1e9, "milliard": 1e9, "billions": 1e12, "billion": 1e12, "millions": 1e6, "million": 1e6,
           "mille": 1e3},
    "zh": {"万亿": 1e12, "千亿": 1e11, "百亿": 1e10, "亿": 1e8, "千万": 1e7, "百万": 1e6, "十万": 1e5, "万": 1e4,
           "千": 1e3, "百": 1e2},
}
_SCALED = {lang: re.compile(_DIGITS + r"\s*(" + "|".join(scales) + (r")(?![a-zà-ÿ])" if lang != "zh" else ")"),
                            re.IGNORECASE)
           for lang, scales in _SCALES.items()}
_NUMBER = re.compile(_DIGITS)
# A number said by its order of size only: 数百万 "millions", 几百 "a few hundred", "tens of thousands",
# "des centaines": its value is the size (1e6, 100, 1e4, 100), on either side of a translation.
_UNIT_VALUES = {"十": 10, "百": 100, "千": 1e3, "万": 1e4, "亿": 1e8, "tens": 10, "hundreds": 100, "thousands": 1e3,
                "millions": 1e6, "billions": 1e9, "dizaines": 10, "centaines": 100, "milliers": 1e3, "milliards": 1e9}
_MAGNITUDE = {
    "zh": re.compile("(?:好几|几|数|上)([十百千万亿]+)"),
    # text2num reads "hundreds" and "des millions", not these.
    "en": re.compile(r"\b(tens|hundreds) of (thousands|millions|billions)\b", re.IGNORECASE),
    "fr": re.compile(r"\b(?:(dizaines|centaines) d[e'] ?)?(milliers|centaines|dizaines)\b|"
                     r"\b(dizaines|centaines) de (millions|milliards)\b", re.IGNORECASE),
}
_HAN_RUN = re.compile(f"[{HAN_CHARACTERS}]+")
_LONGEST_WORD = 8  # characters of the longest Chinese word looked up in the lexicon
_APART = re.compile(r"[.,;:!?()]+")
_APART_IN_CHINESE = re.compile(f"[{HAN_CHARACTERS}。，、；：！？（）.,;:!?()]+")
# A name's number in Roman numerals: "World War II", "Henry VIII".
_ROMAN = re.compile(r"\b(?=[IVX]{2,}\b)(X{0,3})(IX|IV|V?I{0,3})\b")
# A Chinese numeral: 二十七, 两千五百万, 三.
_HAN_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿]+")
_HAN_UNITS_ONLY = re.compile("[十百千万亿]+")  # 十分 "very", 千万 "by all means": words more often than numbers
# Month names: a date's month is a number in Chinese (3月) and a word in English and French.
_MONTHS = {name: n for names in (
    "january february march april may june july august september october november december",
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
) for n, name in enumerate(names.split(), 1)}
# How many times, said in one word: 两次 is "twice".
_TIMES = {"once": 1, "twice": 2, "thrice": 3}
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ0-9'’-]*")
# A name an acronym or a model makes: "GPT-4", "LLaMA", "H100" (first word of a sentence included).
_MADE_NAME = re.compile(r"\b[A-Za-z]*(?:[A-Z][A-Za-z]*[A-Z]|[A-Za-z]-?\d)[A-Za-z0-9-]*")
# English and French share short words ("a", "on", "Vicuna de"): three of the source's words in a
# row in the translation are words left untranslated.
_LEFT_IN_RUN = 3


def foreign_quotes(answer: Answer) -> list[Quote]:
    """The quotes of an extractive answer written in another of the checked languages than the question's."""
    if not answer.answerable or answer.mode != "extractive" or answer.answer_language not in _CHECKED_LANGUAGES:
        return []
    return [q for q in answer.quotes if q.lang != answer.answer_language and q.lang in _CHECKED_LANGUAGES]


def translation_messages(quote: Quote, target: str) -> list[dict]:
    """The prompt: the quoted sentence, the language it is in and the one it goes into, and the rules."""
    source, into = _PROMPT_LANGUAGE[quote.lang], _PROMPT_LANGUAGE[target]
    system = (f"You translate from {source} into {into}. Translate the user's sentence into {into}. Keep every "
              "number with its exact value, and copy names written in Latin letters (like GPT-4 or Berkeley) "
              "unchanged. Reply with the translation only, on one line.")
    return [{"role": "system", "content": system}, {"role": "user", "content": quote.text}]


def translate_quotes(answer: Answer, generator: Generator, settings: QASettings,
                     lexicon: Lexicon | None = None) -> Iterator[Answer]:
    """The answer with one more of its `foreign_quotes` translated (or rejected) at each step, all of
    them within `settings.llm_translate_timeout` seconds; a quote left when time is up is rejected.
    The `lexicon` knows how names are written in Chinese (`translation_problem`)."""
    deadline = time.monotonic() + settings.llm_translate_timeout
    done: list[Translation] = []
    for quote in foreign_quotes(answer):
        done.append(translate_quote(quote, answer.answer_language, generator, deadline, settings, lexicon))
        yield replace(answer, translations=tuple(done))


def translate_quote(quote: Quote, target: str, generator: Generator, deadline: float,
                    settings: QASettings, lexicon: Lexicon | None = None) -> Translation:
    """`quote` in the `target` language if the model's translation, written by `deadline` (a
    `time.monotonic()` time), passes the checks."""
    out_of_time = (f"the translations took longer than the {settings.llm_translate_timeout:g} s they may take "
                   f"({TIME_LIMIT_SETTING})")
    if time.monotonic() >= deadline:
        return Translation(quote, target, rejected=out_of_time)
    # Two tokens per character of the quote is room for any of the three languages written from another.
    most_tokens = 2 * len(quote.text) + 32
    try:
        reply = generator.generate(translation_messages(quote, target), most_tokens, deadline - time.monotonic())
    except GenerationError as exc:
        return Translation(quote, target, rejected=out_of_time if time.monotonic() >= deadline else str(exc))
    text = " ".join(reply.split()).strip("\"“”「」'")
    problem = translation_problem(quote.text, quote.lang, reply.strip(), target, lexicon)
    return Translation(quote, target, rejected=problem) if problem else Translation(quote, target, text=text)


def translation_problem(source: str, source_lang: str, translation: str, target: str,
                        lexicon: Lexicon | None = None) -> str | None:
    """Why `translation` cannot stand beside `source` (None when it can): it is empty or more than a
    line, a number of the source is missing from it or has another value, it says a number the
    source does not, a Latin-script name of the source is not in it unchanged, it names what the
    source does not, or it is not written in `target`.

    The `lexicon` (CC-CEDICT) tells how names are written in the other language: into Chinese,
    "Poland" may be 波兰; from Chinese, "Google" must be how it writes a word of the source (谷歌).
    """
    if not translation or "\n" in translation.strip() or translation.rstrip().endswith((":", "：")):
        return "the reply is not one translated sentence"
    missing = _number_not_in(source, source_lang, translation, target)
    if missing:
        return f"the translation lacks the number {missing} of the source"
    added = _number_not_in(translation, target, source, source_lang)
    if added:
        return f"the translation says {added}, a number the source does not"
    changed = [name for name in sorted(_names(source, source_lang))
               if name not in translation and not (target == "zh" and _written_in_chinese(name, translation, lexicon))]
    if changed:
        return f"the translation changes the name {changed[0]}"
    invented = _name_not_in(source, source_lang, translation, target, lexicon)
    if invented:
        return f"the translation names {invented}, which the source does not"
    if target != "zh" and HAN.search(translation):
        return f"the translation leaves Chinese in its {LANGUAGE_NAMES[target]}"
    if target == "zh" and not HAN.search(translation) or target != "zh" and detect_language(translation) != target:
        return f"the translation is not in {LANGUAGE_NAMES[target]}"
    left_in = _words_left_in(source, source_lang, translation, target)
    if left_in:
        return f"the translation leaves \"{left_in}\" untranslated"
    return None


def number_values(text: str, lang: str, strict: bool = True) -> list[float]:
    """The values of the numbers `text` (in `lang`) writes, in digits, in number words or with a unit
    word: "270亿" 27e9, "27 billion" 27e9, "vingt-sept" 27, "5,000" 5000, "两千五百万" 25e6.

    `strict` leaves out what is more often a word than a number: "one", "un", a lone 一 ("a"),
    十 alone ("十分", very), and month names. Checked texts are read strictly, translations not:
    a number said in the source must be found in the translation, however it is written there.
    """
    values: list[float] = []

    def take(match: re.Match, scale: float = 1.0) -> str:
        whole, decimals = match.group(1), match.group(2)
        number = float(re.sub(r"[,\u00a0\u202f ]", "", whole) + (f".{decimals}" if decimals else ""))
        values.append(_rounded(number * scale))
        return " "

    if lang in _SCALED:
        text = _SCALED[lang].sub(lambda m: take(m, _SCALES[lang][m.group(3).lower()]), text)
        text = _MAGNITUDE[lang].sub(lambda m: _magnitude(m, values), text)
    if lang == "zh":
        text = _HAN_NUMERAL.sub(lambda m: _han_numeral(m.group(), values, strict), text)
    elif lang in ("en", "fr"):
        text = _ROMAN.sub(lambda m: _roman_numeral(m, values), text)
        text = _words_as_digits(text, lang, 2 if strict else 0)
        if not strict:
            values += [float(_MONTHS.get(w.lower()) or _TIMES[w.lower()]) for w in _LATIN_WORD.findall(text)
                       if w.lower() in _MONTHS or w.lower() in _TIMES]
    _NUMBER.sub(take, text)
    return values


def _han_numeral(numeral: str, values: list[float], strict: bool) -> str:
    """Add the value of a Chinese numeral to `values` (unless `strict` and it is more often a word)."""
    if strict and (numeral == "一" or _HAN_UNITS_ONLY.fullmatch(numeral)):
        return numeral
    import cn2an

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cn2an warns as well as raises on what is no numeral ("万一")
        try:
            values.append(_rounded(float(cn2an.cn2an(numeral, "smart"))))
        except (ValueError, KeyError):
            return numeral
    return " "


def _magnitude(match: re.Match, values: list[float]) -> str:
    """Add the order of size a number is said by to `values`: 数百万 1e6, "tens of thousands" 1e4."""
    value = 1.0
    for group in filter(None, match.groups()):
        key = group.lower()
        value *= _UNIT_VALUES[key] if key in _UNIT_VALUES else math.prod(_UNIT_VALUES[c] for c in group)
    values.append(_rounded(value))
    return " "


def _roman_numeral(match: re.Match, values: list[float]) -> str:
    """Add the value of a Roman numeral ("XIV") to `values`."""
    tens, units = match.group(1), match.group(2)
    unit = {"IX": 9, "IV": 4}.get(units) or units.count("V") * 5 + units.count("I")
    values.append(float(10 * len(tens) + unit))
    return " "


def _words_as_digits(text: str, lang: str, threshold: int) -> str:
    """`text` with its number words in digits ("twenty-seven billion" -> "27000000000"), from `threshold` up."""
    from text_to_num import alpha2digit

    return alpha2digit(text, lang, threshold=threshold)


def _rounded(value: float) -> float:
    return float(f"{value:.6g}")


def _number_not_in(text: str, lang: str, other: str, other_lang: str) -> str | None:
    """The first number `text` says whose value `other` does not write, as `text` writes it."""
    found = set(number_values(other, other_lang, strict=False))
    for value in number_values(text, lang):
        if value not in found:
            return f"{value:,.0f}" if value.is_integer() else f"{value:g}"
    return None


def _names(text: str, lang: str) -> set[str]:
    """The Latin-script names a text writes: every Latin word of a Chinese text; in English or French,
    the capitalised words after the first and the acronyms and model names ("GPT-4")."""
    if lang == "zh":
        found = _LATIN_WORD.findall(text)
    else:
        found = NAME.findall(text) + _MADE_NAME.findall(text)
    names = {name.rstrip("-'’") for name in found}
    return {name for name in names if len(name) > 1 and not _ROMAN.fullmatch(name)}  # a numeral is a number


def _name_not_in(source: str, source_lang: str, translation: str, target: str, lexicon: Lexicon | None) -> str | None:
    """A name a translation from Chinese writes in Latin letters that is neither in the source nor
    how the `lexicon` translates a word of it: "Chelsea" for 芝华士 (Chivas). None without a lexicon."""
    if source_lang != "zh" or target == "zh" or lexicon is None:
        return None
    from qa.keywords import word_tokens

    # Every word of the source the lexicon lists, wherever it starts: Chinese is written without spaces.
    said = {token for run in _HAN_RUN.findall(source) for i in range(len(run))
            for j in range(i + 2, min(len(run), i + _LONGEST_WORD) + 1) for token in lexicon.translations(run[i:j])}
    said.update(word_tokens(source))
    names = _names(translation, target)
    # An English first word no dictionary knows is a name too: "Zhuangda" for 芝大 (UChicago).
    first = CAPITALISED_WORD.match(translation.lstrip("\"“( "))
    if target == "en" and first and not number_values(first.group(), "en", strict=False) and not any(
            lexicon.translations(token) for token in word_tokens(first.group())):
        names.add(first.group())
    for name in sorted(names):
        if name.lower() not in _MONTHS and not all(_akin(token, said) for token in word_tokens(name)):
            return name
    return None


def _akin(token: str, tokens: set[str]) -> bool:
    """Whether a keyword token is one of `tokens` up to its ending: "asian" for "asia", "apis" for "api"."""
    return any(len(os.path.commonprefix([token, other])) >= min(4, len(token), len(other)) for other in tokens)


def _written_in_chinese(name: str, translation: str, lexicon: Lexicon | None) -> bool:
    """Whether a Chinese `translation` writes `name` as the lexicon translates it."""
    from qa.keywords import word_tokens

    return lexicon is not None and any(word in translation for token in word_tokens(name)
                                       for word in lexicon.translations(token))


def _words_left_in(source: str, source_lang: str, translation: str, target: str) -> str | None:
    """Words of the source left in the translation as they are, other than its names: into Chinese,
    Latin words in a row, one of them a lower-case word ("researchers built"); between English and
    French, three of the source's words in a row."""
    if source_lang == "zh":
        return None  # a Chinese word left in a translation is a Han character, checked before
    if target == "zh":
        # A word or two in brackets may stay as the source has them: "公社（gmina）".
        for stretch in _APART_IN_CHINESE.split(translation):
            words = _LATIN_WORD.findall(stretch)
            if len(words) > 1 and any(len(w) > 2 and w.islower() for w in words):
                return " ".join(words)
        return None
    names = {w.lower() for w in CAPITALISED_WORD.findall(source)}
    source_words = [w.lower() for w in _LATIN_WORD.findall(source)]
    source_runs = {tuple(source_words[i : i + _LEFT_IN_RUN]) for i in range(len(source_words) - _LEFT_IN_RUN + 1)}
    # Words in a row: a sentence's punctuation between two words parts them.
    for stretch in _APART.split(translation):
        words = [w.lower() for w in _LATIN_WORD.findall(stretch)]
        for i in range(len(words) - _LEFT_IN_RUN + 1):
            window = tuple(words[i : i + _LEFT_IN_RUN])
            if window in source_runs and not all(w in names for w in window):
                return " ".join(window)
    return None
