"""Features of candidate answer sentences for the learned extractive scorer.

Pure functions of the question, its embedding and the retrieved hits (sentence vectors come
with the hits), so the training script (eval/answer_scorer/) and the answerer compute the
same numbers. One row per candidate sentence; `FEATURES` names the columns in order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.records import Hit, Sentence
from rag.text.words import tokenize

# Question words by expected answer type, kk/ru/en (lower-case, matched as whole words).
_ASKS = {
    "who": r"who|whom|whose|кто|кого|кому|кем|чей|чья|чьи|кім|кімнің|кімге|кімді|кіммен|кімдер",
    "when": r"when|what year|which year|what date|когда|в каком году|какого числа|в каком веке|"
    r"в какие годы|қашан|қай жылы|қай жылдары|нешінші жылы|қай күні|қай айда",
    "number": r"how many|how much|how long|how old|what percentage|сколько|скольких|скольким|"
    r"қанша|неше|нешінші",
    "where": r"where|где|куда|откуда|в каком городе|в какой стране|қайда|қай жерде|"
    r"қай қалада|қайдан|қай елде",
}
_ASKS_RE = {k: re.compile(rf"(?<!\w)(?:{v})(?!\w)", re.IGNORECASE) for k, v in _ASKS.items()}

YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"январ\w*|феврал\w*|март\w*|апрел\w*|ма[йяе]|июн\w*|июл\w*|август\w*|сентябр\w*|"
    r"октябр\w*|ноябр\w*|декабр\w*|қаңтар\w*|ақпан\w*|наурыз\w*|сәуір\w*|мамыр\w*|"
    r"маусым\w*|шілде\w*|тамыз\w*|қыркүйек\w*|қазан\w*|қараша\w*|желтоқсан\w*"
)
DATE = re.compile(
    rf"(?<!\w)(?:\d{{1,2}}[-–]?\d{{0,2}}\s+(?:{_MONTHS})|(?:{_MONTHS})\s+\d{{1,2}}|"
    r"\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{2,4})(?!\w)",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
# Number words per sentence language. «он» is Kazakh "ten" but Russian "he", and English
# "one" is mostly a pronoun ("one of the"), so neither counts outside its own language.
_NUMBER_WORDS = {
    "en": r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen",
    "ru": r"один|одна|одно|два|две|три|четыре|пять|шесть|семь|восемь|девять|десять|"
    r"\w+надцать|двадцать|тридцать|сорок|пятьдесят|сто|тысяч\w*|миллион\w*|миллиард\w*",
    "kk": r"бір|екі|үш|төрт|бес|алты|жеті|сегіз|тоғыз|он|жиырма|отыз|қырық|елу|жүз|мың|"
    r"миллион|миллиард",
}
_NUMBER_WORDS_RE = {
    k: re.compile(rf"(?<!\w)(?:{v})(?!\w)", re.IGNORECASE) for k, v in _NUMBER_WORDS.items()
}
# A photo or source credit: «Фото: Kazinform/ А.Павский», "Source: Reuters". The label needs
# its colon or slash: «Автор осыны әшкерелейді» ("the author exposes this") is a statement
# (3 such KazQAD dev sentences matched the label alone).
_CREDIT = r"^\s*(фото|photo|сурет|источник|source|дереккөз|автор|author)\s*[:/]"
# ...or an agency tag at the end: the `is_byline` feature. A news lead ends with one too
# («В Алматы состоялся второй медиафорум, ..., сообщает Kazinform»), so only credits are
# never quoted.
_BYLINE = re.compile(
    rf"{_CREDIT}|сообщает\s+\w+\s*$|(?<!\w)(kazinform|tass|тасс|reuters)\s*$", re.IGNORECASE
)
_CREDIT_RE = re.compile(_CREDIT, re.IGNORECASE)
_WORD = re.compile(r"\w+")
_Q_NUMBERS = re.compile(r"\d{2,}")
CAPITAL = re.compile(r"(?<![\w.])[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w-]+")

FEATURES = (
    "bias", "cos", "cos_margin", "cos_rank_inv", "overlap", "new_share", "log_words",
    "same_lang", "hit_rank_inv", "hit_score", "hit_dense", "position", "first_in_doc",
    "is_title", "is_dateline", "is_byline", "short_no_end", "has_number", "has_date",
    "has_new_name", "who_match", "when_match", "number_match", "where_match",
    "typed_mismatch", "q_numbers_in_sentence", "q_numbers_nowhere", "cos_x_overlap",
    "overlap_sub", "has_full_name", "who_full_name", "overlap_idf", "rare_match",
    "reader", "reader_gap", "reader_read",
)
READER_FEATURES = ("reader", "reader_gap", "reader_read")
# The span reader's columns (rag.answer.span_reader) for a sentence it did not read.
READER_UNREAD = -30.0


def asked_type(question: str) -> str | None:
    """The answer type the question asks for: who, when, number, where, or None."""
    found = [(m.start(), k) for k, rx in _ASKS_RE.items() if (m := rx.search(question))]
    return min(found)[1] if found else None


def has_number(text: str, lang: str) -> bool:
    """A digit, or a number word of the sentence's own language ("Он отметил" has none)."""
    if _DIGIT.search(text):
        return True
    rx = _NUMBER_WORDS_RE.get(lang)
    return bool(rx and rx.search(text))


def has_date(text: str) -> bool:
    return bool(YEAR.search(text) or DATE.search(text))


def word_heads(text: str) -> set[str]:
    """The first 5 letters of each word, lower-cased: how names and numbers are compared
    with the question across inflections («Алматы» / «Алматыдағы»)."""
    return {w.lower()[:5] for w in _WORD.findall(text)}


def new_names(text: str, question: str) -> list[str]:
    """Capitalised words of `text` (not sentence-initial) whose first 5 letters the question
    lacks: the names a who/where question wants."""
    q = word_heads(question)
    out = []
    for m in CAPITAL.finditer(text):
        if m.start() == 0 or text[: m.start()].strip() == "" or text[m.start() - 2 : m.start()] == ". ":
            continue
        if m.group().lower()[:5] not in q:
            out.append(m.group())
    return out


def has_full_name(text: str, question: str) -> bool:
    """Two capitalised words in a row, not opening the sentence, one of them new to the
    question: "Ерлан Карин", "Dmitry Peskov" (a person or an organisation's name)."""
    names = set(new_names(text, question))
    caps = [m for m in CAPITAL.finditer(text) if m.start() > 0]
    for a, b in zip(caps, caps[1:], strict=False):
        gap = text[a.end() : b.start()]
        if gap.strip() == "" and "\n" not in gap and (a.group() in names or b.group() in names):
            return True
    return False


def subword_overlap(question: str, text: str) -> float:
    """Share of the question's longer words that meet the sentence below the word level:
    their first 5 letters occur in it, or one of its words (5+ letters) occurs inside them
    («медиафорум» / «форум»). Language-agnostic; catches compounds and inflections."""
    q = [w for w in _WORD.findall(question.lower()) if len(w) >= 4 and not w.isdigit()]
    if not q:
        return 0.0
    low = text.lower()
    words = {w for w in _WORD.findall(low) if len(w) >= 5}
    return sum(w[:5] in low or any(x in w for x in words) for w in q) / len(q)


def is_dateline(text: str) -> bool:
    """«2022 жылғы 20 желтоқсан Астана қаласы», "date 2025-09-29": a date with few other words
    and no sentence ending."""
    words = _WORD.findall(text)
    return has_date(text) and len(words) <= 8 and not text.rstrip().endswith((".", "!", "?"))


def is_credit(text: str) -> bool:
    """A photo or source credit line: never an answer."""
    return bool(_CREDIT_RE.search(text))


def numbers_nowhere(question: str, sentences: Sequence[str]) -> bool:
    """The question names a number or year (2+ digits) that no sentence has outside a
    dateline: «Кто победил на выборах 2022 года?» over a text whose only 2022 is its dateline."""
    asked = set(_Q_NUMBERS.findall(question))
    if not asked:
        return False
    found = {n for s in sentences if not is_dateline(s) for n in _Q_NUMBERS.findall(s)}
    return not asked & found


def _stems(text: str, langs: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for lang in langs:
        out.update(t for t in tokenize(text, lang) if len(t) > 1 or t.isdigit())
    return out


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


@dataclass(frozen=True)
class Candidate:
    """One candidate sentence: which hit (0-based), the sentence, and its text."""

    hit: int
    sentence: Sentence
    text: str


def candidates(hits: Sequence[Hit]) -> list[Candidate]:
    """Every sentence of every hit, in hit order (duplicate spans of one document kept once)."""
    seen: set[tuple[str, int, int]] = set()
    out = []
    for i, hit in enumerate(hits):
        for s in hit.sentences:
            key = (hit.doc.doc_id, s.start, s.end)
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(i, s, hit.sentence_text(s)))
    return out


def _idf_overlap(q: set[str], s: set[str], df: dict[str, int], n: int) -> dict[str, float]:
    """Question stems in the sentence weighted by how rare they are among the candidates:
    the topic words every retrieved sentence shares («медиафорум») count little, the word
    that singles out the answer («открыли») much. `rare_match`: some question stem occurs
    here and in at most two candidates."""
    weight = {t: math.log((n + 1) / (df.get(t, 0) + 0.5)) for t in q}
    total = sum(weight.values())
    hit = [t for t in q if t in s]
    return {
        "overlap_idf": sum(weight[t] for t in hit) / total if total > 0 else 0.0,
        "rare_match": float(any(df.get(t, 0) <= 2 for t in hit)),
    }


def _type_matches(atype: str | None, text: str, lang: str, names: list[str]) -> dict[str, float]:
    match = {
        "who": bool(names),
        "when": has_date(text),
        "number": has_number(text, lang),
        "where": bool(names),
    }
    out = {f"{k}_match": float(atype == k and v) for k, v in match.items()}
    out["typed_mismatch"] = float(atype is not None and not match[atype])
    return out


def feature_matrix(
    question: str,
    question_vec: np.ndarray | None,
    question_lang: str,
    hits: Sequence[Hit],
    cands: Sequence[Candidate],
    reader: np.ndarray | None = None,
) -> np.ndarray:
    """One row per candidate, columns as in `FEATURES`. `reader`: the span reader's margin
    (best span score minus no-answer score) per candidate, NaN where it did not read."""
    if not cands:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    if question_vec is not None:
        cos = np.array([float(c.sentence.vector @ question_vec) for c in cands], dtype=np.float32)
    else:
        cos = np.zeros(len(cands), dtype=np.float32)
    order = np.argsort(-cos, kind="stable")
    rank = np.empty(len(cands), dtype=np.float32)
    rank[order] = np.arange(len(cands))
    atype = asked_type(question)
    q_numbers = set(_Q_NUMBERS.findall(question))
    datelines = [is_dateline(c.text) for c in cands]
    q_nowhere = float(numbers_nowhere(question, [c.text for c in cands]))
    stems = [_stems(c.text, sorted({question_lang, hits[c.hit].doc.lang})) for c in cands]
    df: dict[str, int] = {}
    for st in stems:
        for t in st:
            df[t] = df.get(t, 0) + 1
    rows = []
    for i, c in enumerate(cands):
        hit = hits[c.hit]
        langs = sorted({question_lang, hit.doc.lang})
        q_stems, s_stems = _stems(question, langs), stems[i]
        overlap = len(q_stems & s_stems) / len(q_stems) if q_stems else 0.0
        new_share = len(s_stems - q_stems) / len(s_stems) if s_stems else 0.0
        words = _WORD.findall(c.text)
        names = new_names(c.text, question)
        full = bool(names) and has_full_name(c.text, question)
        norm, title = _norm(c.text), _norm(hit.doc.title)
        f = {
            "bias": 1.0,
            "cos": float(cos[i]),
            "cos_margin": float(cos[i] - cos[order[0]]),
            "cos_rank_inv": 1.0 / (1.0 + rank[i]),
            "overlap": overlap,
            "new_share": new_share,
            "log_words": math.log1p(len(words)),
            "same_lang": float(hit.doc.lang == question_lang),
            "hit_rank_inv": 1.0 / (1 + c.hit),
            "hit_score": float(hit.score),
            "hit_dense": float(hit.dense or 0.0),
            "position": c.sentence.start / max(len(hit.doc.text), 1),
            "first_in_doc": float(not hit.doc.text[: c.sentence.start].strip()),
            "is_title": float(bool(norm) and bool(title) and (norm == title or norm in title)),
            "is_dateline": float(datelines[i]),
            "is_byline": float(bool(_BYLINE.search(c.text))),
            "short_no_end": float(len(words) <= 6 and not c.text.rstrip().endswith((".", "!", "?"))),
            "has_number": float(has_number(c.text, hit.doc.lang)),
            "has_date": float(has_date(c.text)),
            "has_new_name": float(bool(names)),
            **_type_matches(atype, c.text, hit.doc.lang, names),
            "q_numbers_in_sentence": (
                len(q_numbers & set(_Q_NUMBERS.findall(c.text))) / len(q_numbers) if q_numbers else 0.0
            ),
            "q_numbers_nowhere": q_nowhere,
            "cos_x_overlap": float(cos[i]) * overlap,
            "overlap_sub": subword_overlap(question, c.text),
            "has_full_name": float(full),
            "who_full_name": float(full and atype == "who"),
            **_idf_overlap(q_stems, s_stems, df, len(cands)),
            **dict.fromkeys(READER_FEATURES, 0.0),
        }
        rows.append([f[name] for name in FEATURES])
    return with_reader(np.asarray(rows, dtype=np.float32), reader)


def with_reader(x: np.ndarray, margins: np.ndarray | None) -> np.ndarray:
    """`x` with the span reader's columns filled from its margins (NaN = not read)."""
    m = np.full(len(x), np.nan) if margins is None else np.asarray(margins, dtype=np.float64)
    read = ~np.isnan(m)
    best = float(m[read].max()) if read.any() else 0.0
    out = x.copy()
    out[:, FEATURES.index("reader")] = np.where(read, m, READER_UNREAD)
    out[:, FEATURES.index("reader_gap")] = np.where(read, m - best, READER_UNREAD)
    out[:, FEATURES.index("reader_read")] = read
    return out
