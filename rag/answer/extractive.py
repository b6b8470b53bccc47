"""The offline default answerer: quote the source sentences that answer the question.

No language model: sentences of the retrieved chunks are scored by embedding similarity
to the question (vectors computed at index time) plus lexical overlap of word stems, and
the best one or two are quoted verbatim with their citation. Below a calibrated score it
refuses. It never writes words of its own into a source's mouth: the only text it adds
is a lead-in in the asker's language saying where the quote comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.cite import lexical_support
from rag.errors import ConfigError
from rag.i18n.answers import ALSO, LEAD, lang_note, lang_or_en, refusal_text
from rag.records import Hit, Retrieval
from rag.text.lang import FOLLOWUP_WORDS
from rag.text.words import entity_words


@dataclass(frozen=True)
class ExtractiveSettings:
    """Scoring weights and the refusal threshold (calibrated in eval/calibrate_refusal.py)."""

    lexical_weight: float = 0.05
    refuse_below: float = 0.845
    # Cross-lingual similarities run ~0.1 lower (dev medians: en->en .90, en->ru .80), so
    # a quote in another language than the question's is held to a lower bar.
    cross_lingual_margin: float = 0.07
    number_slack: float = 0.01
    second_within: float = 0.01
    max_sentences: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.lexical_weight <= 1:
            raise ConfigError(f"lexical_weight must be in 0..1, got {self.lexical_weight}")
        if self.max_sentences < 1:
            raise ConfigError(f"max_sentences must be >= 1, got {self.max_sentences}")


# Questions that ask for a number or a date: a quote without one can't answer them.
_ASKS_NUMBER = re.compile(
    r"\b(how many|how much|how long|what year|when|сколько|когда|в каком году|какого числа|"
    r"қанша|неше|қашан|қай жылы|нешінші)\b",
    re.IGNORECASE,
)
_HAS_NUMBER = re.compile(
    r"\d|\b(один|одна|два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|бір|екі|үш|төрт|"
    r"бес|алты|жеті|сегіз|тоғыз|он|жүз|мың|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"hundred|thousand)\b",
    re.IGNORECASE,
)


_WORDS = re.compile(r"\w+")
_NUMBERS = re.compile(r"\d{2,}")
MIN_WORDS = 3


@dataclass(frozen=True)
class Pick:
    """A candidate answer sentence: which source (1-based), its span, its score."""

    n: int
    span: tuple[int, int]
    score: float
    semantic: float


def quote_of(sources: Sequence[Hit], pick: Pick) -> str:
    return sources[pick.n - 1].doc.text[pick.span[0] : pick.span[1]]


def score_sentences(
    question: str,
    question_vec: np.ndarray | None,
    question_lang: str,
    sources: Sequence[Hit],
    settings: ExtractiveSettings,
) -> list[Pick]:
    """All sentences of the sources, best first (no embedding in BM25-only mode: words only)."""
    picks = []
    for n, hit in enumerate(sources, 1):
        langs = sorted({question_lang, hit.doc.lang})
        for sentence in hit.sentences:
            text = hit.sentence_text(sentence)
            if len(_WORDS.findall(text)) < MIN_WORDS:
                continue  # captions and page residue ("68") don't answer questions
            sem = float(sentence.vector @ question_vec) if question_vec is not None else 0.0
            lex = lexical_support(question, text, langs)
            picks.append(Pick(n, sentence.span, sem + settings.lexical_weight * lex, sem))
    picks.sort(key=lambda p: -p.score)
    return picks


def compose(
    question: str,
    question_lang: str,
    sources: Sequence[Hit],
    picks: Sequence[Pick],
    settings: ExtractiveSettings,
) -> tuple[str, bool]:
    """The answer text with [n] markers (numbered as `sources`), and whether it refuses."""
    lang = lang_or_en(question_lang)
    asked = set(_NUMBERS.findall(question))
    if asked and not any(asked & set(_NUMBERS.findall(h.chunk.text)) for h in sources):
        picks = []  # the question names a number or year no retrieved passage mentions
    if _ASKS_NUMBER.search(question) and picks:
        # Only quotes with a number or date can answer, and only if they are nearly as
        # close to the question as the best sentence overall.
        best = picks[0].score
        picks = [
            p for p in picks
            if _HAS_NUMBER.search(quote_of(sources, p)) and p.score >= best - settings.number_slack
        ]
    if not picks:
        return refusal_text(lang), True
    top_lang = sources[picks[0].n - 1].doc.lang
    bar = settings.refuse_below - (settings.cross_lingual_margin if top_lang != lang else 0.0)
    if picks[0].score < bar:
        return refusal_text(lang), True
    chosen = [picks[0]]
    for p in picks[1:]:
        if len(chosen) >= settings.max_sentences or p.score < picks[0].score - settings.second_within:
            break
        if all(p.span != c.span for c in chosen):
            chosen.append(p)
    parts = []
    for i, pick in enumerate(chosen):
        doc = sources[pick.n - 1].doc
        meta = ", ".join(x for x in (doc.date, lang_note(lang, doc.lang)) if x)
        quote = doc.text[pick.span[0] : pick.span[1]].replace("\n", " ")
        if i == 0 or sources[chosen[i - 1].n - 1].doc.doc_id != doc.doc_id:
            lead = LEAD[lang].format(title=doc.title, meta=f" ({meta})" if meta else "")
            if i:
                lead = f"{ALSO[lang]} {lead}"
            parts.append(f"{lead} «{quote}» [{pick.n}]")
        else:
            parts.append(f"«{quote}» [{pick.n}]")
    return "\n".join(parts), False


def carry_entities(question: str, history: Sequence[tuple[str, str]], lang: str) -> str:
    """A follow-up that leans on the previous turn ("and who organised it?") gets the
    previous question's names, numbers and long words appended, so retrieval finds the topic."""
    if not history:
        return question
    words = re.findall(r"\w+", question.lower())
    pronouns = FOLLOWUP_WORDS.get(lang, frozenset())
    if len(words) > 3 and not any(w in pronouns for w in words):
        return question
    prev_q = history[-1][0]
    content = [t for t in re.findall(r"\w[\w\-.]*", prev_q) if len(t) > 4 and t.lower() not in pronouns]
    extra = " ".join(dict.fromkeys(entity_words(prev_q) + content))
    return f"{question} ({extra})" if extra else question


class ExtractiveGenerator:
    """The offline answerer as a Generator: quotes, never paraphrases; refuses below the bar."""

    name = "extractive"

    def __init__(self, settings: ExtractiveSettings | None = None) -> None:
        self.settings = settings or ExtractiveSettings()

    def standalone(self, question: str, history: Sequence[tuple[str, str]], lang: str) -> str:
        return carry_entities(question, history, lang)

    def answer(self, retrieval: Retrieval) -> str:
        """The whole answer text with [n] markers, or the refusal text."""
        picks = score_sentences(
            retrieval.question, retrieval.query_vector, retrieval.lang, retrieval.hits, self.settings
        )
        text, _ = compose(retrieval.question, retrieval.lang, retrieval.hits, picks, self.settings)
        return text

    def stream(self, retrieval: Retrieval, history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        yield self.answer(retrieval)
