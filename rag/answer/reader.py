"""An LLM as a reader: it reads the sentences the extractive answer quotes and names the
short answer in the question's language and the number of the sentence it rests on; jauap
puts that short answer, checked against the sentence, over the extractive answer's
verbatim quotes.

Why: a small local model (Qwen2.5-Coder 1.5B on 2 cores) writing a free cited answer mixed
languages, dropped markers or copied its sources (eval/README.md, Local LLM). Asked to
choose among the scorer's top 5 sentences it chose worse than the scorer (gold
answer_contains .567 vs .667); naming the answer in the sentences the scorer chose takes a
short prompt and ~20 output tokens, and the quotes stay exact. The reply is JSON,
constrained by a schema where the backend supports one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.answer.cite import LEXICAL_SUPPORT, lexical_support
from rag.answer.extractive import (
    Pick,
    quote_lines,
    quote_of,
    short_line,
    verbatim_phrase,
    verbatim_short,
)
from rag.answer.features import word_heads
from rag.errors import GeneratorError
from rag.records import Hit, SpanScore
from rag.text.lang import detect
from rag.text.markers import strip_markers

LANGUAGE_NAMES = {"en": "English", "ru": "Russian", "kk": "Kazakh"}
# The reply names the sentence by its number and caps the short answer: copying a quote
# made the replies long (Kazakh ~3 tokens a word): on gold 65 reply tokens a call on
# average, 262 at most, at ~0.09 s a token on 2 cores against ~0.014 s a prompt token
# (least squares over 66 calls), so the copied quote was most of the 28.5 s p95.
ANSWER_CHARS = 80


def schema(sentences: int) -> dict[str, Any]:
    """The reply's JSON schema for `sentences` numbered sentences (0: none answers); llama.cpp
    turns it into a grammar, so a local model can name no sentence it was not shown."""
    return {
        "type": "object",
        "properties": {
            "sentence": {"type": "integer", "minimum": 0, "maximum": sentences},
            "answer": {"type": "string", "maxLength": ANSWER_CHARS},
        },
        "required": ["sentence", "answer"],
    }


SYSTEM = (
    "You read numbered sentences and answer a question from them. Reply in JSON: "
    '{"sentence": the number of the sentence that answers the question, "answer": the short '
    "answer (a name, date, number or short phrase) in the language the user asks for, "
    "translated if the sentence is in another language, names spelled as that language "
    'writes them}. If no sentence answers the question, reply {"sentence": 0, "answer": ""}.'
)
# Worked examples (invented, not from any eval set) ahead of every question: the same
# prefix each time, so llama.cpp's prompt cache reads it once per process.
EXAMPLES = [
    ("1. Выставка продлится до конца марта.\n2. Выставку открыл министр культуры Аскар Омаров.\n"
     "3. На выставке представлено более 200 картин.", "Who opened the exhibition?", "en",
     {"sentence": 2, "answer": "Culture Minister Askar Omarov"}),
    ("1. The bridge was built by the city council.\n2. It is 300 metres long.",
     "Көпірдің ұзындығы қанша?", "kk", {"sentence": 2, "answer": "300 метр"}),
    ("1. Фестиваль өткен жылы Шымкентте өтті.\n2. Оған 5 мыңнан астам адам қатысты.",
     "Кто выиграл главный приз фестиваля?", "ru", {"sentence": 0, "answer": ""}),
]  # fmt: skip
_OBJECT = re.compile(r"\{.*?\}", re.S)
_DIGITS = re.compile(r"\d+")
# In the sentence's own language the model should copy the answer: most of its stems must
# be there («20-21 жолы» for «20-21 желтоқсанда» has 2 of 3 and is not shown).
SAME_LANGUAGE_SUPPORT = 0.75


@dataclass(frozen=True)
class ModelChoice:
    """The model's choice (a different thing from the span reader's `records.Reading`):
    the sentence it names, None when it found none that answers, and its short answer."""

    pick: Pick | None
    answer: str


# Before the model has read (or when it found nothing): the quotes with the rule's short answer.
NO_CHOICE = ModelChoice(None, "")


def _one_line(text: str) -> str:
    """`text` with every run of whitespace made one space (sentences span lines)."""
    return " ".join(text.split())


def _language(lang: str) -> str:
    return LANGUAGE_NAMES.get(lang, "English")


def _user(sentences: str, question: str, lang: str) -> str:
    return f"Sentences:\n{sentences}\n\nQuestion: {question.strip()}\nAnswer in {_language(lang)}."


def reader_messages(question: str, lang: str, sources: Sequence[Hit], picks: Sequence[Pick]) -> list[dict[str, str]]:
    """System rule, the worked examples, then the candidate sentences numbered 1..n."""
    messages = [{"role": "system", "content": SYSTEM}]
    for sentences, q, q_lang, reply in EXAMPLES:
        messages.append({"role": "user", "content": _user(sentences, q, q_lang)})
        messages.append({"role": "assistant", "content": json.dumps(reply, ensure_ascii=False)})
    lines = "\n".join(f"{i}. {_one_line(quote_of(sources, p))}" for i, p in enumerate(picks, 1))
    messages.append({"role": "user", "content": _user(lines, question, lang)})
    return messages


def reader_retry(messages: list[dict[str, str]], reply: str, lang: str) -> list[dict[str, str]]:
    """The reading so far, then a request for the short answer in the question's language
    (in English, like the rest of the reader prompt; prompts.language_retry asks for [n] markers)."""
    return [*messages, {"role": "assistant", "content": reply},
            {"role": "user", "content": f"Write the answer in {_language(lang)}."}]


def parse_reading(reply: str, picks: Sequence[Pick]) -> ModelChoice:
    """The model's JSON reply as a ModelChoice: the candidate sentence it names by number
    (0: none answers) and its short answer, empty when the answer filled its whole cap
    (cut off, so not shown); GeneratorError when the reply is not a reading or names no
    candidate."""
    match = _OBJECT.search(reply)
    try:
        data = json.loads(match.group(0)) if match else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    number = data.get("sentence")
    if not isinstance(number, int) or isinstance(number, bool):
        raise GeneratorError(f"the model's reply is not a reading: {reply[:120]!r}")
    if number == 0:
        return NO_CHOICE
    if not 1 <= number <= len(picks):
        raise GeneratorError(f"the model named sentence {number} of {len(picks)}")
    answer = str(data.get("answer") or "")
    return ModelChoice(picks[number - 1], "" if len(answer) >= ANSWER_CHARS else _one_line(answer))


def grounded(answer: str, sentence: str, answer_lang: str, sentence_lang: str) -> bool:
    """Whether the short answer can stand on the sentence: every number in it occurs there
    (a 1.5B model gave a year from the worked examples), and its words do, by the citation
    check's lexical support (names across scripts by transliteration) — nearly all of them
    when it is in the sentence's own language, where the model should copy."""
    if not set(_DIGITS.findall(answer)) <= set(_DIGITS.findall(sentence)):
        return False
    need = SAME_LANGUAGE_SUPPORT if answer_lang == sentence_lang else LEXICAL_SUPPORT
    return lexical_support(answer, sentence, sorted({answer_lang, sentence_lang})) >= need


def short_answer(
    question: str, lang: str, sentence: str, sentence_lang: str, answer: str, read: SpanScore | None = None
) -> str | None:
    """The short answer to show. Across languages, the date or number the extractive rule
    finds in the sentence (rag.answer.span, verbatim) comes first: the model translated
    «20-21 желтоқсанда» as "20-21 January" and "20-21 October". Otherwise the model's
    answer when it says something the question doesn't (it answered «…медиафорумды кім
    ашты?» with «Алматы») and is either copied from the sentence (then shown as a quote
    when the sentence is in another language) or in the question's language and grounded,
    and, in the sentence's own words, shares a word with the span reader's best span
    (`reader_agrees`); else that verbatim phrase."""
    verbatim = verbatim_short(question, lang, sentence, sentence_lang, read)
    if verbatim and sentence_lang != lang:
        return verbatim
    answer = answer.rstrip(".")
    new = word_heads(answer) - word_heads(question)
    if not new:
        return verbatim
    verbatim_answer = copied(answer, sentence)
    if (verbatim_answer or sentence_lang == lang) and not reader_agrees(new, sentence, read):
        return verbatim
    if verbatim_answer:
        return verbatim_phrase(answer, sentence_lang, lang)
    if speaks(answer, lang) and grounded(answer, sentence, lang, sentence_lang):
        return answer
    return verbatim


def reader_agrees(heads: set[str], sentence: str, read: SpanScore | None) -> bool:
    """Whether words of the model's answer (`heads`, rag.answer.features.word_heads) are in
    the span reader's best span of the sentence; True with no reader."""
    return read is None or bool(heads & word_heads(sentence[read.start : read.end]))


def copied(answer: str, sentence: str) -> bool:
    """The answer stands word for word in the sentence."""
    return _one_line(answer) in _one_line(sentence)


def speaks(answer: str, lang: str) -> bool:
    """The answer reads as `lang`: the detector for longer ones, the script for names and
    phrases too short to detect (Latin for English, Cyrillic for Russian and Kazakh)."""
    letters = [c for c in answer if c.isalpha()]
    latin = sum(c.isascii() for c in letters) / len(letters) if letters else 0.0
    return in_language(answer, lang) and (latin >= 0.5) == (lang == "en")


def compose_reading(question: str, lang: str, sources: Sequence[Hit], chosen: Sequence[Pick], reading: ModelChoice) -> str:
    """The cited answer: a short answer — the model's, else the extractive rule's date or
    number — over the verbatim quotes of `chosen`, with the extractive lead-ins."""
    lines = quote_lines(lang, sources, chosen)
    pick, line = reading.pick, None
    if pick is not None:
        short = short_answer(
            question, lang, quote_of(sources, pick), sources[pick.n - 1].doc.lang, reading.answer, pick.short
        )
        line = f"{short} [{pick.n}]" if short else None
    line = line or short_line(question, lang, sources, chosen)
    if line:
        lines.insert(0, line)
    return "\n".join(lines)


def in_language(text: str, lang: str) -> bool:
    """Whether an answer (markers removed) reads as `lang`; short answers (names, numbers)
    give the detector too little to go on and count as matching."""
    body = strip_markers(text).strip()
    return len(body.split()) < 4 or detect(body) == lang
