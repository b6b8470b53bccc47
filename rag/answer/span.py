"""The short answer inside a quoted sentence: the date a when-question asks for, the number
of a how-many question, the name of a who/where question.

Only when the sentence offers exactly one such phrase the question doesn't already hold
(for who/where: the first name of two or more words, else the only one-word name), so a
wrong short answer is rare; the quote under it stays the evidence. Precision per type on
the dev sets is measured by `python -m eval.answer_scorer.span_check` (numbers in `TYPES`).
"""

from __future__ import annotations

import re

from rag.answer.features import CAPITAL, DATE, YEAR, asked_type, word_heads

# Types whose short answers are right often enough to be shown. Precision of the shown short
# answer, dev answers whose quote holds the gold (ru, en, kk results of `jauap eval`;
# `python -m eval.answer_scorer.span_check`): when .973 (72/74, coverage .55), number .833
# (35/42, coverage .25); who .615 (88/143) and where .543 (19/35) pick a wrong name too
# often (another person in the sentence, a title, a question word inside a quoted title),
# so they are measured but not shown.
TYPES = ("when", "number")
MEASURED = ("when", "number", "who", "where")
_NUMBER = re.compile(
    r"(?<![\w.,])\d+(?:[ \u00a0.,]\d{3})*(?:[.,]\d+)?(?:\s?%|\s(?:million|billion|thousand|"
    r"млн|млрд|тыс\.?|миллион\w*|миллиард\w*|мың|миллион|миллиард))?(?![\w])",
    re.IGNORECASE,
)


def _new(phrase: str, question: str) -> bool:
    """No word of the phrase (by its first 5 letters) occurs in the question."""
    return not word_heads(phrase) & word_heads(question)


def _dates(sentence: str) -> list[tuple[int, int]]:
    """Date phrases with an adjacent year merged in ("20 December 2022", «2022 жылғы 20 желтоқсан»)."""
    spans = sorted({m.span() for m in DATE.finditer(sentence)} | {m.span() for m in YEAR.finditer(sentence)})
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] <= 8 and not re.search(r"[.;]", sentence[merged[-1][1] : start]):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif not merged or start >= merged[-1][1]:
            merged.append((start, end))
    return [(start, _word_end(sentence, end)) for start, end in merged]


def _word_end(text: str, end: int) -> int:
    """`end` moved to the end of its word: a year inside "1950s" is the whole "1950s"."""
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return end


def _names(sentence: str) -> list[tuple[int, int]]:
    """Runs of capitalised words separated by single spaces (sentence-initial word excluded)."""
    runs: list[tuple[int, int]] = []
    for m in CAPITAL.finditer(sentence):
        if m.start() == 0 or not sentence[: m.start()].strip():
            continue
        if runs and sentence[runs[-1][1] : m.start()] == " ":
            runs[-1] = (runs[-1][0], m.end())
        else:
            runs.append(m.span())
    return runs


def answer_span(question: str, sentence: str) -> tuple[int, int] | None:
    """Character span of the short answer in `sentence`, or None when unsure."""
    return typed_span(question, sentence, TYPES)


def typed_span(question: str, sentence: str, types: tuple[str, ...]) -> tuple[int, int] | None:
    """`answer_span` for the given asked types (the check script measures all of them)."""
    atype = asked_type(question)
    if atype not in types:
        return None
    if atype == "when":
        found = _dates(sentence)
    elif atype == "number":
        found = [m.span() for m in _NUMBER.finditer(sentence)]
    else:
        found = _names(sentence)
    found = [s for s in found if _new(sentence[s[0] : s[1]], question)]
    if atype in ("who", "where"):
        multi = [s for s in found if " " in sentence[s[0] : s[1]]]
        if multi:
            return multi[0]
    return found[0] if len(found) == 1 else None
