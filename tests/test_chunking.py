"""Chunking: exact offsets, token budget, overlap without losing text, stable ids."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rag.errors import ConfigError
from rag.index.embedders import FakeEmbedder
from rag.ingest.chunking import ChunkSettings, chunk_document, chunk_id_for
from rag.ingest.documents import load_document
from rag.records import Chunk, Document
from rag.settings import SAMPLE_CORPUS
from rag.text.sentences import split_spans

SMALL = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)
SAMPLES = ["000_1a1ef730ee62db7a.txt", "004_a5a20995b4c71b1a.txt"]
count = FakeEmbedder().count_tokens


def _doc(text: str, doc_id: str = "doc-1") -> Document:
    return Document(
        doc_id=doc_id, source=f"{doc_id}.txt", title="t", lang="ru", text=text, content_hash="h"
    )


def _sentence(words: int, word: str = "слово") -> str:
    """A sentence the fake embedder counts as `words + 3` tokens (words, dot, two specials)."""
    return " ".join([word.capitalize()] + [word] * (words - 1)) + "."


def _check_invariants(doc: Document, chunks: list[Chunk], settings: ChunkSettings) -> None:
    assert chunks, "a document with text has chunks"
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert chunk.doc_id == doc.doc_id
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip()
        assert chunk.sentences, "every chunk has sentences"
        assert chunk.sentences[0][0] == chunk.start
        assert chunk.sentences[-1][1] == chunk.end
        for s, e in chunk.sentences:
            assert chunk.start <= s < e <= chunk.end
        assert list(chunk.sentences) == sorted(chunk.sentences)
        sizes = [count(doc.text[s:e]) for s, e in chunk.sentences]
        assert len(sizes) == 1 or sum(sizes) <= settings.max_tokens, (ordinal, sizes)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.start < after.start
        assert before.end < after.end
        # overlapping or abutting: only whitespace may lie between two chunks
        assert not doc.text[before.end : after.start].strip()
    covered = [False] * len(doc.text)
    for chunk in chunks:
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    for s, e in split_spans(doc.text):
        lost = [i for i in range(s, e) if not covered[i] and not doc.text[i].isspace()]
        assert not lost, f"sentence lost: {doc.text[s:e]!r}"
    # every character outside the chunks is whitespace
    assert all(c or doc.text[i].isspace() for i, c in enumerate(covered))


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_documents_small_chunks(name: str) -> None:
    doc = load_document(SAMPLE_CORPUS / name)
    chunks = chunk_document(doc, count, SMALL)
    assert len(chunks) >= 5
    _check_invariants(doc, chunks, SMALL)
    starts = [c.start for c in chunks]
    assert len(set(starts)) == len(starts)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_documents_default_chunks(name: str) -> None:
    doc = load_document(SAMPLE_CORPUS / name)
    settings = ChunkSettings()
    chunks = chunk_document(doc, count, settings)
    _check_invariants(doc, chunks, settings)


def test_small_chunks_overlap_by_whole_closing_sentences() -> None:
    doc = load_document(SAMPLE_CORPUS / SAMPLES[0])
    chunks = chunk_document(doc, count, SMALL)
    overlapping = 0
    for before, after in zip(chunks, chunks[1:], strict=False):
        if after.start < before.end:
            overlapping += 1
            shared = [s for s in after.sentences if s in before.sentences]
            assert shared and shared == list(after.sentences[: len(shared)])
            assert sum(count(doc.text[s:e]) for s, e in shared) <= SMALL.overlap_tokens
            assert len(shared) < len(before.sentences)
    assert overlapping >= 1


def test_no_overlap_setting_gives_disjoint_chunks() -> None:
    doc = load_document(SAMPLE_CORPUS / SAMPLES[1])
    settings = replace(SMALL, overlap_tokens=0)
    chunks = chunk_document(doc, count, settings)
    _check_invariants(doc, chunks, settings)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.end <= after.start


def test_short_tail_joins_the_previous_chunk() -> None:
    text = " ".join([_sentence(20), _sentence(20), _sentence(3)])  # 23 + 23 + 6 tokens
    settings = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)
    chunks = chunk_document(_doc(text), count, settings)
    assert len(chunks) == 1
    assert chunks[0].text == text


def test_chunk_ids_are_stable_and_follow_the_text() -> None:
    doc = load_document(SAMPLE_CORPUS / SAMPLES[0])
    first = chunk_document(doc, count, SMALL)
    second = chunk_document(load_document(SAMPLE_CORPUS / SAMPLES[0]), count, SMALL)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)
    for c in first:
        assert c.chunk_id == chunk_id_for(doc.doc_id, c.start, c.text)

    last = first[-1]
    edited_text = doc.text[: last.end - 1] + " и многое другое."
    edited = chunk_document(replace(doc, text=edited_text), count, SMALL)
    assert edited[-1].chunk_id != last.chunk_id
    # chunks before the edit keep their ids
    unchanged = [c for c in first if c.end < last.start]
    assert unchanged
    assert [c.chunk_id for c in edited[: len(unchanged)]] == [c.chunk_id for c in unchanged]

    other = chunk_document(replace(doc, doc_id="other-doc"), count, SMALL)
    assert {c.chunk_id for c in other}.isdisjoint({c.chunk_id for c in first})


@pytest.mark.parametrize(
    ("kwargs", "field", "bad"),
    [
        ({"max_tokens": 8}, "max_tokens", "8"),
        ({"max_tokens": 1000}, "max_tokens", "1000"),
        ({"max_tokens": 100, "min_tokens": 101}, "min_tokens", "101"),
        ({"min_tokens": -1}, "min_tokens", "-1"),
        ({"max_tokens": 100, "min_tokens": 20, "overlap_tokens": 50}, "overlap_tokens", "50"),
        ({"overlap_tokens": -3}, "overlap_tokens", "-3"),
    ],
)
def test_invalid_chunk_settings_name_the_bad_value(kwargs: dict, field: str, bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        ChunkSettings(**kwargs)
    message = str(info.value)
    assert field in message
    assert message.endswith(f"got {bad}")


def test_valid_edge_settings_are_accepted() -> None:
    assert ChunkSettings(max_tokens=16, min_tokens=0, overlap_tokens=7).max_tokens == 16
    assert ChunkSettings(max_tokens=512, min_tokens=512, overlap_tokens=255).min_tokens == 512


def test_long_sentence_without_punctuation_is_split_at_word_boundaries() -> None:
    words = [f"сөз{i}" for i in range(400)]
    text = " ".join(words)
    doc = _doc(text)
    settings = ChunkSettings(max_tokens=40, min_tokens=10, overlap_tokens=0)
    chunks = chunk_document(doc, count, settings)
    assert len(chunks) > 5
    _check_invariants(doc, chunks, settings)
    pieces = []
    for chunk in chunks:
        for s, e in chunk.sentences:
            assert count(text[s:e]) <= settings.max_tokens
            assert s == 0 or text[s - 1] == " "
            assert e == len(text) or text[e] == " "
            pieces.append(text[s:e])
    # every word survives whole, in order, exactly once
    assert " ".join(pieces).split() == words


def test_long_word_without_spaces_is_still_cut_within_budget() -> None:
    text = "-".join(["а"] * 300)  # one "sentence", no spaces at all
    settings = ChunkSettings(max_tokens=30, min_tokens=0, overlap_tokens=0)
    chunks = chunk_document(_doc(text), count, settings)
    assert "".join(c.text for c in chunks) == text
    for chunk in chunks:
        assert count(chunk.text) <= settings.max_tokens


def test_carried_overlap_never_pushes_a_chunk_over_budget() -> None:
    text = " ".join([_sentence(27), _sentence(7), _sentence(52)])  # 30, 10, 55 tokens
    doc = _doc(text)
    assert [count(doc.text[s:e]) for s, e in split_spans(text)] == [30, 10, 55]
    chunks = chunk_document(doc, count, SMALL)
    for chunk in chunks:
        sizes = [count(text[s:e]) for s, e in chunk.sentences]
        assert len(sizes) == 1 or sum(sizes) <= SMALL.max_tokens, sizes
