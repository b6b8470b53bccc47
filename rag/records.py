"""The records that flow through the pipeline: documents, chunks, hits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class Document:
    """A source file turned into clean text with metadata."""

    doc_id: str
    source: str
    title: str
    lang: str
    text: str
    content_hash: str
    date: str | None = None
    fmt: str = "txt"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A span of a document's clean text; `start`/`end` index into `Document.text`."""

    chunk_id: str
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(
            chunk_id=d["chunk_id"],
            doc_id=d["doc_id"],
            ordinal=d["ordinal"],
            start=d["start"],
            end=d["end"],
            text=d["text"],
            sentences=tuple(tuple(s) for s in d.get("sentences", ())),
        )


@dataclass(frozen=True)
class Sentence:
    """One sentence of a hit's chunk: its offsets in `Document.text` and its embedding."""

    start: int
    end: int
    vector: np.ndarray

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


@dataclass
class Hit:
    """A retrieved chunk with its document, scores and sentences (with vectors), so later
    stages (answer selection, citation checks) need nothing more from the index."""

    rank: int
    score: float
    chunk: Chunk
    doc: Document
    dense: float | None = None
    bm25: float | None = None
    best_sentence: tuple[int, int] | None = None
    sentences: tuple[Sentence, ...] = ()

    def sentence_text(self, sentence: Sentence) -> str:
        return self.doc.text[sentence.start : sentence.end]

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "doc_id": self.doc.doc_id,
            "source": self.doc.source,
            "title": self.doc.title,
            "date": self.doc.date,
            "lang": self.doc.lang,
            "chunk_id": self.chunk.chunk_id,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
        }


@dataclass
class Retrieval:
    """What retrieval hands to answering: the question, its language, its embedding (None in
    BM25-only mode) and the ranked hits."""

    question: str
    lang: str
    query_vector: np.ndarray | None
    hits: list[Hit]


# The span reader's longest answer span, in tokens (rag.answer.span_reader).
MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class SpanScore:
    """The reader's best answer span inside one sentence: its character span in the
    sentence's own text, and its score minus its window's no-answer score (the margin)."""

    margin: float
    start: int
    end: int


@dataclass(frozen=True)
class Reading:
    """The reader's view of one passage: each token's character span and start/end logits
    (passage tokens of every window, windows overlapping), and each window's no-answer score."""

    offsets: np.ndarray  # (tokens, 2) character offsets into the passage
    start: np.ndarray  # (tokens,)
    end: np.ndarray  # (tokens,)
    window: np.ndarray  # (tokens,) which window the token was read in
    null: np.ndarray  # (windows,) start[<s>] + end[<s>]

    def best_span(self, lo: int, hi: int) -> tuple[float, tuple[int, int]] | None:
        """The best answer span inside characters [lo, hi): (its score minus its window's
        no-answer score, its character span), or None when no token lies inside."""
        inside = (self.offsets[:, 0] >= lo) & (self.offsets[:, 1] <= hi) & (self.offsets[:, 1] > self.offsets[:, 0])
        best: tuple[float, tuple[int, int]] | None = None
        for w in np.unique(self.window[inside]):
            idx = np.flatnonzero(inside & (self.window == w))
            s, e = self.start[idx], self.end[idx]
            pair = s[:, None] + e[None, :]
            gap = idx[None, :] - idx[:, None]
            pair = np.where((gap >= 0) & (gap < MAX_ANSWER_TOKENS), pair, -np.inf)
            i, j = np.unravel_index(int(np.argmax(pair)), pair.shape)
            score = float(pair[i, j] - self.null[w])
            if best is None or score > best[0]:
                best = (score, (int(self.offsets[idx[i], 0]), int(self.offsets[idx[j], 1])))
        return best
