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
