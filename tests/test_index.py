"""Incremental indexing, atomic generations, the manifest and the embedding cache."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexMismatchError, IndexMissingError, InputError
from rag.index import store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import index_paths, text_key
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings
from rag.ingest.documents import doc_id_for, load_document
from rag.settings import Settings
from tests.index_helpers import KK_NAME, RU_NAME, SMALL, CountingEmbedder, build, current


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
    report, embedder = build(corpus, index_dir)
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
    build(corpus, index_dir)
    generation = current(index_dir)
    before = store.load(index_dir)
    report, embedder = build(corpus, index_dir)
    assert embedder.texts == []
    assert report.embedded_chunks == report.embedded_sentences == 0
    assert report.new == report.changed == report.removed == 0
    assert report.unchanged == report.documents == 2
    assert report.chunks == len(before.chunks)
    assert current(index_dir) == generation
    after = store.load(index_dir)
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]


def test_changed_file_only_re_embeds_its_own_chunks(corpus: Path, index_dir: Path) -> None:
    build(corpus, index_dir)
    before = store.load(index_dir)
    kk_path = corpus / KK_NAME
    kk_id, ru_id = doc_id_for(kk_path), doc_id_for(corpus / RU_NAME)
    with kk_path.open("a", encoding="utf-8") as f:
        f.write("\nФорумға қатысушылар келесі жылы Алматыда қайта жиналуға уәде берді.\n")

    report, embedder = build(corpus, index_dir)
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
    build(corpus, index_dir)
    gone = doc_id_for(corpus / RU_NAME)
    assert any(c.doc_id == gone for c in store.load(index_dir).chunks)
    (corpus / RU_NAME).unlink()

    report, embedder = build(corpus, index_dir)
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
    build(corpus, index_dir)
    extra = corpus / "sub" / "extra.md"
    extra.parent.mkdir()
    extra.write_text(
        "# Forum news\n\nThe media forum in Almaty ended with a joint statement.\n",
        encoding="utf-8",
    )
    report, embedder = build(corpus, index_dir)
    assert report.new == 1 and report.unchanged == 2 and report.documents == 3
    assert all("joint statement" in t or t.startswith("Forum news") for t in embedder.texts)
    assert doc_id_for(extra) in store.load(index_dir).docs


def test_unsupported_file_is_skipped_and_the_run_continues(corpus: Path, index_dir: Path) -> None:
    odd = corpus / "notes.xyz"
    odd.write_text("not indexed", encoding="utf-8")
    report, _ = build(corpus, index_dir)
    assert report.documents == 2
    assert len(report.skipped) == 1
    assert str(odd) in report.skipped[0] and "unsupported" in report.skipped[0]
    assert len(store.load(index_dir).docs) == 2


def test_unreadable_docx_is_skipped_and_others_indexed(corpus: Path, index_dir: Path) -> None:
    broken = corpus / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 20)
    report, _ = build(corpus, index_dir)
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
        build(empty, index_dir)
    assert not store.exists(index_dir)


def test_folder_of_only_unusable_files_raises_input_error(tmp_path: Path, index_dir: Path) -> None:
    docs = tmp_path / "bad"
    docs.mkdir()
    (docs / "a.xyz").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="no supported documents"):
        build(docs, index_dir)
    (docs / "b.docx").write_bytes(b"garbage" * 10)
    with pytest.raises(InputError, match="none of the documents could be read"):
        build(docs, index_dir)
    assert not store.exists(index_dir)


def test_missing_path_raises_input_error(tmp_path: Path, index_dir: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        build(tmp_path / "missing", index_dir)


def test_loading_a_missing_index_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="jauap index"):
        store.load(tmp_path / "nothing-here")
    assert not store.exists(tmp_path / "nothing-here")


# --- atomic generations ---------------------------------------------------------------


def test_crash_during_second_build_keeps_the_previous_index(corpus: Path, index_dir: Path) -> None:
    build(corpus, index_dir)
    generation = current(index_dir)
    generations = sorted(p.name for p in index_dir.iterdir())
    before = store.load(index_dir)

    ru = corpus / RU_NAME
    ru.write_text(ru.read_text(encoding="utf-8") + "\nДобавлен новый абзац о форуме.\n", "utf-8")
    # rebuild: every chunk is embedded again, then the model dies among the sentences
    dying = CountingEmbedder(fail_after=20)
    with pytest.raises(RuntimeError, match="embedder died"):
        index_paths([corpus], index_dir, dying, SMALL, rebuild=True)
    assert 0 < len(dying.texts) <= 20

    assert current(index_dir) == generation
    assert sorted(p.name for p in index_dir.iterdir()) == generations
    after = store.load(index_dir)
    _check_consistent(after)
    assert [c.chunk_id for c in after.chunks] == [c.chunk_id for c in before.chunks]
    assert {d: doc.content_hash for d, doc in after.docs.items()} == {
        d: doc.content_hash for d, doc in before.docs.items()
    }
    assert np.array_equal(after.vectors, before.vectors)

    # the next healthy run picks up the change
    report, _ = build(corpus, index_dir)
    assert report.changed == 1 and report.unchanged == 1
    assert current(index_dir) != generation
    assert "Добавлен новый абзац" in store.load(index_dir).docs[doc_id_for(ru)].text
    # the new generation and the one before it (readers may still be loading it)
    gens = {p.name for p in index_dir.iterdir() if p.name.startswith("gen-")}
    assert gens == {current(index_dir), generation}


# --- manifest and compatibility -------------------------------------------------------


def test_manifest_records_what_built_the_index(corpus: Path, index_dir: Path) -> None:
    report, embedder = build(corpus, index_dir)
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
    raw = json.loads((index_dir / current(index_dir) / "manifest.json").read_text("utf-8"))
    assert raw["embedder"] == "fake" and raw["dim"] == 64


def test_check_compatible_names_both_embedders_and_how_to_rebuild(
    corpus: Path, index_dir: Path
) -> None:
    build(corpus, index_dir)
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
    build(corpus, index_dir)
    generation = current(index_dir)
    other = CountingEmbedder(FakeEmbedder(dim=32), name="other-model")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        build(corpus, index_dir, other)
    assert other.texts == []
    assert current(index_dir) == generation

    report, _ = build(corpus, index_dir, other, rebuild=True)
    assert report.new == 2
    manifest = store.load_manifest(index_dir)
    assert (manifest.embedder, manifest.dim, manifest.fingerprint) == (
        "other-model",
        32,
        "fake-32-v1",
    )
    assert store.load(index_dir).vectors.shape[1] == 32


def test_unknown_index_format_is_refused(corpus: Path, index_dir: Path) -> None:
    build(corpus, index_dir)
    path = index_dir / current(index_dir) / "manifest.json"
    raw = json.loads(path.read_text("utf-8"))
    raw["format"] = 999
    path.write_text(json.dumps(raw), "utf-8")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        store.load(index_dir)


def test_indexing_over_an_older_format_rebuilds_it(corpus: Path, index_dir: Path) -> None:
    build(corpus, index_dir)
    path = index_dir / current(index_dir) / "manifest.json"
    raw = json.loads(path.read_text("utf-8"))
    raw["format"] = store.FORMAT_VERSION - 1
    path.write_text(json.dumps(raw), "utf-8")
    (index_dir / current(index_dir) / "sources.json").unlink(missing_ok=True)
    report, _ = build(corpus, index_dir)
    assert f"has format {store.FORMAT_VERSION - 1}" in report.rebuilt_because and report.new == 2
    assert store.load_manifest(index_dir).format == store.FORMAT_VERSION


def test_changed_chunk_settings_rechunk_everything(corpus: Path, index_dir: Path) -> None:
    build(corpus, index_dir)
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
    first, first_embedder = build(corpus, tmp_path / "index-a", cache=first_cache)
    first_cache.close()
    assert first_embedder.texts and first.embedded_chunks > 0

    second_cache = VectorCache(Settings.from_env().vector_cache_path, fingerprint)
    second, second_embedder = build(corpus, tmp_path / "index-b", cache=second_cache)
    second_cache.close()
    assert second_embedder.texts == []
    assert second.embedded_chunks == second.embedded_sentences == second.embedded_tokens == 0
    assert second.new == 2 and second.chunks == first.chunks

    a, b = store.load(tmp_path / "index-a"), store.load(tmp_path / "index-b")
    assert a.chunk_keys == b.chunk_keys
    assert np.array_equal(a.vectors, b.vectors)
    assert np.array_equal(a.sentence_vectors, b.sentence_vectors)


def test_loaded_chunks_match_freshly_read_documents(corpus: Path, index_dir: Path) -> None:
    build(corpus, index_dir)
    data = store.load(index_dir)
    for path in (corpus / RU_NAME, corpus / KK_NAME):
        doc = load_document(path)
        assert data.docs[doc.doc_id] == doc
