"""Which language a text is written in.

Documents may be in any language: py3langid (a maintained identifier whose model ships in
its wheel) names it. Questions are answered in English, Chinese or French, so for them a
fast script-and-stopword rule picks one of the three, with no model to load.
"""

from __future__ import annotations

import functools
import re

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "fr": "French"}

# Han characters (CJK unified ideographs, extension A, compatibility ideographs), for a regex class.
HAN_CHARACTERS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One Han character.
HAN = re.compile(f"[{HAN_CHARACTERS}]")
_LATIN_NAME_LETTERS = "A-Za-zÀ-ÖØ-öø-ÿ0-9-"  # not \w: it would run on into Chinese ("Meta的研究")
_CAPITALISED = rf"[A-ZÀ-ÖØ-Þ][{_LATIN_NAME_LETTERS}]*"
# A word opening with a capital, accented or not ("Anthropic", "Émile", "GPT-4").
CAPITALISED_WORD = re.compile(_CAPITALISED)
# What a sentence names: a capitalised word after its first, a word capitalised inside
# ("DeepSeek"), or a Latin-script word next to Chinese ("DeepSeek的模型").
NAME = re.compile(rf"(?<=\S\s){_CAPITALISED}|\b[a-z]*[A-Z][a-z]+[A-Z][{_LATIN_NAME_LETTERS}]*|"
                  rf"(?<={HAN.pattern})[A-Za-z][{_LATIN_NAME_LETTERS}]*|[A-Za-z][{_LATIN_NAME_LETTERS}]*(?={HAN.pattern})")
_LATIN_WORD = re.compile(r"[^\W\d_]+")
_FRENCH_MARKS = re.compile(r"[àâçéèêëîïôûùüÿœ]", re.IGNORECASE)
# Short words frequent in one language and rare in the other: enough to tell French from English.
_FRENCH_WORDS = frozenset(
    "le la les des du un une est et en que qui dans pour pas sur au aux avec ce cette sont il elle "
    "nous vous ils ont été plus mais ou où comme quand quel quelle combien pourquoi".split()
)
_ENGLISH_WORDS = frozenset(
    "the a an of and is are was were to in that which who what when how why for with on by this "
    "it its from as be has have had not or at".split()
)


def detect_language(text: str) -> str:
    """'zh', 'fr' or 'en' (the default when a text gives no evidence)."""
    sample = text[:5000]
    han = len(HAN.findall(sample))
    words = [w.lower() for w in _LATIN_WORD.findall(HAN.sub(" ", sample))]
    if han and han >= len(words):
        return "zh"
    french = sum(w in _FRENCH_WORDS for w in words) + len(_FRENCH_MARKS.findall(sample))
    english = sum(w in _ENGLISH_WORDS for w in words)
    return "fr" if french > english else "en"


# The languages questions come in win a close call: on a short text the identifier's first guess
# is often a neighbour of theirs ("nn" for a two-line English note, "ht" for a French sentence,
# "wuu" for Mandarin), which would keep the document out of a language filter and misname it.
_FAVOURED = ("en", "fr", "zh")
# A favoured language wins when it is at least this share as probable as the first guess.
_CLOSE_CALL = 0.5


@functools.cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_document_language(text: str) -> str:
    """The ISO 639-1 code of a document's language ('en', 'zh', 'fr', 'de', ...).

    Varieties without a two-letter code (Cantonese "yue", Wu "wuu", Extremaduran "ext") are left
    out, so their texts take the code of the language they are written like.
    """
    sample = text[:20000]
    if not sample.strip():
        return "en"
    ranked = [(lang, p) for lang, p in _identifier().rank(sample) if len(lang) == 2]
    best, probability = ranked[0]
    favoured = next(((lang, p) for lang, p in ranked if lang in _FAVOURED), None)
    if favoured and favoured[1] >= _CLOSE_CALL * probability:
        return favoured[0]
    return str(best)
