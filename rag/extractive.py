"""The offline default answerer: quote the source sentences that answer the question.

No language model: sentences of the retrieved chunks are scored by embedding similarity
to the question (vectors computed at index time) plus lexical overlap of word stems, and
the best one or two are quoted verbatim with their citation. Below a calibrated score it
refuses. It never writes words of its own into a source's mouth: the only text it adds
is a lead-in in the asker's language saying where the quote comes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.cite import SentenceLookup, lexical_support
from rag.errors import ConfigError
from rag.types import Hit

LANG_NAMES = {
    "en": {"en": "English", "ru": "Russian", "kk": "Kazakh"},
    "ru": {"en": "на английском", "ru": "на русском", "kk": "на казахском"},
    "kk": {"en": "ағылшын тілінде", "ru": "орыс тілінде", "kk": "қазақ тілінде"},
}
LEAD = {
    "en": "According to “{title}”{meta}:",
    "ru": "Согласно документу «{title}»{meta}:",
    "kk": "«{title}» құжатына сәйкес{meta}:",
}
ALSO = {"en": "Also:", "ru": "Также:", "kk": "Сондай-ақ:"}
REFUSAL = {
    "en": "The documents don't say.",
    "ru": "В документах об этом не сказано.",
    "kk": "Құжаттарда бұл туралы айтылмаған.",
}
CLOSEST = {
    "en": "The closest passages are listed below.",
    "ru": "Ниже — наиболее близкие фрагменты.",
    "kk": "Төменде ең жақын үзінділер берілген.",
}


@dataclass(frozen=True)
class ExtractiveSettings:
    """Scoring weights and the refusal threshold (calibrated in eval/calibrate_refusal.py)."""

    lexical_weight: float = 0.05
    refuse_below: float = 0.83
    second_within: float = 0.01
    max_sentences: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.lexical_weight <= 1:
            raise ConfigError(f"lexical_weight must be in 0..1, got {self.lexical_weight}")
        if self.max_sentences < 1:
            raise ConfigError(f"max_sentences must be >= 1, got {self.max_sentences}")


@dataclass(frozen=True)
class Pick:
    """A candidate answer sentence: which source (1-based), its span, its score."""

    n: int
    span: tuple[int, int]
    score: float
    semantic: float


def lang_note(question_lang: str, doc_lang: str) -> str:
    if question_lang == doc_lang:
        return ""
    name = LANG_NAMES.get(question_lang, LANG_NAMES["en"]).get(doc_lang, doc_lang)
    return f"in {name}" if question_lang == "en" else name


def score_sentences(
    question: str,
    question_vec: np.ndarray,
    question_lang: str,
    sources: Sequence[Hit],
    sentences: SentenceLookup,
    settings: ExtractiveSettings,
) -> list[Pick]:
    """All sentences of the sources, best first."""
    picks = []
    for n, hit in enumerate(sources, 1):
        langs = sorted({question_lang, hit.doc.lang})
        for span, vec in sentences(hit):
            sem = float(vec @ question_vec)
            lex = lexical_support(question, hit.doc.text[span[0] : span[1]], langs)
            picks.append(Pick(n, span, sem + settings.lexical_weight * lex, sem))
    picks.sort(key=lambda p: -p.score)
    return picks


def compose(
    question_lang: str, sources: Sequence[Hit], picks: Sequence[Pick], settings: ExtractiveSettings
) -> tuple[str, bool]:
    """The answer text with [n] markers (numbered as `sources`), and whether it refuses."""
    lang = question_lang if question_lang in LEAD else "en"
    if not picks or picks[0].score < settings.refuse_below:
        return f"{REFUSAL[lang]} {CLOSEST[lang]}", True
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
