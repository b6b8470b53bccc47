"""The index on disk: an unchanged folder decided from file states without loading the
index (rag.index.sources), and the loaded index reading the docstore on demand and mapping
its vectors."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexCorruptError
from rag.index import sources, store
from rag.index.embedders import FakeEmbedder
from rag.ingest.chunking import ChunkSettings
from tests.index_helpers import RU_NAME, SMALL, build, current

# --- an unchanged folder decided from file states, the index not loaded (rag.index.sources)


@pytest.fixture
def settled(corpus: Path) -> Path:
    """The corpus once its files are older than the racy window (else never trusted)."""
    time.sleep(sources.RACY_NS / 1e9 + 0.1)
    return corpus


def test_unchanged_folder_is_decided_from_file_states(settled: Path, index_dir: Path) -> None:
    build(settled, index_dir)
    generation = current(index_dir)
    files = sorted(settled.glob("*.txt"))
    fp, chunking = FakeEmbedder().fingerprint(), asdict(SMALL)
    states = sources.file_states(files)
    manifest = sources.unchanged(index_dir, states, fp, chunking)
    assert manifest is not None and manifest.documents == 2
    report, embedder = build(settled, index_dir)
    assert report.unchanged == report.documents == 2 and report.chunks == manifest.chunks
    assert embedder.texts == [] and current(index_dir) == generation
    # anything else than the same files, embedder and chunking: the full run decides
    assert sources.unchanged(index_dir, states, "other-fingerprint", chunking) is None
    assert sources.unchanged(index_dir, states, fp, asdict(ChunkSettings())) is None
    assert sources.unchanged(index_dir, sources.file_states(files[:1]), fp, chunking) is None


def test_same_size_rewrite_and_damaged_generation_take_the_full_path(
    settled: Path, index_dir: Path
) -> None:
    build(settled, index_dir)
    path = settled / RU_NAME
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("а", "о", 1), encoding="utf-8")  # same byte size
    report, embedder = build(settled, index_dir)
    assert report.changed == 1 and embedder.texts
    time.sleep(sources.RACY_NS / 1e9 + 0.1)
    build(settled, index_dir)  # records the settled states again
    vectors = index_dir / current(index_dir) / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-8])
    states = sources.file_states(sorted(settled.glob("*.txt")))
    assert sources.unchanged(index_dir, states, FakeEmbedder().fingerprint(), asdict(SMALL)) is None
    report, _ = build(settled, index_dir)
    assert "vectors.npy" in report.rebuilt_because and report.new == 2


# --- the loaded index reads the docstore on demand and maps the vectors ------------------


def test_loaded_views_behave_like_the_lists_and_dicts_they_replace(
    corpus: Path, index_dir: Path
) -> None:
    build(corpus, index_dir)
    data = store.load(index_dir)
    chunks = list(data.chunks)
    assert len(chunks) == len(data.chunks) > 2
    assert data.chunks[-1] == chunks[-1] and data.chunks[1:3] == chunks[1:3]
    assert [data.chunks[i] for i in range(len(chunks))] == chunks
    assert [len(r) for r in data.sentence_rows] == [len(c.sentences) for c in chunks]
    assert sorted(data.docs) == sorted({c.doc_id for c in chunks})
    assert data.chunk_langs == [data.docs[c.doc_id].lang for c in chunks]
    assert data.docs.get("no-such-doc") is None
    with pytest.raises(IndexError):
        data.chunks[len(chunks)]
    # vectors are read from the generation's files row by row, as asked
    whole = np.asarray(data.sentence_vectors)
    assert whole.shape == data.sentence_vectors.shape and len(whole) > 5
    assert np.array_equal(data.sentence_vectors[3], whole[3])
    assert np.array_equal(data.sentence_vectors[[4, 1, 2, 4, -1]], whole[[4, 1, 2, 4, -1]])
    assert np.array_equal(data.sentence_vectors[1:4], whole[1:4])
    assert np.array_equal(np.stack(list(data.sentence_vectors)), whole)
    with pytest.raises(IndexError):
        data.vectors[[len(data.vectors)]]


def test_sentence_spans_and_chunk_counts_match_the_chunks(corpus: Path, index_dir: Path) -> None:
    from rag.index.docstore import DocStore
    from rag.index.spans import SentenceSpans

    build(corpus, index_dir)
    data = store.load(index_dir)
    chunks = list(data.chunks)
    raw = DocStore(index_dir / current(index_dir) / "docstore.sqlite", IndexCorruptError)
    rows = [raw.chunk(i)[1] for i in range(len(chunks))]  # as the chunk bodies hold them
    assert list(data.sentence_rows) == rows and data.sentence_rows[-1] == rows[-1]
    assert data.sentence_rows[1:3] == rows[1:3]
    built = SentenceSpans.from_chunks(chunks, rows)
    loaded = data.spans()
    assert np.array_equal(loaded.offsets, built.offsets)
    assert np.array_equal(loaded.table, built.table)
    for i, chunk in enumerate(chunks):
        assert [(s, e) for s, e, _ in loaded.of(i).tolist()] == [tuple(x) for x in chunk.sentences]
    counts = data.chunk_counts()
    assert counts == {d: sum(c.doc_id == d for c in chunks) for d in data.docs}
    assert list(data.docs.values()) == [data.docs[d] for d in data.docs]


def test_a_chunk_damaged_inside_the_docstore_is_one_clear_error_when_read(
    corpus: Path, index_dir: Path
) -> None:
    build(corpus, index_dir)
    con = sqlite3.connect(index_dir / current(index_dir) / "docstore.sqlite")
    con.execute("UPDATE chunk_bodies SET body = '{junk' WHERE row = 1")
    con.commit()
    con.close()
    data = store.load(index_dir)  # the load reads no chunk text
    assert data.chunks[0].text
    with pytest.raises(IndexCorruptError, match=r"docstore.sqlite chunk 1 is unreadable.*--rebuild"):
        data.chunks[1]


@pytest.mark.parametrize("sq8", [False, True])
def test_hnsw_index_keeps_its_search_depth_when_written_and_mapped_back(
    tmp_path: Path, sq8: bool
) -> None:
    import faiss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index, kind = store.build_ann(x, threshold=0, sq8=sq8)
    assert kind == f"hnsw{store.HNSW_M}" + ("-sq8" if sq8 else "")
    faiss.write_index(index, str(tmp_path / "faiss.index"))
    back = faiss.read_index(str(tmp_path / "faiss.index"), faiss.IO_FLAG_MMAP_IFC)
    assert back.hnsw.efSearch == store.HNSW_EF_SEARCH and back.ntotal == 600
    _, rows = back.search(x[:20], 1)
    assert (rows[:, 0] == np.arange(20)).mean() >= 0.9  # each vector finds itself


def test_scan_lists_what_discover_would_index(corpus: Path) -> None:
    from rag.ingest.documents import SUPPORTED, discover

    (corpus / "sub").mkdir()
    (corpus / "sub" / "more.md").write_text("# Тақырып\n\nМәтін.", "utf-8")
    (corpus / ".hidden").mkdir()
    (corpus / ".hidden" / "secret.txt").write_text("жасырын", "utf-8")
    (corpus / ".dot.txt").write_text("жасырын", "utf-8")
    (corpus / "notes.csv").write_text("a,b", "utf-8")
    expected = {str(p) for p in discover([corpus]) if p.suffix.lower() in SUPPORTED}
    assert set(sources.snapshot([corpus], SUPPORTED)) == expected
    assert sources.snapshot([corpus], SUPPORTED) == sources.file_states(sorted(expected))
    assert len(expected) == 3
    assert sources.snapshot([corpus / "missing"], SUPPORTED) == {}


def test_rowfile_reads_any_rows_like_numpy_indexing(tmp_path: Path) -> None:
    from rag.index.rowfile import RowFile

    x = np.random.default_rng(1).random((50, 4)).astype(np.float32)
    np.save(tmp_path / "m.npy", x)
    rows = RowFile(tmp_path / "m.npy", int(np.load(tmp_path / "m.npy", mmap_mode="r").offset), x.shape)
    rng = np.random.default_rng(0)
    cases = [[3, 4, 5], [5, 4, 3], [7], [], [1, 1, 2], [49, 0], [-1, -2]]
    cases += [rng.integers(-50, 50, rng.integers(0, 8)).tolist() for _ in range(300)]
    for case in cases:
        assert np.array_equal(rows[case], x[case]), case
    assert np.array_equal(rows[-1], x[-1]) and np.array_equal(rows[2:9:3], x[2:9:3])
