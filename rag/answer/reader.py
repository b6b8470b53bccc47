"""An LLM as a reader: it reads the sentences the extractive answer quotes and names the
short answer in the question's language, with the words it rests on; jauap puts that short
answer, checked against the sentence, over the extractive answer's verbatim quotes.

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
SCHEMA = {
    "type": "object",
    "properties": {"quote": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["quote", "answer"],
}

SYSTEM = (
    "You read numbered sentences and answer a question from them. Reply in JSON: "
    '{"quote": the words of the sentence that answer the question, copied exactly, "answer": '
    "the short answer (a name, date, number or short phrase) in the language the user asks "
    "for, translated if the sentence is in another language, names spelled as that language "
    'writes them}. If no sentence answers the question, reply {"quote": "", "answer": ""}.'
)
# Worked examples (invented, not from any eval set) ahead of every question: the same
# prefix each time, so llama.cpp's prompt cache reads it once per process.
EXAMPLES = [
    ("1. Выставка продлится до конца марта.\n2. Выставку открыл министр культуры Аскар Омаров.\n"
     "3. На выставке представлено более 200 картин.", "Who opened the exhibition?", "en",
     {"quote": "открыл министр культуры Аскар Омаров", "answer": "Culture Minister Askar Omarov"}),
    ("1. The bridge was built by the city council.\n2. It is 300 metres long.",
     "Көпірдің ұзындығы қанша?", "kk", {"quote": "300 metres long", "answer": "300 метр"}),
    ("1. Фестиваль өткен жылы Шымкентте өтті.\n2. Оған 5 мыңнан астам адам қатысты.",
     "Кто выиграл главный приз фестиваля?", "ru", {"quote": "", "answer": ""}),
]  # fmt: skip
_OBJECT = re.compile(r"\{.*?\}", re.S)
_DIGITS = re.compile(r"\d+")
LANGUAGE_CODES = tuple(LANGUAGE_NAMES)
# In the sentence's own language the model should copy the answer: most of its stems must
# be there («20-21 жолы» for «20-21 желтоқсанда» has 2 of 3 and is not shown).
SAME_LANGUAGE_SUPPORT = 0.75


@dataclass(frozen=True)
class ModelChoice:
    """The model's choice (a different thing from the span reader's `records.Reading`):
    the sentence holding its quote, None when it found none that answers, and its short answer."""

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


def parse_reading(reply: str, sources: Sequence[Hit], picks: Sequence[Pick]) -> ModelChoice:
    """The model's JSON reply as a ModelChoice: the candidate sentence holding its quote
    (verbatim, else by most shared word stems); GeneratorError when the reply is not a
    reading or its quote is in none of the sentences."""
    match = _OBJECT.search(reply)
    try:
        data = json.loads(match.group(0)) if match else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("quote"), str):
        raise GeneratorError(f"the model's reply is not a reading: {reply[:120]!r}")
    quote, answer = _one_line(data["quote"]), _one_line(str(data.get("answer") or ""))
    if not quote:
        return NO_CHOICE
    sentences = [_one_line(quote_of(sources, p)) for p in picks]
    held = [i for i, s in enumerate(sentences) if quote.lower() in s.lower()]
    if not held:
        support = [lexical_support(quote, s, LANGUAGE_CODES) for s in sentences]
        held = [max(range(len(sentences)), key=support.__getitem__)] if max(support, default=0) >= LEXICAL_SUPPORT else []
    if not held:
        raise GeneratorError(f"the model's quote is in none of the sentences: {quote[:80]!r}")
    return ModelChoice(picks[held[0]], answer)


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
    when the sentence is in another language) or in the question's language and grounded;
    else that verbatim phrase."""
    verbatim = verbatim_short(question, lang, sentence, sentence_lang, read)
    if verbatim and sentence_lang != lang:
        return verbatim
    answer = answer.rstrip(".")
    if not answer or not word_heads(answer) - word_heads(question):
        return verbatim
    if copied(answer, sentence):
        return verbatim_phrase(answer, sentence_lang, lang)
    if speaks(answer, lang) and grounded(answer, sentence, lang, sentence_lang):
        return answer
    return verbatim


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
