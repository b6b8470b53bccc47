"""eval/bench.py at tiny sizes with the fake embedder: the sections run and return sane
numbers (this checks the benchmark's plumbing, not performance)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from rag.index.embedders import FakeEmbedder

BENCH = Path(__file__).resolve().parents[1] / "eval" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("jauap_eval_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _quiet(_: str) -> None:
    pass


def test_reindex_unchanged_embeds_nothing(bench, fake_env) -> None:
    out = bench.bench_reindex(FakeEmbedder(), n_docs=30, repeats=2, log=_quiet)
    for key in (
        "documents",
        "chunks",
        "first_build_s",
        "reindex_s",
        "reindex_runs_s",
        "embedded_chunks",
        "embedded_sentences",
        "unchanged",
        "load_index_s",
    ):
        assert key in out, key
    assert out["documents"] == 30
    assert out["unchanged"] == 30 and out["new"] == 0 and out["changed"] == 0
    assert out["chunks"] >= 30
    assert out["embedded_chunks"] == 0
    assert out["embedded_sentences"] == 0
    assert len(out["reindex_runs_s"]) == 2
    assert 0 < out["reindex_s"] < 60


def test_query_latency_tiny(bench, fake_env) -> None:
    out = bench.bench_query_latency(
        FakeEmbedder(),
        sizes=(150, 400),
        n_queries=12,
        recall_queries=20,
        words_per_chunk=30,
        measure_load=False,
        log=_quiet,
    )
    assert out["sizes"] == [150, 400]
    assert out["queries"] == 12
    assert set(out["per_size"]) == {"150", "400"}
    for res in out["per_size"].values():
        assert res["ann"] == "flat"
        for part in (
            "search_ms",
            "embed_ms",
            "search_without_embed_ms",
            "dense_ms",
            "bm25_ms",
            "rest_ms",
        ):
            s = res[part]
            assert s["n"] == 12
            assert 0 <= s["p50"] <= s["p95"] <= s["max"]
        assert res["bm25_build_s"] >= 0 and res["ann_build_s"] >= 0
    rc = out["recall"]
    assert rc["size"] == 400 and rc["forced_hnsw"] is True
    assert 0.0 <= rc["recall_at_10"] <= 1.0
    assert 0.0 <= rc["recall_at_10_near_queries"] <= 1.0
    assert rc["build_s"] >= 0
    mem = out["memory"]
    assert mem["size"] == 400
    assert mem["rss_mb"] > 0 and mem["hwm_mb"] >= mem["rss_mb"]
    assert not math.isnan(mem["vector_arrays_mb"])
    assert "load" not in out


def test_synthetic_index_is_consistent(bench) -> None:
    streams = bench.word_streams()
    data, timings = bench.synthetic_index(60, 16, streams, FakeEmbedder(16), words_per_chunk=12)
    assert len(data.chunks) == len(data.vectors) == len(data.sentence_rows) == 60
    assert data.sentence_vectors.shape == (180, 16)
    for chunk, rows in zip(data.chunks, data.sentence_rows, strict=True):
        doc = data.docs[chunk.doc_id]
        assert len(chunk.sentences) == len(rows) == 3
        assert doc.text[chunk.start : chunk.end] == chunk.text
        for s, e in chunk.sentences:
            assert doc.text[s:e].endswith(".")
    assert sorted(set(data.chunk_langs)) == ["en", "kk", "ru"]
    assert set(timings) == {"generate_s", "ann_build_s", "bm25_build_s"}


def test_summary_rows_render(bench) -> None:
    results = {
        "reindex": {"documents": 10, "reindex_s": 0.1, "embedded_chunks": 0},
        "index": {"chunks_per_s": 13.0, "tokens_per_s": 5000.0, "overhead_pct": 5.0},
    }
    rows = bench.summary_rows(results)
    verdicts = {metric: ok for metric, _, _, ok in rows}
    assert verdicts["reindex: embedded_chunks"] == "meets"
    assert all(ok in ("meets", "MISSES", "-", "") for ok in verdicts.values())
