"""Hybrid retrieval: language-aware fusion and the three modes, on the fake embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.index import store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import index_paths
from rag.ingest.chunking import ChunkSettings
from rag.search.hybrid import HybridRetriever, RetrievalSettings
from rag.settings import SAMPLE_CORPUS
from rag.text.translit import latin_to_cyrillic


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> HybridRetriever:
    index_dir = tmp_path_factory.mktemp("index")
    embedder = FakeEmbedder()
    index_paths([SAMPLE_CORPUS], index_dir, embedder, ChunkSettings(max_tokens=80, min_tokens=20, overlap_tokens=10))
    return HybridRetriever(store.load(index_dir), embedder)


def test_bm25_counts_fully_only_in_the_question_language(retriever: HybridRetriever) -> None:
    langs = retriever._langs
    ru = [i for i, lang in enumerate(langs) if lang == "ru"]
    kk = [i for i, lang in enumerate(langs) if lang == "kk"]
    # Dense order: ru0, kk1, kk0. BM25 matched only kk0 (think: a Latin word or number).
    dense = [(ru[0], 0.9), (kk[1], 0.6), (kk[0], 0.5)]
    bm25 = [(kk[0], 7.0)]
    # For a Kazakh question that evidence counts: kk0 moves above kk1.
    fused_kk = retriever.fuse(dense, bm25, "kk")
    assert fused_kk[kk[0]] > fused_kk[kk[1]]
    # For an English question it is nearly ignored: the dense order survives.
    fused_en = retriever.fuse(dense, bm25, "en")
    assert fused_en[ru[0]] > fused_en[kk[1]] > fused_en[kk[0]]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes_find_the_document(retriever: HybridRetriever, mode: str) -> None:
    retriever.settings = RetrievalSettings(mode=mode)
    try:
        hits = retriever.retrieve("Дмитрий Песков Ерлан Карин форум открыли", k=3).hits
    finally:
        retriever.settings = RetrievalSettings()
    assert hits and hits[0].doc.lang == "ru"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for h in hits:
        assert h.doc.text[h.chunk.start : h.chunk.end] == h.chunk.text


def test_kazakh_word_forms_reach_the_kazakh_document(retriever: HybridRetriever) -> None:
    hits = retriever.retrieve("медиафорумында журналистер", k=1).hits
    assert hits[0].doc.lang == "kk"


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="'fuzzy'"):
        RetrievalSettings(mode="fuzzy")
    with pytest.raises(ConfigError, match="1.5"):
        RetrievalSettings(sentence_weight=1.5)


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [("Almaty", "алматы"), ("Zhambyl", "жамбыл"), ("Peskov", "песков"), ("Karin", "карин"), ("1991", "1991")],
)
def test_latin_names_are_written_in_cyrillic(latin: str, cyrillic: str) -> None:
    assert latin_to_cyrillic(latin) == cyrillic


def test_english_names_reach_cyrillic_passages(tmp_path: Path) -> None:
    """A name in an English question finds the Russian passage that spells it in Cyrillic,
    through BM25, even where the embedding (here the fake one) cannot cross languages."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Новости\n\nВ Шымкенте открыли новую школу для детей.", encoding="utf-8")
    (tmp_path / "docs" / "b.txt").write_text("Погода\n\nВ Караганде ожидается сильный ветер и снег.", encoding="utf-8")
    embedder = FakeEmbedder()
    index_paths([tmp_path / "docs"], tmp_path / "ix", embedder, ChunkSettings())
    retriever = HybridRetriever(store.load(tmp_path / "ix"), embedder)
    hits = retriever.retrieve("What opened in Shymkent?", k=2, lang="en").hits
    assert hits[0].doc.source.endswith("a.txt")
