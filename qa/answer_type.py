"""What kind of thing a question asks for (a number, a date, a name, a title), and whether a sentence holds one."""

from __future__ import annotations

import re

_ASKS = {
    "date": re.compile(
        r"\bwhen\b|\bwhat (year|month|day|date|century|decade)\b|\bwhich (year|month|century)\b|\bhow long ago\b|"
        r"何时|什么时候|哪一?年|哪个月|哪天|何年|几月|多久以前|\bquand\b|\bquelle (année|date)\b|\ben quelle année\b",
        re.IGNORECASE,
    ),
    "number": re.compile(
        r"\bhow (many|much|long|far|old|tall|large|big|high|often)\b|\bwhat (percentage|proportion|number|amount)\b|"
        r"多少|几[个位次年种家岁]|多[长大高远久重]|\bcombien\b|\bquel (nombre|montant|pourcentage)\b",
        re.IGNORECASE,
    ),
    # French "qui" asks only at the start or after a preposition; elsewhere it is the relative
    # pronoun ("le document qui a fuité"), which asks for nothing.
    "name": re.compile(
        r"\bwho(m|se)?\b|谁|哪位|哪个人|^\W*qui\b(?! est-ce que)|\b(à|de|par|pour|avec|chez|contre) qui\b",
        re.IGNORECASE,
    ),
    "title": re.compile(
        r"\b(called|named|entitled|titled)\b|\bwhat (is|was) the (name|title)\b|叫什么|名为|名叫|名字|标题|题目|"
        r"\bappel[ée]e?s?\b|\bs'appel|\bintitul[ée]|\bquel est le (nom|titre)\b",
        re.IGNORECASE,
    ),
}
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"
)
_HOLDS = {
    "date": re.compile(rf"\b1\d{{3}}\b|\b20\d{{2}}\b|\d+\s*[年月日]|[一二三四五六七八九十]+月|\b({_MONTHS})\b", re.IGNORECASE),
    # Numbers in words from two up ("one", "un" are mostly not counts: "one of them").
    "number": re.compile(
        r"\d|[一二三四五六七八九十百千万亿两几数]+[个位次年种家岁倍亿万千百%]|"
        r"\b(hundreds?|thousands?|millions?|billions?|dozens?|centaines?|milliers?|milliards?)\b|"
        r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven|eigh|nine)teen|"
        r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|"
        r"douze|treize|quatorze|quinze|seize|vingt|trente|quarante|cinquante|soixante)\b",
        re.IGNORECASE,
    ),
    "name": re.compile(r"(?<=[\w,;:] )[A-Z][a-zà-ÿ]+|[\u4e00-\u9fff][·•‧・][\u4e00-\u9fff]|(?<=[\u4e00-\u9fff])[A-Z][a-z]+"),
    # A title or a coined name is quoted (《…》, “…”, «…», "…") or a run of capitalised words.
    "title": re.compile(r"《[^》]+》|“[^”]+”|«[^»]+»|\"[^\"]+\"|\b[A-Z][\w-]+(?: (?:of |on |for |the |de |du )?[A-Z][\w-]+)+"),
}


def asked_type(question: str) -> str | None:
    """'date', 'number', 'name' or 'title' when the question asks for one, else None."""
    for kind, pattern in _ASKS.items():
        if pattern.search(question):
            return kind
    return None


def holds_type(kind: str | None, sentence: str) -> bool:
    """Whether a sentence holds a thing of that kind (always False for None)."""
    return bool(kind) and bool(_HOLDS[kind].search(sentence))
