"""Which language's articles a question asks about, when it says so ("According to the French article, …")."""

from __future__ import annotations

import re

# A language's name as the question's language writes it, and its code.
_EN_NAMES = {"english": "en", "chinese": "zh", "french": "fr"}
_FR_NAMES = {"anglais": "en", "anglaise": "en", "chinois": "zh", "chinoise": "zh", "français": "fr", "française": "fr"}
_ZH_NAMES = {"英文": "en", "英语": "en", "中文": "zh", "汉语": "zh", "法文": "fr", "法语": "fr"}

# Not "version": "the Chinese version of Llama" is a model, not an article; nor "source code".
_EN_TEXT = r"(?:article|text|source(?!\s+code)|document|story|report|piece|post|original|page)s?"
_FR_TEXT = r"(?:article|texte|document|reportage|source|récit|original|page)s?"
_ZH_TEXT = r"(?:文章|报道|原文|文本|资料|新闻|报告)"
_EN_NAME = "|".join(_EN_NAMES)
_FR_NAME = "|".join(_FR_NAMES)
_ZH_NAME = "|".join(_ZH_NAMES)

# The whole mention, with the words that lead to it ("according to", "selon", 根据 …), so that
# what is left is the question itself.
_MENTIONS = (
    (re.compile(
        rf"(?:\b(?:according to|as (?:stated|said|reported|described) in|in|from|per|by)\s+)?"
        rf"\b(?:the|this|that)\s+(?P<name>{_EN_NAME})(?:[- ]language)?\s+{_EN_TEXT}\b"
        rf"|(?:\b(?:according to|in|from)\s+)?\b(?:the|this|that)\s+{_EN_TEXT}\s+(?:written\s+)?in\s+(?P<name2>{_EN_NAME})\b",
        re.IGNORECASE), _EN_NAMES),
    (re.compile(
        rf"(?:\b(?:selon|d'après|d’après|dans|suivant|pour)\s+)?"
        rf"(?:\b(?:l'|l’|le |la |les |cet |cette |ce ))\s*{_FR_TEXT}\s+(?:écrite?s?\s+)?(?:en\s+)?(?P<name>{_FR_NAME})s?\b",
        re.IGNORECASE), _FR_NAMES),
    (re.compile(
        rf"(?:根据|依据|按照|据|在)?(?:这篇|那篇|该篇?|这份|那份)?(?P<name>{_ZH_NAME})的?{_ZH_TEXT}(?:中|里|里面|所说|提到)?"),
     _ZH_NAMES),
)
# A mention of the articles that names no language.
_GENERIC = re.compile(
    r"\b(?:according to|as (?:stated|said|reported) in|per)\s+the\s+(?:article|text|document|story|report|author)\b"
    r"|\b(?:selon|d'après|d’après)\s+(?:l'|l’|le |la )\s*(?:article|texte|document|auteur|reportage)\b"
    r"|(?:根据|据)(?:这篇|该)?(?:文章|本文|原文|报道)(?:所说|中)?|(?<![\u3400-\u9fff])文中|本文中", re.IGNORECASE)
# Any mention of "the article", naming a language or not ("What does the article say about …", "文章里说").
_THE_ARTICLE = re.compile(
    rf"\b(?:the|this|that)\s+{_EN_TEXT}\b|\b(?:l'|l’|le |la |les |cet |cette |ce )\s*{_FR_TEXT}\b"
    rf"|{_ZH_TEXT}|文中|本文|这篇|那篇", re.IGNORECASE)
_LEFT_OVER = re.compile(r"^[\s,，:：;；、]+|[\s,，:：;；、]+(?=[?？.。!！]?$)")


def language_mentioned(question: str) -> tuple[str | None, str]:
    """(the code of the language whose articles the question names, or None; the question
    without its mention of the articles, to search with).

    Users of a corpus in several languages tell the articles apart by language: "According to
    the Chinese article, who …?", "d'après l'article chinois", "根据法语文章". The mention says
    where to look, not what to look for: left in the question, its words ("according", "article",
    "Chinese") match passages of every language and pull the question's meaning away from its
    topic. So do they when no language is named ("…, according to the article?").
    """
    for pattern, names in _MENTIONS:
        match = pattern.search(question)
        if match:
            name = (match.group("name") or match.groupdict().get("name2") or "").lower()
            return names[name], _without(question, match)
    match = _GENERIC.search(question)
    return None, _without(question, match) if match else question


def _without(question: str, mention: re.Match) -> str:
    """The question without the mention, and the commas and spaces it leaves."""
    rest = (question[: mention.start()] + " " + question[mention.end():]).strip()
    rest = _LEFT_OVER.sub("", re.sub(r"\s{2,}", " ", rest))
    # A question that is nothing but the mention ("法语文章？") keeps its words.
    return rest if re.search(r"\w{2,}", rest) else question


def mentions_the_articles(question: str) -> bool:
    """Whether the question speaks of "the article" (or text, story, 文章 …), naming a language or not."""
    return _THE_ARTICLE.search(question) is not None
