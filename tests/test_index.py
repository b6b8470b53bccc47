"""Incremental indexing, atomic generations, the manifest and the embedding cache."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, InputError
from rag.index import sources, store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import IndexReport, index_paths, text_key
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings
from rag.ingest.documents import doc_id_for, load_document
from rag.settings import Settings

SMALL = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)
RU_NAME = "000_1a1ef730ee62db7a.txt"
KK_NAME = "004_a5a20995b4c71b1a.txt"


class CountingEmbedder:
    """A fake that delegates to FakeEmbedder, records every passage it embeds and can be
    told to fail after a number of texts (a model crashing halfway through a run)."""

    def __init__(
        self,
        inner: FakeEmbedder | None = None,
        fail_after: int | None = None,
        name: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.inner = inner or FakeEmbedder()
        self.name = name or self.inner.name
        self.dim = self.inner.dim
        self._fingerprint = fingerprint
        self.fail_after = fail_after
        self.texts: list[str] = []

    def fingerprint(self) -> str:
        return self._fingerprint or self.inner.fingerprint()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.texts) + len(texts) > self.fail_after:
            raise RuntimeError(f"embedder died after {len(self.texts)} texts")
        self.texts.extend(texts)
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


def _build(
    corpus: Path, index_dir: Path, embedder: CountingEmbedder | None = None, **kwargs: object
) -> tuple[IndexReport, CountingEmbedder]:
    embedder = embedder or CountingEmbedder()
    report = index_paths([corpus], index_dir, embedder, SMALL, **kwargs)  # type: ignore[arg-type]
    return report, embedder


def _current(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text().strip()


def _strip_title(text: str, title: str) -> str:
    return text[len(title) + 1 :] if text.startswith(title + "\n") else text


def _check_consistent(data: store.IndexData) -> None:
    assert len(data.chunks) == len(data.chunk_keys) == len(data.vectors) == len(data.sentence_rows)
    assert data.ann.ntotal == len(data.chunks)
    assert len(data.sentence_keys) == len(data.sentence_vectors)
    for chunk, rows in zip(data.chunks, data.sentence_rows, strict=True):
        doc = data.docs[chunk.doc_id]
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert len(rows) == len(chunk.sentences)
        assert all(0 <= r < len(data.sentence_keys) for r in rows)
    assert np.allclose(np.linalg.norm(data.vectors, axis=1), 1.0, atol=1e-5)


# --- incremental runs -----------------------------------------------------------------


def test_first_run_embeds_everything(corpus: Path, index_dir: Path) -> None:
    report, embedder = _build(corpus, index_dir)
    data = store.load(index_dir)
    _check_consistent(data)
    assert report.documents == 2 and report.new == 2
    assert report.changed == report.removed == report.unchanged == 0
    assert report.chunks == len(data.chunks) > 2
    assert report.embedded_chunks == len(set(data.chunk_keys))
    # a one-sentence chunk's sentence is the same text as the chunk: embedded once
    assert report.embedded_sentences == len(set(data.sentence_keys) - set(data.chunk_keys))
    assert len(embedder.texts) == report.embedded_chunks + report.embedded_sentences
    assert len(set(embedder.texts)) == len(embedder.texts)  # nothing embedded twice
    assert report.embedded_tokens > 0
    assert report.skipped == []
    assert set(data.docs) == {doc_id_for(corpus / RU_NAME), doc_id_for(corpus / KK_NAME)}


def test_second_run_without_changes_embeds_nothing(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    generation = _current(index_dir)
    before = store.load(index_dir)
    report, embedder = _build(corpus, index_dir)
    assert embedder.texts == []
    assert report.embedded_chunks == report.embedded_sentences == 0
    assert report.new == report.changed == report.removed == 0
    assert report.unchanged == report.documents == 2
    assert report.chunks == len(before.chunks)
    assert _current(index_dir) == generation
    after = store.load(index_dir)
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]


def test_changed_file_only_re_embeds_its_own_chunks(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    before = store.load(index_dir)
    kk_path = corpus / KK_NAME
    kk_id, ru_id = doc_id_for(kk_path), doc_id_for(corpus / RU_NAME)
    with kk_path.open("a", encoding="utf-8") as f:
        f.write("\nФорумға қатысушылар келесі жылы Алматыда қайта жиналуға уәде берді.\n")

    report, embedder = _build(corpus, index_dir)
    after = store.load(index_dir)
    _check_consistent(after)
    assert report.changed == 1
    assert report.unchanged == 1
    assert report.new == report.removed == 0
    new_kk = after.docs[kk_id]
    assert new_kk.text.endswith("келесі жылы Алматыда қайта жиналуға уәде берді.")
    assert new_kk.content_hash != before.docs[kk_id].content_hash
    assert embedder.texts, "the changed document is re-embedded"
    for text in embedder.texts:
        assert _strip_title(text, new_kk.title) in new_kk.text
    kk_texts = sum(1 for c in after.chunks if c.doc_id == kk_id) + sum(
        len(rows)
        for c, rows in zip(after.chunks, after.sentence_rows, strict=True)
        if c.doc_id == kk_id
    )
    assert len(embedder.texts) < kk_texts  # its unchanged opening chunks are reused
    assert len(embedder.texts) == report.embedded_chunks + report.embedded_sentences
    # the untouched document keeps its chunks and vectors
    ru_before = [
        (c.chunk_id, k)
        for c, k in zip(before.chunks, before.chunk_keys, strict=True)
        if c.doc_id == ru_id
    ]
    ru_after = [
        (c.chunk_id, k)
        for c, k in zip(after.chunks, after.chunk_keys, strict=True)
        if c.doc_id == ru_id
    ]
    assert ru_before == ru_after


def test_deleted_file_is_removed_from_the_index(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    gone = doc_id_for(corpus / RU_NAME)
    assert any(c.doc_id == gone for c in store.load(index_dir).chunks)
    (corpus / RU_NAME).unlink()

    report, embedder = _build(corpus, index_dir)
    assert report.removed == 1
    assert report.unchanged == report.documents == 1
    assert report.new == report.changed == 0
    assert embedder.texts == []  # the remaining document's vectors are reused
    data = store.load(index_dir)
    _check_consistent(data)
    assert gone not in data.docs
    assert all(c.doc_id != gone for c in data.chunks)
    assert data.manifest.documents == 1
    assert report.chunks == len(data.chunks)


def test_new_file_is_added(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    extra = corpus / "sub" / "extra.md"
    extra.parent.mkdir()
    extra.write_text(
        "# Forum news\n\nThe media forum in Almaty ended with a joint statement.\n",
        encoding="utf-8",
    )
    report, embedder = _build(corpus, index_dir)
    assert report.new == 1 and report.unchanged == 2 and report.documents == 3
    assert all("joint statement" in t or t.startswith("Forum news") for t in embedder.texts)
    assert doc_id_for(extra) in store.load(index_dir).docs


def test_unsupported_file_is_skipped_and_the_run_continues(corpus: Path, index_dir: Path) -> None:
    odd = corpus / "notes.xyz"
    odd.write_text("not indexed", encoding="utf-8")
    report, _ = _build(corpus, index_dir)
    assert report.documents == 2
    assert len(report.skipped) == 1
    assert str(odd) in report.skipped[0] and "unsupported" in report.skipped[0]
    assert len(store.load(index_dir).docs) == 2


def test_unreadable_docx_is_skipped_and_others_indexed(corpus: Path, index_dir: Path) -> None:
    broken = corpus / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 20)
    report, _ = _build(corpus, index_dir)
    assert report.documents == 2 and report.new == 2
    assert len(report.skipped) == 1
    assert str(broken) in report.skipped[0] and "cannot read" in report.skipped[0]
    data = store.load(index_dir)
    assert doc_id_for(broken) not in data.docs
    assert len(data.docs) == 2


def test_empty_folder_raises_input_error(tmp_path: Path, index_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no supported documents"):
        _build(empty, index_dir)
    assert not store.exists(index_dir)


def test_folder_of_only_unusable_files_raises_input_error(tmp_path: Path, index_dir: Path) -> None:
    docs = tmp_path / "bad"
    docs.mkdir()
    (docs / "a.xyz").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="no supported documents"):
        _build(docs, index_dir)
    (docs / "b.docx").write_bytes(b"garbage" * 10)
    with pytest.raises(InputError, match="none of the documents could be read"):
        _build(docs, index_dir)
    assert not store.exists(index_dir)


def test_missing_path_raises_input_error(tmp_path: Path, index_dir: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        _build(tmp_path / "missing", index_dir)


def test_loading_a_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="jauap index"):
        store.load(tmp_path / "nothing-here")
    assert not store.exists(tmp_path / "nothing-here")


# --- atomic generations ---------------------------------------------------------------


def test_crash_during_second_build_keeps_the_previous_index(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    generation = _current(index_dir)
    generations = sorted(p.name for p in index_dir.iterdir())
    before = store.load(index_dir)

    ru = corpus / RU_NAME
    ru.write_text(ru.read_text(encoding="utf-8") + "\nДобавлен новый абзац о форуме.\n", "utf-8")
    # rebuild: every chunk is embedded again, then the model dies among the sentences
    dying = CountingEmbedder(fail_after=20)
    with pytest.raises(RuntimeError, match="embedder died"):
        index_paths([corpus], index_dir, dying, SMALL, rebuild=True)
    assert 0 < len(dying.texts) <= 20

    assert _current(index_dir) == generation
    assert sorted(p.name for p in index_dir.iterdir()) == generations
    after = store.load(index_dir)
    _check_consistent(after)
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]
    assert {d: doc.content_hash for d, doc in after.docs.items()} == {
        d: doc.content_hash for d, doc in before.docs.items()
    }
    assert np.array_equal(after.vectors, before.vectors)

    # the next healthy run picks up the change
    report, _ = _build(corpus, index_dir)
    assert report.changed == 1 and report.unchanged == 1
    assert _current(index_dir) != generation
    assert "Добавлен новый абзац" in store.load(index_dir).docs[doc_id_for(ru)].text
    # the new generation and the one before it (readers may still be loading it)
    gens = {p.name for p in index_dir.iterdir() if p.name.startswith("gen-")}
    assert gens == {_current(index_dir), generation}


# --- manifest and compatibility -------------------------------------------------------


def test_manifest_records_what_built_the_index(corpus: Path, index_dir: Path) -> None:
    report, embedder = _build(corpus, index_dir)
    manifest = store.load_manifest(index_dir)
    assert manifest.embedder == "fake"
    assert manifest.fingerprint == FakeEmbedder().fingerprint() == embedder.fingerprint()
    assert manifest.dim == 64
    assert manifest.chunking == asdict(SMALL)
    assert manifest.documents == report.documents == 2
    assert manifest.chunks == report.chunks
    assert manifest.sentences == len(store.load(index_dir).sentence_keys)
    assert manifest.format == store.FORMAT_VERSION
    assert manifest.ann == "flat"
    assert manifest.updated
    assert {"jauap", "numpy"} <= set(manifest.versions)
    raw = json.loads((index_dir / _current(index_dir) / "manifest.json").read_text("utf-8"))
    assert raw["embedder"] == "fake" and raw["dim"] == 64


def test_check_compatible_names_both_embedders_and_how_to_rebuild(
    corpus: Path, index_dir: Path
) -> None:
    _build(corpus, index_dir)
    manifest = store.load_manifest(index_dir)
    store.check_compatible(manifest, "fake", FakeEmbedder().fingerprint(), index_dir)  # no error
    with pytest.raises(IndexMismatchError) as info:
        store.check_compatible(manifest, "other-model", "other-fp-1", index_dir)
    message = str(info.value)
    for part in (
        "'fake'",
        "'other-model'",
        "fake-64-v1",
        "other-fp-1",
        "--rebuild",
        str(index_dir),
    ):
        assert part in message, part
    assert "JAUAP_EMBEDDER=fake" in message


def test_indexing_with_another_embedder_needs_rebuild(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    generation = _current(index_dir)
    other = CountingEmbedder(FakeEmbedder(dim=32), name="other-model")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        _build(corpus, index_dir, other)
    assert other.texts == []
    assert _current(index_dir) == generation

    report, _ = _build(corpus, index_dir, other, rebuild=True)
    assert report.new == 2
    manifest = store.load_manifest(index_dir)
    assert (manifest.embedder, manifest.dim, manifest.fingerprint) == (
        "other-model",
        32,
        "fake-32-v1",
    )
    assert store.load(index_dir).vectors.shape[1] == 32


def test_unknown_index_format_is_refused(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    path = index_dir / _current(index_dir) / "manifest.json"
    raw = json.loads(path.read_text("utf-8"))
    raw["format"] = 999
    path.write_text(json.dumps(raw), "utf-8")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        store.load(index_dir)


def test_indexing_over_an_older_format_rebuilds_it(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    path = index_dir / _current(index_dir) / "manifest.json"
    raw = json.loads(path.read_text("utf-8"))
    raw["format"] = store.FORMAT_VERSION - 1
    path.write_text(json.dumps(raw), "utf-8")
    (index_dir / _current(index_dir) / "sources.json").unlink(missing_ok=True)
    report, _ = _build(corpus, index_dir)
    assert f"has format {store.FORMAT_VERSION - 1}" in report.rebuilt_because and report.new == 2
    assert store.load_manifest(index_dir).format == store.FORMAT_VERSION


def test_changed_chunk_settings_rechunk_everything(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    bigger = ChunkSettings(max_tokens=120, min_tokens=40, overlap_tokens=20)
    embedder = CountingEmbedder()
    report = index_paths([corpus], index_dir, embedder, bigger)
    assert report.new == 2  # the old index is not reused
    assert store.load_manifest(index_dir).chunking == asdict(bigger)
    _check_consistent(store.load(index_dir))


# --- the embedding cache --------------------------------------------------------------


def test_vector_cache_roundtrip(fake_env: dict[str, str]) -> None:
    path = Settings.from_env().vector_cache_path
    assert str(path).startswith(fake_env["JAUAP_CACHE_DIR"])
    vectors = FakeEmbedder().embed_passages(["бірінші мәтін", "второй текст", "third text"])
    items = {text_key(str(i)): v for i, v in enumerate(vectors)}
    cache = VectorCache(path, "fp-a")
    cache.put_many(items)
    got = cache.get_many([*items, "missing-key"])
    assert set(got) == set(items)
    for key, vec in items.items():
        assert got[key].dtype == np.float32
        assert np.array_equal(got[key], vec)
    cache.close()

    reopened = VectorCache(path, "fp-a")
    assert set(reopened.get_many(items)) == set(items)
    other = VectorCache(path, "fp-b")  # another embedder never sees these vectors
    assert other.get_many(items) == {}
    # many keys at once (more than one SQL batch)
    many = {f"k{i}": np.full(4, i, dtype=np.float32) for i in range(1203)}
    other.put_many(many)
    back = other.get_many(many)
    assert len(back) == 1203 and float(back["k1202"][0]) == 1202.0
    reopened.close()
    other.close()


def test_shared_cache_means_a_second_index_embeds_nothing(
    corpus: Path, tmp_path: Path, fake_env: dict[str, str]
) -> None:
    fingerprint = FakeEmbedder().fingerprint()
    first_cache = VectorCache(Settings.from_env().vector_cache_path, fingerprint)
    first, first_embedder = _build(corpus, tmp_path / "index-a", cache=first_cache)
    first_cache.close()
    assert first_embedder.texts and first.embedded_chunks > 0

    second_cache = VectorCache(Settings.from_env().vector_cache_path, fingerprint)
    second, second_embedder = _build(corpus, tmp_path / "index-b", cache=second_cache)
    second_cache.close()
    assert second_embedder.texts == []
    assert second.embedded_chunks == second.embedded_sentences == second.embedded_tokens == 0
    assert second.new == 2 and second.chunks == first.chunks

    a, b = store.load(tmp_path / "index-a"), store.load(tmp_path / "index-b")
    assert a.chunk_keys == b.chunk_keys
    assert np.array_equal(a.vectors, b.vectors)
    assert np.array_equal(a.sentence_vectors, b.sentence_vectors)


def test_loaded_chunks_match_freshly_read_documents(corpus: Path, index_dir: Path) -> None:
    _build(corpus, index_dir)
    data = store.load(index_dir)
    for path in (corpus / RU_NAME, corpus / KK_NAME):
        doc = load_document(path)
        assert data.docs[doc.doc_id] == doc


# --- an unchanged folder decided from file states, the index not loaded (rag.index.sources)


@pytest.fixture
def settled(corpus: Path) -> Path:
    """The corpus once its files are older than the racy window (else never trusted)."""
    time.sleep(sources.RACY_NS / 1e9 + 0.1)
    return corpus


def test_unchanged_folder_is_decided_from_file_states(settled: Path, index_dir: Path) -> None:
    _build(settled, index_dir)
    generation = _current(index_dir)
    files = sorted(settled.glob("*.txt"))
    fp, chunking = FakeEmbedder().fingerprint(), asdict(SMALL)
    states = sources.file_states(files)
    manifest = sources.unchanged(index_dir, states, fp, chunking)
    assert manifest is not None and manifest.documents == 2
    report, embedder = _build(settled, index_dir)
    assert report.unchanged == report.documents == 2 and report.chunks == manifest.chunks
    assert embedder.texts == [] and _current(index_dir) == generation
    # anything else than the same files, embedder and chunking: the full run decides
    assert sources.unchanged(index_dir, states, "other-fingerprint", chunking) is None
    assert sources.unchanged(index_dir, states, fp, asdict(ChunkSettings())) is None
    assert sources.unchanged(index_dir, sources.file_states(files[:1]), fp, chunking) is None


def test_same_size_rewrite_and_damaged_generation_take_the_full_path(
    settled: Path, index_dir: Path
) -> None:
    _build(settled, index_dir)
    path = settled / RU_NAME
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("а", "о", 1), encoding="utf-8")  # same byte size
    report, embedder = _build(settled, index_dir)
    assert report.changed == 1 and embedder.texts
    time.sleep(sources.RACY_NS / 1e9 + 0.1)
    _build(settled, index_dir)  # records the settled states again
    vectors = index_dir / _current(index_dir) / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-8])
    states = sources.file_states(sorted(settled.glob("*.txt")))
    assert sources.unchanged(index_dir, states, FakeEmbedder().fingerprint(), asdict(SMALL)) is None
    report, _ = _build(settled, index_dir)
    assert "vectors.npy" in report.rebuilt_because and report.new == 2


# --- the loaded index reads the docstore on demand and maps the vectors ------------------


def test_loaded_views_behave_like_the_lists_and_dicts_they_replace(
    corpus: Path, index_dir: Path
) -> None:
    _build(corpus, index_dir)
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

    _build(corpus, index_dir)
    data = store.load(index_dir)
    chunks = list(data.chunks)
    raw = DocStore(index_dir / _current(index_dir) / "docstore.sqlite", IndexCorruptError)
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
    _build(corpus, index_dir)
    con = sqlite3.connect(index_dir / _current(index_dir) / "docstore.sqlite")
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
