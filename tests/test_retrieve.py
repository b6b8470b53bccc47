"""Hybrid retrieval: language-aware fusion and the three modes, on the fake embedder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.index import store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import index_paths
from rag.ingest.chunking import ChunkSettings
from rag.protocols import Embedder
from rag.search.hybrid import HybridRetriever, RetrievalSettings
from rag.search.prefix import fold
from rag.settings import SAMPLE_CORPUS
from rag.text.translit import latin_to_cyrillic, latin_to_cyrillic_variants


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
    with pytest.raises(ConfigError, match=">= 0"):
        RetrievalSettings(bm25_prefix=-1.0)


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


def test_loanwords_have_their_usual_cyrillic_spellings() -> None:
    assert "фотосинтесис" in latin_to_cyrillic_variants("photosynthesis")
    assert {"хромосоме", "чромосоме"} <= latin_to_cyrillic_variants("chromosome")
    assert len(latin_to_cyrillic_variants("chchchchch", limit=8)) <= 8
    # Folding forgives the letters the spellings disagree on, over the first five letters.
    assert fold("фотосинтесис") == fold("фотосинтездің")
    assert fold("енерги") == fold("энергия") and fold("метаболисм") == fold("метаболизм")


@pytest.fixture(scope="module")
def kk_ru_docs(tmp_path_factory: pytest.TempPathFactory) -> HybridRetriever:
    """Two Kazakh passages and a Russian one; the fake embedder cannot cross languages."""
    root = tmp_path_factory.mktemp("kkru")
    texts = {
        "photo.txt": "Өсімдіктер\n\nФотосинтез кезінде өсімдіктердің жапырақтары күн сәулесінің "
        "энергиясын пайдаланып, көмірқышқыл газынан органикалық заттар түзеді.",
        "steppe.txt": "Дала\n\nҚазақстанның далалық аймақтарында жазда ыстық болады, ал қыста "
        "қатты аяз бен боран жиі соғады.",
        "ru.txt": "Погода\n\nВ Караганде ожидается сильный ветер, снег и понижение температуры.",
    }
    (root / "docs").mkdir()
    for name, text in texts.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    embedder = FakeEmbedder()
    index_paths([root / "docs"], root / "ix", embedder, ChunkSettings())
    return HybridRetriever(store.load(root / "ix"), embedder)


@pytest.mark.parametrize(
    ("question", "lang"),
    [("How do plants use energy in photosynthesis?", "en"), ("Как растения используют энергию при фотосинтезе?", "ru")],
)
def test_question_words_reach_kazakh_passages_by_their_beginnings(
    kk_ru_docs: HybridRetriever, question: str, lang: str
) -> None:
    found = kk_ru_docs.prefix.search(question, lang, 5)
    assert found
    top = kk_ru_docs.data.docs[kk_ru_docs.data.chunks[found[0][0]].doc_id]
    assert top.source.endswith("photo.txt") and top.lang == "kk"
    assert 0.0 < found[0][2] <= 1.0  # coverage: the share of question words matched
    hits = kk_ru_docs.retrieve(question, k=1, lang=lang).hits
    assert hits[0].doc.source.endswith("photo.txt")


def test_the_prefix_channel_leaves_kazakh_questions_alone(kk_ru_docs: HybridRetriever) -> None:
    assert kk_ru_docs.prefix.search("Фотосинтез қалай жүреді?", "kk", 5) == []


class _CompressedEmbedder:
    """The fake's vectors with a constant extra component: every cosine becomes
    (cos + 3) / 4, the narrow high band e5 models score in (bge-m3 and EmbeddingGemma
    spread wider), while the order of similarities is unchanged."""

    name = "fake-compressed"

    def __init__(self) -> None:
        self._fake = FakeEmbedder()
        self.dim = self._fake.dim + 1

    def fingerprint(self) -> str:
        return "fake-compressed-v1"

    def _compress(self, base: np.ndarray) -> np.ndarray:
        out = np.hstack([base, np.full((len(base), 1), np.sqrt(3.0), dtype=np.float32)])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._compress(self._fake.embed_queries(texts))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._compress(self._fake.embed_passages(texts))

    def count_tokens(self, text: str) -> int:
        return self._fake.count_tokens(text)


def test_ranking_does_not_depend_on_the_embedders_score_scale(tmp_path: Path) -> None:
    """Fusion is by ranks and the sentence re-score mixes cosines linearly, so a model
    whose cosines all sit in another band (here (cos + 3) / 4) ranks the same passages."""
    chunking = ChunkSettings(max_tokens=80, min_tokens=20, overlap_tokens=10)
    retrievers = []
    embedders: tuple[tuple[str, Embedder], ...] = (
        ("plain", FakeEmbedder()), ("compressed", _CompressedEmbedder())
    )
    for name, embedder in embedders:
        index_paths([SAMPLE_CORPUS], tmp_path / name, embedder, chunking)
        retrievers.append(HybridRetriever(store.load(tmp_path / name), embedder))
    plain, compressed = retrievers
    cosines = compressed.retrieve("Алматы медиа форум", k=5, lang="kk").hits
    assert all(h.dense is None or h.dense > 0.5 for h in cosines)
    for question, lang in [
        ("Дмитрий Песков Ерлан Карин форум открыли", None),
        ("Who opened the media forum in Almaty?", "en"),
        ("медиафорумында журналистер", None),
        ("Алматы медиа форум", "kk"),
    ]:
        a = [h.chunk.chunk_id for h in plain.retrieve(question, k=5, lang=lang).hits]
        b = [h.chunk.chunk_id for h in compressed.retrieve(question, k=5, lang=lang).hits]
        assert a == b, question


class _CountingChunks(Sequence):
    """The loaded chunks, counting reads (the re-rank should read none)."""

    def __init__(self, chunks: Sequence) -> None:
        self.chunks, self.reads = chunks, 0

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        self.reads += 1
        return self.chunks[i]


def test_rerank_reads_spans_not_chunks_and_ranks_as_the_chunks_say(
    retriever: HybridRetriever,
) -> None:
    import dataclasses

    data = retriever.data
    counting = _CountingChunks(data.chunks)
    lean = HybridRetriever(dataclasses.replace(data, chunks=counting), retriever.embedder)
    # the same index held as plain lists, its spans built from the chunks
    lists = dataclasses.replace(
        data, chunks=list(data.chunks), sentence_rows=[list(r) for r in data.sentence_rows],
        sentence_spans=None)
    plain = HybridRetriever(lists, retriever.embedder)
    for question in ("Кто открыл форум?", "Алматыдағы форум", "When was the forum held?"):
        vec = lean.query_vector(question)
        rows = list(range(len(data.chunks)))
        assert lean.rerank(vec, rows) == plain.rerank(vec, rows)
        assert counting.reads == 0
        a, b = lean.retrieve(question, k=3), plain.retrieve(question, k=3)
        assert [(h.chunk, h.score, h.best_sentence) for h in a.hits] == [
            (h.chunk, h.score, h.best_sentence) for h in b.hits]
        assert [[(s.start, s.end) for s in h.sentences] for h in a.hits] == [
            [(s.start, s.end) for s in h.sentences] for h in b.hits]
        counting.reads = 0
