"""Sentence vectors pooled from each chunk's own forward pass (rag.index.pooled, issue 14):
token spans, the fake embedder's pooling, the index built that way and its manifest."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError
from rag.index import store
from rag.index.e5_onnx import token_ranges
from rag.index.embedders import FakeEmbedder, make_embedder
from rag.index.indexer import embed_text, index_paths
from rag.index.pooled import effective_mode
from rag.ingest.chunking import ChunkSettings
from rag.protocols import SpanEmbedder
from rag.settings import Settings

# Small chunks so the sample corpus yields several overlapping chunks per document.
SMALL = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)


def test_token_ranges_follow_offsets_and_skip_special_tokens() -> None:
    # "<s> ▁passage : ▁Абай ▁ақын . ▁Екінші </s>" over "passage: Абай ақын. Екінші"
    offsets = [(0, 0), (0, 7), (7, 8), (8, 13), (13, 18), (18, 19), (19, 26), (0, 0)]
    spans = [(9, 19), (20, 26), (8, 9), (30, 40)]
    assert token_ranges(offsets, spans, kept=7) == [(3, 6), (6, 7), (3, 4), None]


def test_token_ranges_refuse_a_span_cut_by_truncation() -> None:
    offsets = [(0, 0), (0, 4), (4, 9), (9, 14), (0, 0)]
    # only positions < 2 survive truncation: the second span needs position 2 and 3
    assert token_ranges(offsets, [(0, 4), (4, 14)], kept=2) == [(1, 2), None]
    assert token_ranges([], [(0, 3)], kept=0) == [None]


def test_fake_span_vectors_are_the_vectors_of_the_span_texts() -> None:
    fake = FakeEmbedder()
    texts = ["Абай ақын. Ол ойшыл.", "Москва — столица. Город большой."]
    spans = [[(0, 10), (11, 20)], [(0, 17), (18, 32)]]
    vectors, span_vectors = fake.embed_passages_with_spans(texts, spans)
    assert np.allclose(vectors, fake.embed_passages(texts))
    for text, text_spans, got in zip(texts, spans, span_vectors, strict=True):
        assert np.allclose(got, fake.embed_passages([text[s:e] for s, e in text_spans]))
    _, (no_word,) = fake.embed_passages_with_spans(["a — b"], [[(1, 4)]])
    assert not no_word.any()  # nothing to pool: the caller encodes it alone


def test_mode_comes_from_settings_and_needs_a_span_embedder(clean_env: dict[str, str]) -> None:
    assert Settings.from_env({"JAUAP_SENTENCE_VECTORS": "pooled"}).sentence_vectors == "pooled"
    with pytest.raises(ConfigError, match="sentence_vectors"):
        Settings(sentence_vectors="both")
    embedder = make_embedder(Settings(embedder="fake", sentence_vectors="pooled"))
    assert isinstance(embedder, SpanEmbedder) and effective_mode(embedder) == "pooled"
    assert effective_mode(embedder, "separate") == "separate"

    class Plain:  # an embedder without span pooling (e.g. sentence-transformers)
        name, dim, sentence_vectors = "plain", 64, "pooled"

    assert effective_mode(Plain(), "pooled") == "separate"  # type: ignore[arg-type]


def test_pooled_index_records_its_mode_and_pools_each_sentence_once(
    corpus: Path, tmp_path: Path
) -> None:
    fake = FakeEmbedder(sentence_vectors="pooled")
    report = index_paths([corpus], tmp_path / "index", fake, SMALL)
    data = store.load(tmp_path / "index")
    assert data.manifest.sentence_vectors == "pooled"
    # one row per (document, sentence) although overlapping chunks repeat sentences
    places = {(c.doc_id, s, e) for c in data.chunks for s, e in c.sentences}
    assert sum(len(c.sentences) for c in data.chunks) > len(places) == data.manifest.sentences
    assert report.embedded_sentences == len(places) and report.sentences_alone == 0
    # the model ran once per chunk: only chunk tokens were counted
    assert report.embedded_tokens == sum(
        fake.count_tokens(embed_text(data.docs[c.doc_id], c.text)) for c in data.chunks
    )
    for chunk, rows in zip(data.chunks, data.sentence_rows, strict=True):
        text = data.docs[chunk.doc_id].text
        want = fake.embed_passages([text[s:e] for s, e in chunk.sentences])
        assert np.allclose(data.sentence_vectors[rows], want, atol=1e-6)


def test_switching_the_mode_rebuilds_and_an_unchanged_run_embeds_nothing(
    corpus: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    index_paths([corpus], index_dir, FakeEmbedder(sentence_vectors="separate"), SMALL)
    separate = store.load(index_dir)
    report = index_paths([corpus], index_dir, FakeEmbedder(sentence_vectors="pooled"), SMALL)
    assert "separate sentence vectors, pooled are asked for" in report.rebuilt_because
    pooled = store.load(index_dir)
    assert pooled.manifest.sentence_vectors == "pooled"
    assert np.allclose(pooled.vectors, separate.vectors)  # chunk vectors do not change
    assert not set(pooled.sentence_keys) & set(separate.sentence_keys)
    again = index_paths([corpus], index_dir, FakeEmbedder(sentence_vectors="pooled"), SMALL)
    assert again.embedded_chunks == again.embedded_sentences == again.embedded_tokens == 0


def test_a_manifest_from_before_the_field_loads_as_separate(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    index_paths([corpus], index_dir, FakeEmbedder(sentence_vectors="separate"), SMALL)
    manifest = index_dir / (index_dir / "CURRENT").read_text().strip() / "manifest.json"
    raw = json.loads(manifest.read_text())
    del raw["sentence_vectors"]
    manifest.write_text(json.dumps(raw))
    assert store.load_manifest(index_dir).sentence_vectors == "separate"


class ShortSightedFake(FakeEmbedder):
    """A fake that, like a model truncating at its length limit, cannot pool spans ending
    past `limit` characters of a text (zero rows), so the indexer must encode them alone."""

    def __init__(self, limit: int) -> None:
        super().__init__(sentence_vectors="pooled")
        self.limit = limit
        self.alone: list[str] = []

    def embed_passages_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        vectors, span_vectors = super().embed_passages_with_spans(texts, spans)
        for text_spans, rows in zip(spans, span_vectors, strict=True):
            for (_, end), row in zip(text_spans, rows, strict=True):
                if end > self.limit:
                    row[:] = 0.0
        return vectors, span_vectors

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.alone.extend(texts)
        return super().embed_passages(texts)


def test_sentences_the_chunk_pass_cannot_pool_are_encoded_alone(
    corpus: Path, tmp_path: Path
) -> None:
    fake = ShortSightedFake(limit=120)
    report = index_paths([corpus], tmp_path / "index", fake, SMALL)
    data = store.load(tmp_path / "index")
    assert report.sentences_alone == len(fake.alone) > 0
    by_text = dict(zip(fake.alone, FakeEmbedder().embed_passages(fake.alone), strict=True))
    found = 0
    for chunk, rows in zip(data.chunks, data.sentence_rows, strict=True):
        doc = data.docs[chunk.doc_id]
        for (s, e), row in zip(chunk.sentences, rows, strict=True):
            own = embed_text(doc, doc.text[s:e])  # title + sentence, as "separate" mode
            if own in by_text:
                found += np.allclose(data.sentence_vectors[row], by_text[own], atol=1e-6)
    assert found >= len(by_text)


@pytest.mark.slow
def test_real_model_pools_sentences_from_the_passage_pass() -> None:
    pytest.importorskip("onnxruntime")
    from rag.index.e5_onnx import OnnxE5Embedder, ensure_default_model

    model = OnnxE5Embedder(ensure_default_model(Settings.from_env().models_dir, "fp32"))
    text = "Абай Құнанбайұлы\nАбай 1845 жылы туған. Москва — столица России."
    spans = [(17, 38), (39, len(text))]
    vectors, (rows,) = model.embed_passages_with_spans([text], [spans])
    assert np.allclose(vectors, model.embed_passages([text]), atol=1e-5)  # fp32: same pass
    alone = model.embed_passages([text[s:e] for s, e in spans])
    sims = rows @ alone.T
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0] and sims.diagonal().min() > 0.8
    long = "Бұл сөйлем ұзын. " * 300  # ~1500 tokens: the last sentence is truncated away
    _, (cut,) = model.embed_passages_with_spans([long], [[(0, 16), (len(long) - 17, len(long) - 1)]])
    assert cut[0].any() and not cut[1].any()
