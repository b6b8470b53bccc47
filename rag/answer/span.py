"""The short answer inside a quoted sentence (the name, date or number asked for), shown
over the quote, which stays the evidence.

With the span reader it is the reader's best span in the sentence when the reader is sure
enough for the asked type (`READER_FLOORS`). Without it, rules: the date a when-question
asks for, the number of a how-many question, only when the sentence offers exactly one such
phrase the question doesn't already hold. Precision per type on the dev sets is measured
by `python -m eval.answer_scorer.span_check` (numbers at `TYPES` and `READER_FLOORS`).
"""

from __future__ import annotations

import re

from rag.answer.features import CAPITAL, DATE, YEAR, asked_type, word_heads
from rag.records import SpanScore

# Without the span reader (JAUAP_ANSWER_READER=none), the rules below mark short answers for
# these types. Precision of the shown short answer, dev answers whose quote holds the gold
# (`python -m eval.answer_scorer.span_check`, 2026-11-28): when .959 (coverage .56),
# number .875 (.25); who .642 and where .571 pick a wrong name too often (another person in
# the sentence, a title, a question word inside a quoted title), so they are not shown.
TYPES = ("when", "number")
MEASURED = ("when", "number", "who", "where")
# With the span reader, its best span in the quoted sentence is the short answer when its
# margin (span score minus no-answer score) reaches the asked type's floor: the lowest floor
# of -2, 0, 2 ... 8 whose precision reaches .90 on dev answers whose quote holds the gold
# (`nice -n 5 python -m eval.answer_scorer.span_check --save F`, 2026-12-07, reader
# e4f1a04717d0: 2,346 answers of 2,655 dev questions over kk, ru, en, en-kk, ru-kk pools).
# Precision at the floor: number .934, who .907, other .953; when (rules first, then the
# reader at 2) .942, at 0 .897; where reaches .909 at 4 but .889 at 6 on 68 answers, so it
# is still not shown. All shown: coverage .35 at .928, all answers .32 at .811; per set en
# .946, ru .940, kk .872, en->kk .900, ru->kk .800. The floors of the second-stage reader
# (number 0, when 4, who 6) gave .27 at .951 (all answers .23 at .872) with this reader.
READER_FLOORS = {"number": -2.0, "when": 2.0, "who": 0.0, "other": 8.0}
MAX_SHORT_WORDS = 8
# Types whose rule, when it finds a span, wins over the reader: the rule merges a whole date
# («20-21 желтоқсанда», "20 December 2022") where the reader's span can stop at the month.
RULES_FIRST = ("when",)
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


def answer_span(question: str, sentence: str, read: SpanScore | None = None) -> tuple[int, int] | None:
    """Character span of the short answer in `sentence`, or None when unsure: the span
    reader's best span (`read`, in the sentence's characters) above its type's floor, or
    the rules for the types in `TYPES` — for a sentence the reader did not read, and first
    for the types in `RULES_FIRST`."""
    atype = asked_type(question) or "other"
    if read is None or atype in RULES_FIRST:
        rule = typed_span(question, sentence, TYPES)
        if rule or read is None:
            return rule
    floor = READER_FLOORS.get(atype)
    return None if floor is None else reader_span(question, sentence, read, floor)


def reader_span(question: str, sentence: str, read: SpanScore | None, min_margin: float) -> tuple[int, int] | None:
    """The reader's span, widened to whole words and trimmed of edge punctuation (a closing
    bracket or quote mark stays when the span opens it), when its margin reaches
    `min_margin`, it has at most `MAX_SHORT_WORDS` words and says something the question doesn't."""
    if read is None or read.margin < min_margin:
        return None
    a, b = max(read.start, 0), min(read.end, len(sentence))
    while 0 < a < b and sentence[a - 1].isalnum() and sentence[a].isalnum():
        a -= 1  # whole words: the reader's tokens can cut one («желтоқсан|да»)
    b = _word_end(sentence, b) if b > a else b
    while a < b and not sentence[a].isalnum():
        a += 1
    while b > a and not (sentence[b - 1].isalnum() or sentence[b - 1] == "%"
                         or _OPENS.get(sentence[b - 1], "\0") in sentence[a : b - 1]):
        b -= 1
    phrase = sentence[a:b]
    if not phrase or len(phrase.split()) > MAX_SHORT_WORDS or not _new(phrase, question):
        return None
    return (a, b) if _balanced(phrase) else None


_OPENS = {"»": "«", "”": "“", ")": "(", "]": "["}  # closing mark -> its opening mark


def _balanced(phrase: str) -> bool:
    """Quote marks and brackets pair up: a span cut inside «…» or (…) is not an answer
    («британдық актер, «Peace one day» was one, on a gold question)."""
    return all(phrase.count(o) == phrase.count(c) for c, o in _OPENS.items()) and phrase.count('"') % 2 == 0


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
