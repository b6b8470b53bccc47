"""Words as search and matching see them: tokens, stopwords and stems per language.

Tokens: NFC, lowercase, ``ё``→``е``; words are runs of letters/digits; a number with
decimal or thousands separators stays one token with ``,`` written as ``.``
(``16,5`` → ``16.5``, so Russian/Kazakh and English decimals meet). Mixed-script
words get Latin look-alikes mapped to Cyrillic (``өзенi`` → ``өзені``) and Roman
numerals typed with Cyrillic ``Х``/``І`` become Latin (``ХІХ`` → ``xix``).
Stemming: ru/en Snowball, kk see ``KK_STEMMERS``; other languages are not stemmed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache

import Stemmer

from rag.text.kazakh import kk_suffix_stem, prefix_stemmer, suffix_and_prefix5

_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+")
_CYR_RE = re.compile(r"[а-яёәғқңөұүһі]")
_LAT_RE = re.compile(r"[a-z]")
_HOMOGLYPHS = str.maketrans("aceiopxyk", "асеіорхук")
_ROMAN_RE = re.compile(r"[ivxlcdmхі]+")
_ROMAN_TO_LATIN = str.maketrans("хі", "xi")
# soft hyphen, zero-width characters, and stress accents left over after NFC
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\u0300\u0301]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Short, hand-written; question words included (they carry no topic).
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "a an the and or but of to in on at by for from with as into about is are was were "
        "be been being it its this that these those there what which who whom whose how when "
        "where why do does did has have had not no than then so such s t"
    ),
    "ru": _words(
        "и в во не что на с со как а то все но да к у же за бы по из о об от до при для "
        "или ли если уже ни он она оно они его ее их это этот эта эти тот та те был была "
        "было были быть есть который которая которые которых каком какой какая какие "
        "кто где когда сколько чем чего там так также тоже"
    ),
    # also bare case endings split off by a hyphen: "АТФ-ның", "2-ден"
    "kk": _words(
        "және мен бен пен да де та те ма ме ба бе па пе ал бірақ немесе не ол бұл осы сол "
        "ғана тек үшін деп деген дегеніміз дегеніңіз еді екен қандай қанша қай қайда қайсы "
        "кім кімдер қашан қалай неге неше нені нелер ненің ның нің дың дің тың тің ға ге қа "
        "ке ды ді ны ні ты ті дан ден тан тен нан нен дағы дегі"
    ),
}

# name -> function mapping one lowercase word to the index terms it yields.
KK_STEMMERS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "none": lambda word: (word,),
    "prefix4": prefix_stemmer(4),
    "prefix5": prefix_stemmer(5),
    "prefix6": prefix_stemmer(6),
    "suffix": lambda word: (kk_suffix_stem(word),),
    "suffix+prefix5": suffix_and_prefix5,
}
DEFAULT_KK_STEMMER = "suffix+prefix5"
_SNOWBALL = {"ru": "russian", "en": "english"}


@cache
def _snowball(lang: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_SNOWBALL[lang])


def default_stemmer(lang: str) -> str:
    """Stemmer name used for ``lang`` when none is given."""
    if lang == "kk":
        return DEFAULT_KK_STEMMER
    return "snowball" if lang in _SNOWBALL else "none"


def _normalize(tok: str) -> str:
    if tok[0].isdigit():
        return tok.replace(",", ".")
    if _ROMAN_RE.fullmatch(tok) and len(tok) <= 8:
        return tok.translate(_ROMAN_TO_LATIN)
    if _CYR_RE.search(tok) and _LAT_RE.search(tok):
        return tok.translate(_HOMOGLYPHS)
    return tok


@lru_cache(maxsize=300_000)
def _terms(tok: str, lang: str, stemmer: str, stopwords: bool) -> tuple[str, ...]:
    """Index terms of one lowercase token (cached: word frequencies are Zipfian)."""
    tok = _normalize(tok)
    if stopwords and tok in STOPWORDS.get(lang, ()):
        return ()
    if stemmer == "none":
        return (tok,)
    if stemmer == "snowball":
        return (tok,) if tok[0].isdigit() else (_snowball(lang).stemWord(tok),)
    return KK_STEMMERS[stemmer](tok)


def tokenize(
    text: str, lang: str, stemmer: str | None = None, *, stopwords: bool = True
) -> list[str]:
    """Normalised, stopword-filtered, stemmed tokens of ``text`` in language ``lang``.

    ``stemmer``: None = the language default; "none"; "snowball" (ru/en); a ``KK_STEMMERS``
    key (kk). Unknown languages only get lowercasing and normalisation.
    """
    name = stemmer or default_stemmer(lang)
    if name == "snowball" and lang not in _SNOWBALL:
        raise ValueError(f"no Snowball stemmer for language {lang!r}")
    if name not in ("none", "snowball") and (lang != "kk" or name not in KK_STEMMERS):
        raise ValueError(f"unknown stemmer {name!r} for language {lang!r}")
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", text)).lower().replace("ё", "е")
    return [term for t in _TOKEN_RE.findall(text) for term in _terms(t, lang, name, stopwords)]


def entity_words(text: str) -> list[str]:
    """Capitalised words after the first, and numbers: the words that mean the same in
    Kazakh and Russian (names of people, places, organisations; dates)."""
    words = re.findall(r"\w[\w-]*", text)
    return [w for i, w in enumerate(words) if (i > 0 and w[0].isupper()) or w[0].isdigit()]
