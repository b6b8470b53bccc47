"""Evaluation metrics as pure functions over ids and strings."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from rag.text.lang import detect
from rag.text.markers import MARKER, strip_markers
from rag.text.words import tokenize


def hit_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """1.0 if any relevant id is among the first k."""
    return float(any(r in relevant for r in ranked[:k]))


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """Reciprocal rank of the first relevant id within k, else 0."""
    for i, r in enumerate(ranked[:k], 1):
        if r in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k."""
    dcg = sum(1.0 / math.log2(i + 1) for i, r in enumerate(ranked[:k], 1) if r in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def dedupe(ids: Sequence[str]) -> list[str]:
    """Keep the first occurrence of each id (chunks → documents)."""
    return list(dict.fromkeys(ids))


def normalise(text: str) -> str:
    """Lowercase, NFC, punctuation to spaces, dashes unified."""
    text = unicodedata.normalize("NFC", text).lower().replace("ё", "е")
    text = re.sub(r"[‐-―−]", "-", text)
    return " ".join(re.sub(r"[^\w\s-]", " ", text).split())


def stems(text: str, lang: str) -> list[str]:
    """Word stems (Snowball for ru/en, suffix stripping for kk), stopwords kept."""
    return tokenize(text, lang, stemmer="suffix" if lang == "kk" else None, stopwords=False)


def contains_answer(answer: str, golds: Sequence[str], langs: Sequence[str]) -> float:
    """1.0 if some gold answer occurs in `answer`, comparing normalised text and, so that
    Kazakh and Russian word endings don't matter, stem sequences in each language."""
    norm = normalise(answer)
    for gold in golds:
        g = normalise(gold)
        if g and g in norm:
            return 1.0
        for lang in langs:
            gs, ans = stems(gold, lang), stems(answer, lang)
            if gs and _contains_seq(ans, gs):
                return 1.0
    return 0.0


# How a quote opens in an answer: a lead-in naming the document, then the quote
# (rag.answer.extractive.quote_lines: "According to “T” (date): «…» [1]").
QUOTE_OPENING = ": «"


def lead_answer(text: str) -> str | None:
    """The short answer an answer opens with (a name, date or phrase over its quotes): the
    text before its first citation marker, unless that is a quote under its lead-in; None
    when the answer opens with a quote or cites nothing."""
    marker = MARKER.search(text)
    head = text[: marker.start()].strip() if marker else ""
    return head if head and QUOTE_OPENING not in head else None


def _contains_seq(hay: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(hay[i : i + n] == needle for i in range(len(hay) - n + 1))


def token_f1(answer: str, gold: str, lang: str) -> float:
    """SQuAD-style token F1 over stems."""
    a, g = Counter(stems(answer, lang)), Counter(stems(gold, lang))
    common = sum((a & g).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def precision_recall(
    predicted: Sequence[str], relevant: set[str]
) -> tuple[float | None, float | None]:
    """Set precision and recall of predicted ids (None when undefined)."""
    pred = set(predicted)
    precision = len(pred & relevant) / len(pred) if pred else None
    recall = len(pred & relevant) / len(relevant) if relevant else None
    return precision, recall


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[idx]


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the defined values, None if there are none."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")


def without_guillemet_quotes(text: str) -> str:
    """`text` with every «…» quote left out, nested ones included: a quoted sentence often
    quotes a title itself («… «Peace one day» жобасы …»), which a «[^»]*» pattern cut at
    the inner » and left the rest of the quote in."""
    out, depth = [], 0
    for ch in text:
        if ch == "«":
            depth += 1
        elif ch == "»" and depth:
            depth -= 1
            if not depth:
                out.append(" ")
        elif not depth:
            out.append(ch)
    return "".join(out)


def answer_language(text: str) -> str:
    """The language an answer is written in, judged on its own words: verbatim quotes
    («…», “…”) and [n] markers are left out, since a quote keeps its source's language."""
    return detect(strip_markers(_QUOTED.sub(" ", without_guillemet_quotes(text))))
