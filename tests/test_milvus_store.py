"""The Milvus store backend in its embedded mode (Milvus Lite, a temporary .db): same hits
as the FAISS folder index, incremental indexing, deletes, the fingerprint check, a killed
write, and the JAUAP_STORE setting. Milvus Lite serves on 127.0.0.1 inside the process."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from rag.errors import (  # noqa: E402
    ConfigError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
)
from rag.index import milvus_store, store  # noqa: E402
from rag.index.backends import FaissBackend, MilvusBackend, open_store  # noqa: E402
from rag.index.embedders import FakeEmbedder  # noqa: E402
from rag.index.milvus_search import VectorRows  # noqa: E402
from rag.ingest.chunking import ChunkSettings  # noqa: E402
from rag.pipeline import build_index, open_retriever  # noqa: E402
from rag.search.hybrid import HybridRetriever, RetrievalSettings  # noqa: E402
from rag.settings import SAMPLE_CORPUS, Settings  # noqa: E402

CHUNKING = ChunkSettings(max_tokens=80, min_tokens=20, overlap_tokens=10)
QUESTIONS = [
    ("Дмитрий Песков Ерлан Карин форум открыли", None),
    ("медиафорумында журналистер", None),
    ("Who opened the Eurasian media forum in Almaty?", "en"),
    ("Алматы медиа форум", "kk"),
    ("журналистика жасанды интеллект", None),
]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[HybridRetriever, HybridRetriever]:
    """The sample corpus indexed into a FAISS folder and into Milvus Lite."""
    root = tmp_path_factory.mktemp("stores")
    embedder = FakeEmbedder()
    faiss = FaissBackend(root / "faiss")
    milvus = MilvusBackend(str(root / "m.db"), "jauap")
    for backend in (faiss, milvus):
        backend.index_paths([SAMPLE_CORPUS], embedder, CHUNKING)
    return (HybridRetriever(faiss.open(embedder), embedder),
            HybridRetriever(milvus.open(embedder), embedder))


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_milvus_finds_what_faiss_finds(both: tuple[HybridRetriever, HybridRetriever],
                                       mode: str) -> None:
    faiss, milvus = both
    for r in both:
        r.settings = RetrievalSettings(mode=mode)
    for question, lang in QUESTIONS:
        a = faiss.retrieve(question, k=5, lang=lang).hits
        b = milvus.retrieve(question, k=5, lang=lang).hits
        assert [h.chunk.chunk_id for h in a] == [h.chunk.chunk_id for h in b], question
        assert [h.chunk.text for h in a] == [h.chunk.text for h in b]
        for x, y in zip(a, b, strict=True):
            assert x.score == pytest.approx(y.score, rel=1e-4)
            assert x.best_sentence == y.best_sentence
            assert [s.span for s in x.sentences] == [s.span for s in y.sentences]


def test_vectors_read_on_demand_are_the_stored_ones(
    both: tuple[HybridRetriever, HybridRetriever],
) -> None:
    faiss, milvus = both
    rows = [2, 0, len(faiss.data.chunks) - 1]
    assert np.allclose(milvus.data.vectors[rows], faiss.data.vectors[rows])
    sent = faiss.data.sentence_rows[1]
    assert np.allclose(milvus.data.sentence_vectors[sent], faiss.data.sentence_vectors[sent])
    assert np.allclose(milvus.data.sentence_vectors[sent[0]], faiss.data.sentence_vectors[sent[0]])
    assert milvus.data.vectors.shape == faiss.data.vectors.shape
    # a small cache: rows already held but old are asked for again beside new ones
    src = milvus.data.vectors.source
    small = VectorRows(src.client, src.names["chunks"], src.names["sentences"], src.dim,
                       src.sentence_rows, keep=2)
    for ask in ([0, 1, 2], [2, 3, 0, 4], [4], [1, 0, 5, 6]):
        assert np.allclose(small.get("chunks", ask), faiss.data.vectors[ask])


def test_bm25_scores_are_the_faiss_paths(both: tuple[HybridRetriever, HybridRetriever]) -> None:
    faiss, milvus = both
    for question, lang in QUESTIONS:
        expected = faiss.data.bm25.search(question, lang or "ru", 10)
        got = milvus.data.bm25.search(question, lang or "ru", 10)
        assert [r for r, _ in got] == [r for r, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-5)
    assert faiss.data.bm25.search("медиафорумында", "kk", 5)  # the check saw real matches
    # the vocabulary and per-term postings (what the cross-language prefix channel reads)
    vocab = faiss.data.bm25._vocab
    assert set(milvus.data.bm25.vocabulary) == set(vocab)
    sc = faiss.data.bm25._model.scores
    for term in list(vocab)[:: max(1, len(vocab) // 25)]:
        t = vocab[term]
        lo, hi = sc["indptr"][t], sc["indptr"][t + 1]
        expected = dict(zip(sc["indices"][lo:hi].tolist(), sc["data"][lo:hi].tolist(), strict=True))
        rows, weights = milvus.data.bm25.postings(milvus.data.bm25.vocabulary[term])
        assert dict(zip(rows.tolist(), weights.tolist(), strict=True)) == pytest.approx(expected)


def test_incremental_indexing_deletes_and_fingerprint(tmp_path: Path, corpus: Path) -> None:
    (corpus / "extra.txt").write_text(
        "Астана — Қазақстанның астанасы. Қалада Бәйтерек монументі бар.\n\n"
        "Столица Казахстана Астана расположена на реке Есиль.", encoding="utf-8")
    embedder = FakeEmbedder()
    backend = MilvusBackend(str(tmp_path / "inc.db"), "docs")
    with pytest.raises(IndexMissingError, match="no index"):
        backend.manifest()
    first = backend.index_paths([corpus], embedder, CHUNKING)
    assert first.new == first.documents == 3
    gen = milvus_store.read_catalog(milvus_store.connect(backend.uri), "docs")["gen"]

    again = backend.index_paths([corpus], embedder, CHUNKING)
    assert (again.unchanged, again.new, again.embedded_chunks) == (first.documents, 0, 0)
    assert milvus_store.read_catalog(milvus_store.connect(backend.uri), "docs")["gen"] == gen

    files = sorted(p for p in corpus.iterdir() if p.is_file())
    files[0].write_text(files[0].read_text(encoding="utf-8") + "\n\nЖаңа абзац: Байқоңыр.",
                        encoding="utf-8")
    files[1].unlink()
    changed = backend.index_paths([corpus], embedder, CHUNKING)
    assert (changed.changed, changed.removed, changed.new) == (1, 1, 0)
    assert 0 < changed.embedded_chunks < first.chunks
    data = backend.open(embedder)
    assert len(data.docs) == first.documents - 1
    assert any("Байқоңыр" in d.text for d in data.docs.values())
    assert len(data.chunks) == data.manifest.chunks == len(data.vectors)

    with pytest.raises(IndexMismatchError, match="fake-32-v1"):
        backend.open(FakeEmbedder(dim=32))
    with pytest.raises(IndexMismatchError):
        backend.index_paths([corpus], FakeEmbedder(dim=32), CHUNKING)


def test_a_killed_write_leaves_the_previous_generation(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    uri = str(tmp_path / "killed.db")
    backend = MilvusBackend(uri, "jauap")
    backend.index_paths([SAMPLE_CORPUS], embedder, CHUNKING)
    before = HybridRetriever(backend.open(embedder), embedder).retrieve("медиафорумында", k=3)
    client = milvus_store.connect(uri)
    # What a run killed after writing part of a generation leaves: collections, no switch.
    half = milvus_store._names("jauap", "gdead")
    milvus_store._create(client, half["chunks"], "chunks", embedder.dim)
    client.insert(half["chunks"], [{"row": 0, "vector": [0.1] * embedder.dim, "key": "x",
                                    "bm25": {1: 1.0}, "lang": "kk", "record": "{}"}])
    after = HybridRetriever(backend.open(embedder), embedder).retrieve("медиафорумында", k=3)
    assert [h.chunk.chunk_id for h in after.hits] == [h.chunk.chunk_id for h in before.hits]
    backend.index_paths([SAMPLE_CORPUS], embedder, CHUNKING, rebuild=True)
    assert half["chunks"] not in client.list_collections()  # the next write cleaned up
    client.upsert("jauap_catalog", [{"name": "current", "record": '{"gen": "g1"}',
                                     "vector": [0.0, 0.0]}])
    with pytest.raises(IndexCorruptError, match="catalog jauap_catalog is damaged"):
        backend.open(embedder)


def test_store_setting_selects_the_backend(tmp_path: Path, clean_env: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "sub" / "p.db"
    monkeypatch.setenv("JAUAP_STORE", str(db))
    monkeypatch.setenv("JAUAP_INDEX_DIR", str(tmp_path / "unused"))
    settings = Settings.from_env()
    assert isinstance(open_store(settings), MilvusBackend)
    report = build_index(settings, [SAMPLE_CORPUS])
    assert report.chunks > 0 and not (tmp_path / "unused").exists()
    hits = open_retriever(settings).retrieve("медиафорумында журналистер", k=2).hits
    assert hits and hits[0].doc.lang == "kk"
    assert isinstance(open_store(Settings()), FaissBackend)
    assert not store.exists(tmp_path / "unused")


@pytest.mark.parametrize(("value", "message"), [
    ("index/milvus", "ending in .db or a Milvus server URL.*'index/milvus'"),
    ("http://", "no host.*'http://'"),
    ("qdrant://localhost:6333", "unknown store backend 'qdrant': use one of faiss, milvus-lite"),
])
def test_bad_store_values_are_named(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(Settings.from_env({"JAUAP_STORE": value}))
    with pytest.raises(ConfigError, match="JAUAP_STORE_COLLECTION.*'9x'"):
        Settings(store="a.db", store_collection="9x")


def test_server_settings_are_read_and_the_token_never_printed() -> None:
    settings = Settings.from_env({"JAUAP_STORE": "http://milvus.example:19530",
                                  "JAUAP_STORE_COLLECTION": "news",
                                  "JAUAP_STORE_TOKEN": "root:s3cret-pass"})
    backend = open_store(settings)
    assert isinstance(backend, MilvusBackend)
    assert (backend.uri, backend.prefix) == ("http://milvus.example:19530", "news")
    assert settings.store_token == "root:s3cret-pass" and "s3cret" not in repr(settings)


def test_a_locked_lite_file_is_explained(tmp_path: Path) -> None:
    from milvus_lite.db import MilvusLite

    db = tmp_path / "held.db"
    holder = MilvusLite(str(db))  # as another process holding the file would
    try:
        with pytest.raises(ConfigError, match="another process has this Milvus Lite file"):
            milvus_store.connect(str(db))
    finally:
        holder.close()
        shutil.rmtree(db, ignore_errors=True)
