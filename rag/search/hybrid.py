"""Hybrid retrieval: dense (FAISS) + BM25, fused by language-aware weighted RRF,
then re-ranked by the best-matching sentence.

Why language-aware: plain RRF let English words and numbers in a few Russian passages
outrank the right passage for English questions over Russian text (dense hit@1 .81 →
.28 measured). BM25 therefore counts fully only for passages in the question's
language; passages in other languages get their dense rank in BM25's place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import ConfigError
from rag.index.store import IndexData
from rag.protocols import Embedder
from rag.records import Hit, Retrieval, Sentence
from rag.search.prefix import PrefixChannel
from rag.text.lang import detect
from rag.text.translit import latin_to_cyrillic
from rag.text.words import entity_words

MODES = ("hybrid", "dense", "bm25")
SAME_SCRIPT = {"kk": "ru", "ru": "kk"}


@dataclass(frozen=True)
class RetrievalSettings:
    """Fusion and re-ranking knobs; defaults tuned on the dev sets (see eval/README.md)."""

    mode: str = "hybrid"
    candidates: int = 30
    rrf_k: int = 10
    # BM25 weight for passages in the question's language, per language: BM25 beats dense
    # on Kazakh (dev hit@1 .65 vs .58) but not on Russian or English.
    bm25_weights: tuple[tuple[str, float], ...] = (("kk", 2.0), ("ru", 1.0), ("en", 1.0))
    bm25_other_lang: float = 0.05
    # Passages in other languages get their dense rank in BM25's place, at this share of
    # the question language's BM25 weight.
    substitute: float = 1.0
    # Names and numbers match across languages when the question's are also searched the
    # other language's way (Cyrillic kk <-> ru; English names transliterated).
    # 0.5 fitted slightly better with the prefix channel on the dev halves (en->ru hit@1
    # .843 -> .853) but lowers other-language hits' fused scores, which the answer
    # scorer reads (rag/answer/features.py hit_score): gold false refusals .15 -> .25.
    bm25_cross_language: float = 1.0
    # Question words matched to Kazakh passages by their beginnings (rag.search.prefix),
    # each passage's RRF term scaled by the share of question words it matched. Fitted
    # on one half of the dev questions, checked on the other (both ways; then with
    # bm25_cross_language 0.5). Held-out hit@1, halves 0 / 1: en->kk .426 -> .442 /
    # .493 -> .528, en->kk in the kk+ru+en pool .419 -> .434 / .451 -> .493; kk->kk,
    # ru->ru, en->en unchanged. 2.0 adds ~.02 more there but costs en->ru in the kk+ru
    # pool .700 -> .666 (half 0): a strong prefix match then outweighs dense and BM25
    # agreeing on the Russian passage. All dev questions, `jauap eval --no-answers`:
    # en->kk hit@1/hit@5 .462/.733 -> .491/.744, in the mixed pool .436/.689 -> .458/.700.
    bm25_prefix: float = 1.0
    # Passages matching fewer of the question's words get nothing from that channel: one
    # shared word (an English question's "forum" and a Kazakh passage's «форум») is a
    # coincidence more often than evidence. Dev, all groups: 0.2 vs 0 the same but en->kk
    # hit@1 .487 -> .495; 0.3-0.4 lose en->kk hit@5 .744 -> .736.
    prefix_min_coverage: float = 0.2
    # Question languages the prefix channel serves. Russian questions already reach
    # Kazakh passages through the shared script (bm25_cross_language), and for them the
    # channel was within noise on ru->kk (hit@1 .527 -> .538 on 273) while costing ru->ru
    # in the kk+ru pool (.908 -> .899 on 612) and, on the sample news corpus where the
    # Russian and Kazakh documents share topics and names, ru->ru on gold.
    prefix_langs: tuple[str, ...] = ("en",)
    sentence_weight: float = 0.5
    rerank: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"retrieval mode must be one of {', '.join(MODES)}, got {self.mode!r}"
            )
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")
        if min(self.bm25_cross_language, self.bm25_prefix, self.prefix_min_coverage) < 0:
            raise ConfigError("channel weights and prefix_min_coverage must be >= 0")
        if not 0.0 <= self.sentence_weight <= 1.0:
            raise ConfigError(f"sentence_weight must be in 0..1, got {self.sentence_weight}")


class HybridRetriever:
    """Searches one loaded index with one embedder (the one that built it)."""

    def __init__(
        self, data: IndexData, embedder: Embedder, settings: RetrievalSettings | None = None
    ) -> None:
        self.data = data
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()
        self._langs = np.array(data.chunk_langs)
        self._present = set(data.chunk_langs)
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the page answers several sessions at once
        self.prefix = PrefixChannel(data.bm25)

    def query_vector(self, text: str) -> np.ndarray:
        """The query embedding, remembered for a few calls (the page re-asks while streaming)."""
        with self._lock:
            vec = self._recent.get(text)
        if vec is None:
            vec = self.embedder.embed_queries([text])[0]
            with self._lock:
                self._recent[text] = vec
                while len(self._recent) > 64:
                    self._recent.popitem(last=False)
        return vec

    def _sentences(self, row: int) -> tuple[Sentence, ...]:
        spans = self.data.spans().of(row)
        vectors = self.data.sentence_vectors[spans[:, 2]]
        return tuple(
            Sentence(int(s), int(e), vec) for (s, e, _), vec in zip(spans, vectors, strict=True)
        )

    def dense(self, query_vec: np.ndarray, n: int) -> list[tuple[int, float]]:
        if not len(self.data.chunks):
            return []
        scores, rows = self.data.ann.search(query_vec[None, :], min(n, len(self.data.chunks)))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def cross_language(self, question: str, lang: str, n: int) -> list[list[tuple[int, float]]]:
        """BM25 over passages in each other language for the question's names and numbers,
        written that language's way: Kazakh and Russian share Cyrillic (Алматыдағы →
        алматы matches Russian Алматы), English names are transliterated (Almaty →
        алматы). One ranked list per language. Measured on the KazQAD dev pool with the
        273 questions rendered in English (eval/devsets): chunk-level hit@5 .681 → .718,
        hit@1 unchanged; kk→kk and ru→kk unchanged."""
        names = entity_words(question)
        if not names:
            return []
        lists = []
        for other in sorted(self._present - {lang}):
            if SAME_SCRIPT.get(lang) == other:
                terms = names
            elif lang == "en" and other in SAME_SCRIPT:
                terms = [w if w[0].isdigit() else latin_to_cyrillic(w) for w in names]
            else:
                continue
            hits = self.data.bm25.search(" ".join(terms), other, n * 3)
            lists.append([(row, sc) for row, sc in hits if self._langs[row] == other][:n])
        return lists

    def fuse(
        self,
        dense: list[tuple[int, float]],
        bm25: list[tuple[int, float]],
        lang: str,
        cross: Sequence[Sequence[tuple[int, float]]] = (),
        prefix: Sequence[tuple[int, float, float]] = (),
    ) -> dict[int, float]:
        """Weighted reciprocal rank fusion with BM25 gated by passage language; the
        cross-language lists add to the passages they found (prefix: by coverage)."""
        s = self.settings
        k = s.rrf_k
        same = dict(s.bm25_weights).get(lang, 1.0)
        fused: dict[int, float] = {}
        for r, (row, _) in enumerate(dense, 1):
            fused[row] = 1.0 / (k + r)
            if self._langs[row] != lang:
                fused[row] += s.substitute * same / (k + r)
        for r, (row, _) in enumerate(bm25, 1):
            weight = same if self._langs[row] == lang else s.bm25_other_lang
            fused[row] = fused.get(row, 0.0) + weight / (k + r)
        for ranked in cross:
            for r, (row, _) in enumerate(ranked, 1):
                fused[row] = fused.get(row, 0.0) + s.bm25_cross_language / (k + r)
        prefix = [p for p in prefix if p[2] >= s.prefix_min_coverage]
        for r, (row, _, coverage) in enumerate(prefix, 1):
            fused[row] = fused.get(row, 0.0) + s.bm25_prefix * coverage / (k + r)
        return fused

    def rerank(
        self, query_vec: np.ndarray, rows: list[int]
    ) -> list[tuple[int, float, tuple[int, int] | None]]:
        """Score = (1-w) * passage cosine + w * best sentence cosine. Spans and sentence
        rows come from the index's in-memory arrays: no chunk is read here."""
        w = self.settings.sentence_weight
        out = []
        passage = self.data.vectors[rows] @ query_vec
        spans = self.data.spans()
        for row, p in zip(rows, passage, strict=True):
            sent = spans.of(row)
            best, best_span = float(p), None
            if len(sent):
                sims = self.data.sentence_vectors[sent[:, 2]] @ query_vec
                i = int(np.argmax(sims))
                best = float(sims[i])
                best_span = (int(sent[i, 0]), int(sent[i, 1]))
            out.append((row, (1 - w) * float(p) + w * best, best_span))
        return out

    def retrieve(self, question: str, k: int = 5, lang: str | None = None) -> Retrieval:
        """The k best chunks for `question` (its language detected unless given).

        Candidates come from FAISS and BM25; with re-ranking on, the dense side of the
        fusion is the sentence-aware score rather than the plain passage cosine."""
        s = self.settings
        lang = lang or detect(question)
        n = max(s.candidates, k)
        query_vec = self.query_vector(question) if s.mode != "bm25" else None
        dense = self.dense(query_vec, n) if query_vec is not None else []
        bm25 = self.data.bm25.search(question, lang, n) if s.mode != "dense" else []
        cross = self.cross_language(question, lang, n) if s.mode == "hybrid" else []
        use_prefix = s.mode == "hybrid" and s.bm25_prefix > 0 and lang in s.prefix_langs
        prefix = self.prefix.search(question, lang, n) if use_prefix else []
        dense_scores, bm25_scores = dict(dense), dict(bm25)
        spans: dict[int, tuple[int, int] | None] = {}
        if s.rerank and query_vec is not None:
            extra = [r for ranked in cross for r, _ in ranked] + [r for r, _, _ in prefix]
            candidates = list(dict.fromkeys([r for r, _ in dense + bm25] + extra))
            rescored = self.rerank(query_vec, candidates)
            spans = {row: span for row, _, span in rescored}
            dense = sorted(((r, sc) for r, sc, _ in rescored), key=lambda x: -x[1])
        if s.mode == "dense":
            ranked = dense
        elif s.mode == "bm25":
            ranked = bm25
        else:
            fused = self.fuse(dense, bm25, lang, cross, prefix)
            ranked = sorted(fused.items(), key=lambda x: -x[1])
        hits = []
        for rank, (row, score) in enumerate(ranked[:k], 1):
            chunk = self.data.chunks[row]
            hits.append(
                Hit(
                    rank=rank,
                    score=score,
                    chunk=chunk,
                    doc=self.data.docs[chunk.doc_id],
                    dense=dense_scores.get(row),
                    bm25=bm25_scores.get(row),
                    best_sentence=spans.get(row),
                    sentences=self._sentences(row),
                )
            )
        return Retrieval(question, lang, query_vec, hits)
