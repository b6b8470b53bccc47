"""The benchmark scripts of eval/bench/ run end to end at tiny sizes with the fake embedder
on a tiny dev-format data set made from the sample corpus, and write sane figures with
--json (this checks their plumbing, not performance: the figures are for people)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.settings import SAMPLE_CORPUS
from rag.text.sentences import split

BENCH = Path(__file__).resolve().parents[1] / "eval" / "bench"
ENGLISH = (
    "The media forum opened in Almaty on Monday. Journalists from both countries met there. "
    "They spoke about fact checking and new media. The next forum will be held in Moscow. "
    "Students of journalism took part in workshops. The organisers thanked the speakers."
)


@pytest.fixture
def evaldata(tmp_path: Path) -> Path:
    """Passage pools (kk, ru: the sample corpus in paragraphs; en: a few sentences) and
    questions in the normalised dev format."""
    folder = tmp_path / "evaldata"
    folder.mkdir()
    texts = {p.name[:3]: p.read_text(encoding="utf-8") for p in SAMPLE_CORPUS.glob("*.txt")}
    pools = {"kazqad.kk": texts["004"], "xquad.ru": texts["000"], "xquad.en": ENGLISH * 3}
    for name, text in pools.items():
        lang = name.split(".")[1]
        sentences = [s for s in split(text) if len(s) > 30]
        rows = [
            {"passage_id": f"{name}.{i}", "lang": lang, "title": f"{lang} {i}",
             "text": " ".join(sentences[i : i + 4])}
            for i in range(0, len(sentences), 4)
        ]
        (folder / f"{name}.passages.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    questions = ["Where did the media forum open?", "Медиафорум қашан өтті?", "Кто открыл форум?"]
    (folder / "dev.questions.jsonl").write_text(
        "".join(
            json.dumps({"id": f"q{i}", "lang": "en", "question": q, "relevant_passage_ids": []}) + "\n"
            for i, q in enumerate(questions)
        ),
        encoding="utf-8",
    )
    return folder


def run(script: str, tmp_path: Path, evaldata: Path, *args: str) -> dict:
    out = tmp_path / f"{script}.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--embedder", "fake", "--evaldata",
         str(evaldata), "--json", str(out), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "targets (targets.toml" in done.stdout
    return json.loads(out.read_text(encoding="utf-8"))


def test_index_speed(fake_env: dict, tmp_path: Path, evaldata: Path) -> None:
    out = run("index_speed", tmp_path, evaldata, "--limit", "6", "--repeats", "2",
              "--reindex-chunks", "40")
    o = out["overall"]
    assert o["passages"] == 6 and o["chunks"] >= 6
    assert o["embedded_chunks"] == o["chunks"] and o["embedded_sentences"] > 0
    assert o["reindex_embedded"] == 0 and len(o["reindex_runs_s"]) == 2
    assert o["raw_s"] > 0 and o["index_vs_raw"] == pytest.approx(o["raw_s"] / o["index_s"])
    assert o["embedded_tokens"] > o["text_tokens"]  # sentences are embedded again
    g = out["groups"]["40"]
    assert g["chunks"] >= 40 and g["reindex_embedded"] == 0
    verdicts = {(t["group"], t["metric"]): t["verdict"] for t in out["targets"]}
    assert verdicts[("overall", "reindex_embedded")] == "meets"
    assert verdicts[("100000", "reindex_s")] == "not measured"


def test_query_latency(fake_env: dict, tmp_path: Path, evaldata: Path) -> None:
    out = run("query_latency", tmp_path, evaldata, "--sizes", "20,60", "--queries", "3", "--ann-recall")
    assert set(out["groups"]) == {"20", "60"}
    for size, g in out["groups"].items():
        assert g["chunks"] == int(size)  # one-chunk synthetic documents
        assert g["ms"]["total"]["n"] == 3
        assert 0 <= g["p50_ms"] <= g["p95_ms"]
        assert g["without_embed_p95_ms"] >= 0 and g["embed_p95_ms"] >= 0
    assert 0.0 <= out["groups"]["60"]["hnsw_recall_at_10"] <= 1.0
    assert set(out["groups"]["60"]["ann_sweep"]["by_ef"]) == {"64", "128", "256", "512"}


def test_query_latency_and_memory_on_a_given_index(
    fake_env: dict, tmp_path: Path, evaldata: Path
) -> None:
    from rag.index.embedders import FakeEmbedder
    from rag.index.indexer import index_paths
    from rag.ingest.chunking import ChunkSettings
    from rag.settings import SAMPLE_CORPUS

    index_dir = tmp_path / "index"
    chunks = index_paths([SAMPLE_CORPUS], index_dir, FakeEmbedder(), ChunkSettings()).chunks
    out = run("query_latency", tmp_path, evaldata, "--index-dir", str(index_dir), "--queries", "3",
              "--ann-quality")
    assert out["groups"][str(chunks)]["ms"]["total"]["n"] == 3
    quality = out["groups"]["dev"]["ann_quality"]
    assert set(quality) == {"kk", "ru", "en", "kk+ru", "max_abs_hit5_diff"}
    assert quality["kk+ru"]["ann"].startswith("hnsw")
    out = run("memory", tmp_path, evaldata, "--index-dir", str(index_dir), "--queries", "2")
    g = out["groups"][str(chunks)]
    assert g["chunks"] == chunks and g["answers"] == 3
    assert 0 < g["model_ready_s"] < g["cold_start_s"] and g["first_answer_s"] > 0


def test_memory(fake_env: dict, tmp_path: Path, evaldata: Path) -> None:
    out = run("memory", tmp_path, evaldata, "--sizes", "30", "--queries", "2")
    g = out["groups"]["30"]
    assert g["chunks"] == 30 and g["answers"] == 3
    assert 0 < g["rss_imports_mb"] <= g["rss_model_mb"] and g["rss_mb"] <= g["hwm_mb"]
    assert 0 < g["load_s"] < g["cold_start_s"]


def test_answer_latency(fake_env: dict, tmp_path: Path, evaldata: Path) -> None:
    out = run("answer_latency", tmp_path, evaldata, "--repeats", "1")
    o = out["overall"]
    assert o["answers"] == 76
    assert 0 <= o["after_retrieval_p50_ms"] <= o["after_retrieval_p95_ms"]
    assert set(out["groups"]) == {"en", "kk", "ru"}
    assert [t["metric"] for t in out["targets"]] == ["after_retrieval_p95_ms"]


def test_page_examples(fake_env: dict) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "page_examples.py"), "--generators", "extractive,fake"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    for name in ("extractive", "fake"):
        assert len([x for x in lines if x.startswith(f"{name} ") and x.split()[1] in ("right", "WRONG")]) == 12
        assert any(x.startswith(f"{name}: ") and x.endswith(" per answer") and "/12 right" in x for x in lines)
