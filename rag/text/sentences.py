"""Sentence boundaries for Russian, Kazakh and English text, as character spans.

A boundary is end punctuation (optionally closed by quotes or brackets) followed by
whitespace and a capital letter, digit, opening quote or dash, unless the word before
the dot is an initial (`Д. Песков`, `Ғ. Мұстафин`) or a known abbreviation (`т.е.`,
`ж.`, `г.`). A line break always ends a sentence: headings, captions and list items
stand alone.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {
    # Russian
    "т.е",
    "т.к",
    "т.н",
    "т.ч",
    "и.о",
    "т",
    "е",
    "д",
    "п",
    "г",
    "гг",
    "др",
    "пр",
    "см",
    "ср",
    "стр",
    "им",
    "ул",
    "пл",
    "обл",
    "р",
    "руб",
    "тыс",
    "млн",
    "млрд",
    "трлн",
    "коп",
    "проф",
    "акад",
    "доц",
    "рис",
    "табл",
    "гл",
    "ст",
    "чел",
    "мин",
    "сек",
    "кв",
    "км",
    "вв",
    "нач",
    "зам",
    "н",
    "э",
    # Kazakh
    "ж",
    "жж",
    "б",
    "т.б",
    "ғ",
    "мыс",
    "қ",
    "көш",
    "бб",
    # English
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "no",
    "inc",
    "ltd",
    "jr",
    "sr",
    "fig",
    "approx",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "a.m",
    "p.m",
}
_LINE = re.compile(r"[^\n]+")
_CANDIDATE = re.compile(r"[.!?…]+[»\"”’)\]]*(?=\s)")
_NEXT_START = re.compile(r"\s+[«\"“(\[—–-]*\s*[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ0-9]")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
# How far back to look for the word before a dot. Longer than any abbreviation, so a
# word cut at this window is neither an initial nor an abbreviation: same answer as an
# unbounded look-back, in constant time per candidate (was a search from the document
# start: 0.5 MB of text took 10.6 s, `python eval/bench/ingest_scale.py --split-only`).
_LOOK_BACK = 32


def _is_boundary(text: str, match: re.Match[str], line_end: int) -> bool:
    """Whether the candidate `match` ends a sentence; looks no further than `line_end`."""
    end = match.end()
    if not _NEXT_START.match(text, end, line_end):
        return False
    if match.group().startswith("."):
        start = match.start()
        word = _WORD_BEFORE.search(text, max(0, start - _LOOK_BACK), start)
        token = word.group(1) if word else ""
        if len(token) == 1 and token.isalpha() and token.isupper():
            return False  # an initial
        if token.lower().rstrip(".") in ABBREVIATIONS:
            return False
    return True


def split_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) within text[start:end], stripped of surrounding spaces.

    Linear in the length of the text: no copies of it and bounded look-back."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text, start, end):
        line_start, line_end = line.start(), line.end()
        pos = line_start
        for m in _CANDIDATE.finditer(text, line_start, line_end):
            if _is_boundary(text, m, line_end):
                spans.append((pos, m.end()))
                pos = m.end()
        spans.append((pos, line_end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def split(text: str) -> list[str]:
    """Sentences of `text` as strings."""
    return [text[s:e] for s, e in split_spans(text)]
