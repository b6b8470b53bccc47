"""Language detection for kk / ru / en documents and questions.

Kazakh-specific letters (ә ғ қ ң ө ұ ү һ і) separate Kazakh from Russian in most
texts; short Cyrillic texts without them fall back to common Kazakh words and then
to py3langid restricted to the two languages.
"""

from __future__ import annotations

import re
from functools import lru_cache

LANGS = ("kk", "ru", "en")
KK_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
_CYR = re.compile(r"[а-яёәғқңөұүһіА-ЯЁӘҒҚҢӨҰҮҺІ]")
_LAT = re.compile(r"[A-Za-z]")
# Frequent Kazakh words written without Kazakh-specific letters.
_KK_WORDS = {
    "мен",
    "бен",
    "пен",
    "және",
    "бойынша",
    "туралы",
    "кім",
    "кімдер",
    "неше",
    "неге",
    "қайда",
    "жылы",
    "жылғы",
    "деп",
    "бар",
    "жоқ",
    "бұл",
    "осы",
    "сол",
    "еді",
    "емес",
    "ма",
    "ме",
    "ба",
    "бе",
    "па",
    "пе",
    "ше",
    "ше?",
    "керек",
    "болды",
    "болып",
    "атты",
    "өтті",
    "ашты",
    "айтты",
    "ретінде",
    "арасында",
    "бастап",
    "дейін",
}
_WORD = re.compile(r"\w+")


def detect(text: str) -> str:
    """Return 'kk', 'ru' or 'en' for `text` (English when there are no letters to go on)."""
    sample = text[:5000]
    cyr = len(_CYR.findall(sample))
    lat = len(_LAT.findall(sample))
    if cyr == 0 and lat == 0:
        return "en"
    if lat > cyr:
        return "en"
    kk_letters = sum(1 for ch in sample if ch in KK_LETTERS)
    # Russian text quoting a Kazakh name has a few; Kazakh prose has ~4-7% of letters.
    if kk_letters >= 1 and kk_letters / cyr >= 0.01:
        return "kk"
    words = [w.lower() for w in _WORD.findall(sample)]
    if words and sum(w in _KK_WORDS for w in words) / len(words) >= 0.15:
        return "kk"
    if kk_letters == 0 and len(words) > 3:
        return "ru"
    return _langid_kk_ru(sample)


@lru_cache(maxsize=1)
def _identifier():  # noqa: ANN202 - py3langid has no public types
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE)
    ident.set_languages(["kk", "ru"])
    return ident


def _langid_kk_ru(text: str) -> str:
    lang, _ = _identifier().classify(text)
    return lang if lang in LANGS else "ru"


# Words by which a follow-up question refers back to the previous turn.
FOLLOWUP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(["it", "its", "he", "she", "they", "them", "their", "his", "her", "this", "that", "there", "and", "also"]),
    "ru": frozenset(["он", "она", "оно", "они", "его", "её", "ее", "их", "ему", "ей", "им", "это", "этот", "там", "а", "и", "тоже", "также"]),
    "kk": frozenset(["ол", "оның", "оны", "оған", "олар", "олардың", "бұл", "сол", "осы", "ал", "және", "мұнда", "онда"]),
}
