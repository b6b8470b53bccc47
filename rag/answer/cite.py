"""Citations are checked, not trusted.

From whatever a generator wrote: parse the [n] markers, drop those that point to no
source, find for every cited sentence the span of the cited chunk that supports it
(lexical overlap of word stems, and embedding similarity), renumber the surviving
citations 1..m in order of first use, and flag sentences that cite nothing or whose
citation doesn't support them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from rag.protocols import Embedder
from rag.records import Hit
from rag.text.markers import MARKER, marker_numbers, parse_markers
from rag.text.sentences import split_spans
from rag.text.translit import CYRILLIC_WORD, latin_to_cyrillic_variants
from rag.text.words import tokenize

# Cosine (multilingual-e5-small) above which a sentence counts as saying the same thing;
# lexical overlap of content stems above LEXICAL_SUPPORT counts on its own.
SEMANTIC_SUPPORT = 0.84
LEXICAL_SUPPORT = 0.5
# Letters of a Latin stem's Cyrillic spelling that must begin a word of the source (names
# keep their first four letters across English, Russian and Kazakh: Yerlan/Ерлан aside).
_HEAD = 4
_LATIN = re.compile(rf"[a-z]{{{_HEAD},}}")



@dataclass
class Citation:
    """One numbered citation: the exact supporting quote and its offsets in the document."""

    n: int
    doc_id: str
    source: str
    title: str
    date: str | None
    lang: str
    chunk_id: str
    quote: str
    start: int
    end: int
    passage: str
    passage_start: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Claim:
    """An answer sentence with the citations it carries and whether they hold up."""

    text: str
    cites: list[int] = field(default_factory=list)
    supported: bool = False
    reason: str = ""


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation]
    claims: list[Claim]

    @property
    def supported_share(self) -> float | None:
        claims = [c for c in self.claims if c.reason != "no claim"]
        return sum(c.supported for c in claims) / len(claims) if claims else None


def _content_stems(text: str, langs: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for lang in langs:
        out.update(t for t in tokenize(text, lang) if len(t) > 1 or t.isdigit())
    return out


def lexical_support(claim: str, sentence: str, langs: Sequence[str]) -> float:
    """Share of the claim's content stems that occur in the sentence; a Latin-script stem
    also counts when one of its Cyrillic spellings begins a word of the sentence ("Karin"
    → «Карин», "forum" → «форума»), so an English answer about a Russian or Kazakh
    source can be checked word by word."""
    c = _content_stems(claim, langs)
    if not c:
        return 0.0
    held = c & _content_stems(sentence, langs)
    latin = [t for t in c - held if _LATIN.fullmatch(t)]
    if latin:
        heads = {w[:_HEAD] for w in CYRILLIC_WORD.findall(sentence.lower()) if len(w) >= _HEAD}
        held |= {t for t in latin if any(v[:_HEAD] in heads for v in latin_to_cyrillic_variants(t))}
    return len(held) / len(c)


def best_support(
    claim: str,
    claim_vec: Callable[[], np.ndarray] | None,
    hit: Hit,
    langs: Sequence[str],
) -> tuple[float, tuple[int, int]]:
    """The sentence of `hit` that best supports `claim`, with a support score in 0..1.

    Word overlap is tried first; the claim is embedded (`claim_vec`, called at most once)
    only when no sentence shares enough words with it, e.g. across languages."""
    candidates = [(s.span, s.vector) for s in hit.sentences]
    text = hit.doc.text
    # A sentence quoted verbatim supports the claim exactly; «quoted» beats merely
    # contained (a lead-in may repeat the title), and longer beats shorter.
    verbatim = []
    for (s, e), _ in candidates:
        sentence = text[s:e].replace("\n", " ")
        if f"«{sentence}»" in claim or (len(sentence) >= 15 and sentence in claim):
            verbatim.append((f"«{sentence}»" in claim, e - s, (s, e)))
    if verbatim:
        return 1.0, max(verbatim)[2]
    lexical = [lexical_support(claim, text[s:e], langs) for (s, e), _ in candidates]
    best, best_span = -1.0, (hit.chunk.start, hit.chunk.end)
    for (span, _), lex in zip(candidates, lexical, strict=True):
        if lex / LEXICAL_SUPPORT * 0.5 > best:
            best, best_span = lex / LEXICAL_SUPPORT * 0.5, span
    if best < 0.5 and claim_vec is not None and candidates:
        vec = claim_vec()
        for (span, svec), lex in zip(candidates, lexical, strict=True):
            # a semantic match at its threshold and a lexical match at its threshold score alike
            score = max(lex / LEXICAL_SUPPORT * 0.5, float(svec @ vec) / SEMANTIC_SUPPORT * 0.5)
            if score > best:
                best, best_span = score, span
    # Below a verbatim quote's 1.0: the citation card shows the quoted sentence, not one a
    # short answer line merely shares words with («желтоқсан» also stands in the dateline).
    return min(best, 0.99), best_span


def make_citation(n: int, hit: Hit, span: tuple[int, int]) -> Citation:
    doc = hit.doc
    return Citation(
        n=n,
        doc_id=doc.doc_id,
        source=doc.source,
        title=doc.title,
        date=doc.date,
        lang=doc.lang,
        chunk_id=hit.chunk.chunk_id,
        quote=doc.text[span[0] : span[1]],
        start=span[0],
        end=span[1],
        passage=hit.chunk.text,
        passage_start=hit.chunk.start,
    )


def answer_sentences(text: str) -> list[str]:
    """Sentences of an answer; a run of markers after the full stop stays with its sentence."""
    out: list[str] = []
    for s, e in split_spans(text):
        piece = text[s:e]
        if out and not re.sub(r"[\s.,;:!?]", "", MARKER.sub("", piece)):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _better_source(
    claim: str,
    claim_vec: Callable[[], np.ndarray] | None,
    sources: Sequence[Hit],
    cited: Sequence[int],
    question_lang: str,
) -> tuple[int, float, tuple[int, int]] | None:
    """Another source that supports `claim` when the cited ones don't (small models often
    write [1] for what source [2] says): its number, support and span, or None."""
    best: tuple[int, float, tuple[int, int]] | None = None
    for n, hit in enumerate(sources, 1):
        if n in cited:
            continue
        score, span = best_support(claim, claim_vec, hit, sorted({question_lang, hit.doc.lang}))
        if score >= 0.5 and (best is None or score > best[1]):
            best = (n, score, span)
    return best


def _point_markers_at(sentence: str, n: int) -> str:
    """`sentence` with its first marker made [n] and any others removed."""
    first = MARKER.search(sentence)
    if first is None:
        return sentence
    rest = MARKER.sub("", sentence[first.end() :])
    return f"{sentence[: first.start()]}[{n}]{rest}"


def check(
    text: str,
    sources: Sequence[Hit],
    question_lang: str,
    embedder: Embedder | None = None,
    no_claim: Sequence[str] = (),
) -> CheckedAnswer:
    """Verify the [n] markers of `text` against `sources` (numbered from 1). `embedder`
    embeds claims that share too few words with any sentence (e.g. across languages);
    without it only word overlap counts. Sentences equal to one of `no_claim` (the
    answerer's own framing) need no citation."""
    renumber: dict[int, int] = {}
    spans_for: dict[int, tuple[float, tuple[int, int]]] = {}
    claims: list[Claim] = []
    pieces: list[str] = []
    for sentence in answer_sentences(text):
        bare = MARKER.sub("", sentence).strip()
        cited = [n for n in parse_markers(sentence) if 1 <= n <= len(sources)]
        claim = Claim(text=bare)
        if bare.strip(" .") in {x.strip(" .") for x in no_claim} or not re.search(r"\w{2}", bare):
            claim.reason, claim.supported = "no claim", True
        elif not cited:
            claim.reason = "cites nothing"
        else:
            memo: list[np.ndarray] = []

            def vec(claim: str = bare, memo: list[np.ndarray] = memo) -> np.ndarray:
                if not memo and embedder is not None:
                    memo.append(embedder.embed_queries([claim])[0])
                return memo[0]

            supported_any = False
            for n in dict.fromkeys(cited):
                hit = sources[n - 1]
                langs = sorted({question_lang, hit.doc.lang})
                score, span = best_support(bare, vec if embedder else None, hit, langs)
                if score >= 0.5:
                    supported_any = True
                    if score > spans_for.get(n, (-1.0, span))[0]:
                        spans_for[n] = (score, span)
                elif n not in spans_for:
                    spans_for[n] = (-1.0, span)
            if not supported_any:
                fix = _better_source(bare, vec if embedder else None, sources, cited, question_lang)
                if fix is not None:
                    n, score, span = fix
                    supported_any = True
                    claim.reason = f"citation moved to the source that supports it ({cited} -> {n})"
                    spans_for[n] = max(spans_for.get(n, (-1.0, span)), (score, span))
                    sentence, cited = _point_markers_at(sentence, n), [n]
            claim.supported = supported_any
            if not supported_any:
                claim.reason = "citation does not support it"

        def _renumber(m: re.Match[str]) -> str:
            kept = []
            for n_int in marker_numbers(m.group(1)):
                if 1 <= n_int <= len(sources):
                    renumber.setdefault(n_int, len(renumber) + 1)
                    kept.append(renumber[n_int])
            return "".join(f"[{k}]" for k in dict.fromkeys(kept))

        pieces.append(MARKER.sub(_renumber, sentence))
        claim.cites = [renumber[n] for n in dict.fromkeys(cited) if n in renumber]
        claims.append(claim)
    citations = []
    for old, new in sorted(renumber.items(), key=lambda x: x[1]):
        hit = sources[old - 1]
        span = spans_for[old][1] if old in spans_for else (hit.chunk.start, hit.chunk.end)
        citations.append(make_citation(new, hit, span))
    clean = re.sub(r"[ \t]+([.,;:!?])", r"\1", " ".join(pieces))
    return CheckedAnswer(text=clean.strip(), citations=citations, claims=claims)
