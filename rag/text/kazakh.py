"""Kazakh word forms for BM25: a suffix-stripping stemmer over the language's
morphotactic slots (case, possessive, plural, -лық, verb forms) and prefix stems."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

# Slots in reverse morphotactic order (stem + VERB-FORM + DERIV + PLURAL + POSSESSIVE +
# CASE); at most one suffix per slot, longest first. "ыі|н": strip "н" only after ы or і
# (the forms that follow a 3rd-person possessive: кітабын, қаласында, медиафорумына).
_KK_SLOT_TEXT = (
    # case endings, plus past "-ды" and present "-ады" which look alike; known miss:
    # a vowel-final verb's past (зерттеді → зертт) vs its other forms (зерттеген → зертте)
    "ыі|ндағы ыі|ндегі дағы дегі тағы тегі ның нің дың дің тың тің нан нен дан ден тан тен "
    "ыі|нда ыі|нде менен бенен пенен мен бен пен ға ге қа ке ыі|на ыі|не ны ні ды ді ты ті "
    "да де та те ша ше ады еді ыі|н",
    # possessive (1sg/2sg -ым/-ың left out: too many nouns end so, e.g. ғалым)
    "ымыз іміз мыз міз ыңыз іңіз ңыз ңіз сы сі ы і",
    "лар лер дар дер тар тер",  # plural
    "лық лік дық дік тық тік",  # -лық adjectives/abstract nouns: химиялық → химия
    "ған ген қан кен атын етін йтын йтін ып іп у",  # participles, converb, verbal noun
)


def _slot(text: str) -> tuple[tuple[str, str], ...]:
    pairs = [(suf, before) for before, _, suf in (x.rpartition("|") for x in text.split())]
    return tuple(sorted(pairs, key=lambda p: len(p[0]), reverse=True))


_KK_SLOTS = tuple(_slot(t) for t in _KK_SLOT_TEXT)
_KK_DEVOICE = {"б": "п", "г": "к", "ғ": "қ"}  # кітабы → кітап, жүрегі → жүрек
_KK_MIN_STEM = 3  # characters that must remain after stripping


@lru_cache(maxsize=100_000)
def kk_suffix_stem(word: str) -> str:
    """Strip Kazakh inflection (case, possessive, plural, -лық, verb forms), then devoice."""
    for slot in _KK_SLOTS:
        for suf, before in slot:
            keep = len(word) - len(suf)
            if (
                keep >= _KK_MIN_STEM
                and word.endswith(suf)
                and (not before or word[keep - 1] in before)
            ):
                word = word[:keep]
                break
    if len(word) > 3 and word[-1] in _KK_DEVOICE:
        word = word[:-1] + _KK_DEVOICE[word[-1]]
    return word


def prefix_stemmer(n: int) -> Callable[[str], tuple[str, ...]]:
    def stem(word: str) -> tuple[str, ...]:
        return (word,) if word[0].isdigit() else (word[:n],)

    return stem


def suffix_and_prefix5(word: str) -> tuple[str, ...]:
    # Two terms per word: the suffix-stripped stem, and a 5-char prefix in its own
    # namespace ("~") that catches what the stripper misses (Канада/Канададағы).
    # Numbers are kept whole, in both namespaces, so they weigh as much as words.
    if word[0].isdigit():
        return (word, "~" + word)
    return (kk_suffix_stem(word), "~" + word[:5])
