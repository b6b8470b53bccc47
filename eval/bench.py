"""Benchmark: indexing throughput, unchanged re-index, query latency at 1k/10k/100k chunks,
retrieval quality on the dev sets, and extractive answer latency. Prints figures; it is
not a test (nothing fails except crashes).

    python eval/bench.py [--quick] [--embedder NAME] [--sizes 1000,10000,100000]
                         [--sections index,reindex,query,quality,answer] [--json OUT]

Sections (each a function returning a dict, so tests can call them with the fake embedder):
  1 index    `index_paths` on ~120 real ~200-token passages, no cache, vs the raw embedder
  2 reindex  a second `index_paths` over an unchanged folder of 1,000 small documents (fake)
  3 query    `HybridRetriever.search` p50/p95 on synthetic indexes, HNSW recall, memory
  4 quality  `run_eval` hit@1/hit@5/mrr@10 per group for dense, bm25, hybrid
  5 answer   `Assistant.ask` (extractive) p50/p95 on the gold questions over eval/corpus

The machine may be shared: every section header prints the load average, and the JSON
records it, so noisy numbers can be recognised as such.
"""

from __future__ import annotations

import os

# Same default as rag/__init__.py; it has to be set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from rag.eval.metrics import percentile  # noqa: E402
from rag.index import store  # noqa: E402
from rag.index.bm25 import BM25Channel  # noqa: E402
from rag.index.embedders import FakeEmbedder, make_embedder
from rag.index.indexer import embed_text, index_paths  # noqa: E402
from rag.ingest.chunking import ChunkSettings  # noqa: E402
from rag.protocols import Embedder  # noqa: E402
from rag.records import Chunk, Document  # noqa: E402
from rag.search.hybrid import HybridRetriever, RetrievalSettings  # noqa: E402
from rag.settings import DEFAULT_EMBEDDER, Settings  # noqa: E402
from rag.text.lang import detect  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVALDATA = Path(os.environ.get("JAUAP_EVALDATA", ROOT.parent / "shared" / "evaldata"))
POOLS = {
    "kk": "kazqad.kk.passages.jsonl",
    "ru": "xquad.ru.passages.jsonl",
    "en": "xquad.en.passages.jsonl",
}
QUESTIONS = "dev.questions.jsonl"
GOLD = ROOT / "eval" / "gold.jsonl"
CORPUS = ROOT / "rag" / "data" / "sample_corpus"
GROUPS = ("ru->ru", "en->en", "en->ru", "kk->kk")

TARGETS = {
    "index_chunks_per_s": 12.0,  # >= , chunks of ~200 tokens
    "index_overhead_pct": 10.0,  # <
    "reindex_s": 2.0,  # <
    "query_p95_ms_at_100k": 50.0,  # <
}

Log = Callable[[str], None]

# Used only when the dev passages are not there (e.g. a checkout without shared/).
_FALLBACK_WORDS = {  # split on use
    "ru": "город река область население история университет страна война закон площадь "
    "президент народ музей театр культура школа степь горы озеро столица",
    "kk": "қала өзен облыс халық тарих университет ел соғыс заң алаң президент мұражай "
    "театр мәдениет мектеп дала тау көл астана жыл",
    "en": "city river region population history university country war law square "
    "president people museum theatre culture school steppe mountains lake capital",
}
_WORD_RE = re.compile(r"[^\W\d_]{2,}")


# --- small helpers -------------------------------------------------------------------


def proc_memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MiB, from /proc/self/status."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return {"rss_mb": out.get("VmRSS", float("nan")), "hwm_mb": out.get("VmHWM", float("nan"))}


def loadavg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def stats_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50/p95 (nearest rank, as `jauap eval` reports), mean and max, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "max": None}
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "mean": sum(ms) / len(ms),
        "max": max(ms),
    }


def _fmt(v: Any, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def header(title: str, log: Log = print) -> None:
    log("")
    log("=" * 78)
    log(f"{title}   (load avg {loadavg()}, RSS {proc_memory_mb()['rss_mb']:.0f} MiB)")
    log("=" * 78)


def word_streams(
    evaldata: Path = DEFAULT_EVALDATA, max_words: int = 300_000
) -> dict[str, np.ndarray]:
    """Real ru/kk/en words in corpus order per language (sampling from a stream keeps
    their Zipf frequencies, which is what BM25 posting lengths depend on)."""
    words: dict[str, list[str]] = {"ru": [], "kk": [], "en": []}
    for name in POOLS.values():
        path = Path(evaldata) / name
        if not path.is_file():
            continue
        for row in read_jsonl(path):
            bucket = words.get(row.get("lang", ""))
            if bucket is not None and len(bucket) < max_words:
                bucket.extend(_WORD_RE.findall(row["text"]))
    return {
        lang: np.array(ws or _FALLBACK_WORDS[lang].split(), dtype=object)
        for lang, ws in words.items()
    }


def dev_questions(evaldata: Path = DEFAULT_EVALDATA) -> list[str]:
    """Unique dev questions in file order (all four groups)."""
    path = Path(evaldata) / QUESTIONS
    if not path.is_file():
        return []
    seen: dict[str, None] = {}
    for row in read_jsonl(path):
        seen.setdefault(row["question"].strip(), None)
    return list(seen)


def sample_questions(
    n: int, seed: int, evaldata: Path, streams: dict[str, np.ndarray]
) -> list[str]:
    """`n` distinct real questions (synthetic ones from the vocabulary if the file is missing)."""
    qs = dev_questions(evaldata)
    rng = random.Random(seed)
    if len(qs) >= n:
        return rng.sample(qs, n)
    out = list(qs)
    langs = sorted(streams)
    while len(out) < n:
        stream = streams[langs[len(out) % len(langs)]]
        out.append(" ".join(str(stream[rng.randrange(len(stream))]) for _ in range(6)) + "?")
    return out


# --- 1. indexing throughput ----------------------------------------------------------


def pick_passages(
    embedder: Embedder,
    evaldata: Path = DEFAULT_EVALDATA,
    n: int = 120,
    tokens: tuple[int, int] = (150, 260),
) -> list[dict]:
    """~`n` real kk and ru passages of about 200 embedder tokens, alternating languages."""
    by_lang = []
    for name in (POOLS["kk"], POOLS["ru"]):
        rows = read_jsonl(Path(evaldata) / name)
        for r in rows:
            r["_tokens"] = embedder.count_tokens(file_text(r))
        by_lang.append(rows)
    lo, hi = tokens
    picked: list[dict] = []
    fits = [[r for r in rows if lo <= r["_tokens"] <= hi] for rows in by_lang]
    for pair in zip(*fits, strict=False):
        picked.extend(pair)
    if len(picked) < n:  # not enough in range: take the closest to 200 tokens
        taken = {r["passage_id"] for r in picked}
        rest = sorted(
            (r for rows in by_lang for r in rows if r["passage_id"] not in taken),
            key=lambda r: abs(r["_tokens"] - 200),
        )
        picked.extend(rest[: n - len(picked)])
    return picked[:n]


def file_text(row: dict) -> str:
    """A passage as a .txt file: its title on the first line when it has one."""
    title = (row.get("title") or "").strip()
    return f"{title}\n\n{row['text']}\n" if title else f"{row['text']}\n"


class RecordingEmbedder:
    """Passes everything to `inner` and records the batches `embed_passages` receives, so
    the raw side can replay exactly what the pipeline embedded, in its order and batches."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.batches: list[list[str]] = []

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.embed_passages(texts)


def bench_indexing(
    embedder: Embedder,
    evaldata: Path = DEFAULT_EVALDATA,
    n_passages: int = 120,
    log: Log = print,
) -> dict[str, Any]:
    """`index_paths` (cache=None) on real passages vs the raw embedder on the same texts."""
    from rag.ingest.chunking import chunk_document
    from rag.ingest.documents import load_document

    rows = pick_passages(embedder, evaldata, n_passages)
    chunking = ChunkSettings()
    out: dict[str, Any] = {"embedder": embedder.name, "passages": len(rows)}
    with tempfile.TemporaryDirectory(prefix="jauap-bench-index-") as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for i, r in enumerate(rows):
            (folder / f"{i:03d}_{r['passage_id']}.txt").write_text(file_text(r), encoding="utf-8")
        # both sides get a warm model (sessions are created lazily on first use)
        embedder.embed_passages(["warm-up", "разминка"])
        index_dir = Path(tmp) / "index"
        recorder = RecordingEmbedder(embedder)
        report = index_paths([folder], index_dir, recorder, chunking, cache=None)
        out["report"] = report.to_dict()

        # Raw side: the same texts in the same batches (chunks come first, then sentences).
        raw = {"chunks": 0.0, "sentences": 0.0}
        done = 0
        for part in recorder.batches:
            label = "chunks" if done < report.embedded_chunks else "sentences"
            started = time.perf_counter()
            embedder.embed_passages(part)
            raw[label] += time.perf_counter() - started
            done += len(part)
        raw_texts = [t for part in recorder.batches for t in part]
        data = store.load(index_dir)
        chunk_texts = [embed_text(data.docs[c.doc_id], c.text) for c in data.chunks]
        raw_s = raw["chunks"] + raw["sentences"]

        # where the non-embedding time goes (each step re-timed on its own)
        parts: dict[str, float] = {}
        t = time.perf_counter()
        docs = [load_document(p) for p in sorted(folder.iterdir())]
        parts["read+clean+detect"] = time.perf_counter() - t
        t = time.perf_counter()
        for d in docs:
            chunk_document(d, embedder.count_tokens, chunking)
        parts["chunking (count_tokens)"] = time.perf_counter() - t
        t = time.perf_counter()
        sum(embedder.count_tokens(x) for x in raw_texts)
        parts["embedded_tokens count"] = time.perf_counter() - t
        t = time.perf_counter()
        BM25Channel.build(chunk_texts, data.chunk_langs)
        parts["bm25 build"] = time.perf_counter() - t
        t = time.perf_counter()
        store.build_ann(data.vectors)
        parts["faiss build"] = time.perf_counter() - t
        t = time.perf_counter()
        store.save(data, Path(tmp) / "index-copy")
        parts["save"] = time.perf_counter() - t

    pipe_s = report.seconds
    chunk_tokens = [embedder.count_tokens(t) for t in raw_texts[: report.embedded_chunks]]
    out.update(
        chunks=report.chunks,
        sentences_embedded=report.embedded_sentences,
        chunks_embedded=report.embedded_chunks,
        embedded_tokens=report.embedded_tokens,
        mean_chunk_tokens=float(np.mean(chunk_tokens)) if chunk_tokens else 0.0,
        pipeline_s=pipe_s,
        pipeline_embed_s=report.embed_seconds,
        raw_embed_s=raw_s,
        raw_chunks_s=raw["chunks"],
        raw_sentences_s=raw["sentences"],
        raw_texts=len(raw_texts),
        batches=len(recorder.batches),
        chunks_per_s=report.chunks / pipe_s,
        texts_per_s=(report.embedded_chunks + report.embedded_sentences) / pipe_s,
        tokens_per_s=report.embedded_tokens / pipe_s,
        raw_chunks_per_s=report.chunks / raw_s if raw_s else None,
        raw_tokens_per_s=report.embedded_tokens / raw_s if raw_s else None,
        overhead_pct=100.0 * (pipe_s - raw_s) / raw_s if raw_s else None,
        non_embed_s=pipe_s - report.embed_seconds,
        # same texts, same batches: the gap between these two is measurement noise
        embed_inside_vs_raw_pct=100.0 * (report.embed_seconds - raw_s) / raw_s if raw_s else None,
        non_embed_pct=100.0 * (pipe_s - report.embed_seconds) / report.embed_seconds
        if report.embed_seconds
        else None,
        overhead_parts_s=parts,
    )
    if out["raw_texts"] != report.embedded_chunks + report.embedded_sentences:
        log(
            f"  NOTE: raw side embedded {out['raw_texts']} texts, the pipeline "
            f"{report.embedded_chunks + report.embedded_sentences}"
        )
    log(
        f"  {len(rows)} passages -> {report.chunks} chunks (mean {out['mean_chunk_tokens']:.0f} "
        f"tokens) + {report.embedded_sentences} sentence texts, {report.embedded_tokens} tokens"
    )
    log(
        f"  pipeline {pipe_s:.2f} s (embedding {report.embed_seconds:.2f} s) | raw "
        f"embed_passages, the pipeline's {len(recorder.batches)} batches replayed: {raw_s:.2f} s "
        f"(chunks {raw['chunks']:.2f} + sentences {raw['sentences']:.2f})"
    )
    log(
        f"  chunks/s {out['chunks_per_s']:.2f} (target >= {TARGETS['index_chunks_per_s']:.0f}; "
        f"each chunk also brings ~{report.embedded_sentences / max(1, report.chunks):.1f} "
        f"sentence vectors) | texts/s {out['texts_per_s']:.2f} | tokens/s "
        f"{out['tokens_per_s']:.0f} (raw {_fmt(out['raw_tokens_per_s'], 0)})"
    )
    log(
        f"  overhead (pipeline - raw) / raw = {_fmt(out['overhead_pct'])} % "
        f"(target < {TARGETS['index_overhead_pct']:.0f} %); non-embedding time "
        f"{out['non_embed_s']:.2f} s = {_fmt(out['non_embed_pct'])} % of the pipeline's own "
        f"embedding time; pipeline embedding vs raw {_fmt(out['embed_inside_vs_raw_pct'])} % "
        "(same texts and batches: a noise gauge)"
    )
    log(
        "  non-embedding steps, re-timed alone: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
    )
    return out


# --- 2. unchanged re-index -------------------------------------------------------------


def write_synthetic_docs(
    folder: Path, n: int, streams: dict[str, np.ndarray], seed: int = 0
) -> None:
    """`n` small .txt documents: a few sentences each, mostly one language with some words
    from the others (as real kk/ru text with English names is)."""
    rng = np.random.default_rng(seed)
    langs = ("ru", "kk", "en")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        main = langs[i % 3]
        sentences = []
        for _ in range(int(rng.integers(3, 7))):
            words = []
            for _ in range(int(rng.integers(6, 15))):
                lang = main if rng.random() < 0.85 else langs[int(rng.integers(0, 3))]
                stream = streams[lang]
                words.append(str(stream[int(rng.integers(0, len(stream)))]))
            sentences.append(words[0].capitalize() + " " + " ".join(words[1:]) + ".")
        title = (
            f"Document {i}" if main == "en" else f"Құжат {i}" if main == "kk" else f"Документ {i}"
        )
        (folder / f"doc_{i:05d}.txt").write_text(
            title + "\n\n" + " ".join(sentences) + "\n", "utf-8"
        )


def bench_reindex(
    embedder: Embedder | None = None,
    n_docs: int = 1000,
    repeats: int = 3,
    evaldata: Path = DEFAULT_EVALDATA,
    streams: dict[str, np.ndarray] | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Time `index_paths` on an unchanged folder (after a first build); fake embedder by default."""
    from rag.ingest.documents import discover, file_hash

    embedder = embedder or FakeEmbedder()
    streams = streams if streams is not None else word_streams(evaldata)
    chunking = ChunkSettings()
    with tempfile.TemporaryDirectory(prefix="jauap-bench-reindex-") as tmp:
        folder, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        write_synthetic_docs(folder, n_docs, streams)
        first = index_paths([folder], index_dir, embedder, chunking, cache=None)
        runs = []
        for _ in range(max(1, repeats)):
            runs.append(index_paths([folder], index_dir, embedder, chunking, cache=None))
        # parts of an unchanged run, each timed alone
        t = time.perf_counter()
        files = list(discover([folder]))
        for p in files:
            file_hash(p)
        hash_s = time.perf_counter() - t
        t = time.perf_counter()
        store.load(index_dir)
        load_s = time.perf_counter() - t
    secs = sorted(r.seconds for r in runs)
    out = {
        "embedder": embedder.name,
        "documents": first.documents,
        "chunks": first.chunks,
        "first_build_s": first.seconds,
        "reindex_s": secs[len(secs) // 2],
        "reindex_runs_s": [r.seconds for r in runs],
        "embedded_chunks": max(r.embedded_chunks for r in runs),
        "embedded_sentences": max(r.embedded_sentences for r in runs),
        "unchanged": runs[0].unchanged,
        "new": runs[0].new,
        "changed": runs[0].changed,
        "scan_and_hash_s": hash_s,
        "load_index_s": load_s,
        "target_s": TARGETS["reindex_s"],
    }
    log(
        f"  {out['documents']} docs / {out['chunks']} chunks; first build {first.seconds:.2f} s "
        f"({embedder.name} embedder)"
    )
    log(
        f"  unchanged re-index: median {out['reindex_s']:.3f} s over {len(runs)} runs "
        f"{[round(s, 3) for s in out['reindex_runs_s']]} (target < {TARGETS['reindex_s']:.0f} s); "
        f"embedded_chunks={out['embedded_chunks']} embedded_sentences={out['embedded_sentences']} "
        f"unchanged={out['unchanged']}"
    )
    log(
        f"  of which (re-timed alone): scan+hash files {hash_s:.3f} s, full store.load of the "
        f"previous index {load_s:.3f} s"
    )
    return out


# --- 3. query latency ------------------------------------------------------------------


def unit_vectors(rng: np.random.Generator, n: int, dim: int, block: int = 50_000) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, block):
        v = rng.standard_normal((min(block, n - s), dim), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[s : s + len(v)] = v
    return out


def synthetic_index(
    n: int,
    dim: int,
    streams: dict[str, np.ndarray],
    embedder: Embedder,
    words_per_chunk: int = 100,
    sentences_per_chunk: int = 3,
    seed: int = 0,
    ann_threshold: int = store.HNSW_THRESHOLD,
) -> tuple[store.IndexData, dict[str, float]]:
    """An `IndexData` of `n` synthetic chunks (one document each), languages round-robin
    ru/kk/en, words drawn from real text, random unit vectors for chunks and sentences."""
    rng = np.random.default_rng(seed)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    langs = ("ru", "kk", "en")
    per_sent = max(1, words_per_chunk // sentences_per_chunk)
    docs: dict[str, Document] = {}
    chunks: list[Chunk] = []
    texts: list[str] = []
    chunk_langs: list[str] = []
    for lang_i, lang in enumerate(langs):
        rows = range(lang_i, n, 3)
        stream = streams[lang]
        idx = rng.integers(0, len(stream), size=(len(rows), sentences_per_chunk, per_sent))
        words = stream[idx]
        for r, row in enumerate(rows):
            parts, spans, pos = [], [], 0
            for s in range(sentences_per_chunk):
                sent = " ".join(words[r, s]) + "."
                parts.append(sent)
                spans.append((pos, pos + len(sent)))
                pos += len(sent) + 1
            text = " ".join(parts)
            doc_id = f"syn{row:07d}"
            docs[doc_id] = Document(doc_id, f"synthetic/{doc_id}.txt", "", lang, text, doc_id)
            chunks.append(Chunk(f"c{row:07d}", doc_id, 0, 0, len(text), text, tuple(spans)))
            texts.append(text)
            chunk_langs.append(lang)
    order = sorted(range(n), key=lambda i: chunks[i].doc_id)
    chunks = [chunks[i] for i in order]
    texts = [texts[i] for i in order]
    chunk_langs = [chunk_langs[i] for i in order]
    vectors = unit_vectors(rng, n, dim)
    sentence_vectors = unit_vectors(rng, n * sentences_per_chunk, dim)
    sentence_rows = [
        list(range(i * sentences_per_chunk, (i + 1) * sentences_per_chunk)) for i in range(n)
    ]
    timings["generate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ann, kind = store.build_ann(vectors, threshold=ann_threshold)
    timings["ann_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    bm25 = BM25Channel.build(texts, chunk_langs)
    timings["bm25_build_s"] = time.perf_counter() - t
    data = store.IndexData(
        manifest=store.Manifest(
            embedder=embedder.name,
            fingerprint=embedder.fingerprint(),
            dim=dim,
            chunking=asdict(ChunkSettings()),
            ann=kind,
            documents=n,
            chunks=n,
            sentences=n * sentences_per_chunk,
            versions=store.package_versions(),
        ),
        docs=docs,
        chunks=chunks,
        chunk_keys=[c.chunk_id for c in chunks],
        vectors=vectors,
        sentence_keys=[f"s{j}" for j in range(n * sentences_per_chunk)],
        sentence_vectors=sentence_vectors,
        sentence_rows=sentence_rows,
        bm25=bm25,
        ann=ann,
    )
    return data, timings


def ann_recall(
    vectors: np.ndarray, ann: object, queries: np.ndarray, k: int = 10
) -> tuple[float, dict[str, Any]]:
    """recall@k of `ann` against exact inner-product search, plus single-query latencies."""
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors))
    _, truth = exact.search(queries, k)
    _, got = ann.search(queries, k)  # type: ignore[attr-defined]
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, got, strict=True)]))
    lat: dict[str, list[float]] = {"exact": [], "ann": []}
    for q in queries:
        for name, index in (("exact", exact), ("ann", ann)):
            t = time.perf_counter()
            index.search(q[None, :], k)  # type: ignore[attr-defined]
            lat[name].append(time.perf_counter() - t)
    return recall, {f"{name}_ms": stats_ms(v) for name, v in lat.items()}


def _measure_load_subprocess(index_dir: Path, dim: int) -> dict[str, Any]:
    """Load a saved index in a fresh interpreter: load seconds, RSS before/after, peak."""
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "def mem():\n"
        "    d = {}\n"
        "    for line in open('/proc/self/status'):\n"
        "        k, _, v = line.partition(':')\n"
        "        if k in ('VmRSS', 'VmHWM'): d[k] = int(v.split()[0]) / 1024\n"
        "    return d\n"
        "from rag.index import store\n"
        "from rag.index.embedders import FakeEmbedder\n"
        "from rag.search.hybrid import HybridRetriever\n"
        "import faiss, bm25s\n"
        "before = mem()\n"
        "t = time.perf_counter()\n"
        f"data = store.load(Path({str(index_dir)!r}))\n"
        f"r = HybridRetriever(data, FakeEmbedder({dim}))\n"
        "s = time.perf_counter() - t\n"
        "after = mem()\n"
        "print(json.dumps({'load_s': s, 'rss_before_mb': before['VmRSS'], "
        "'rss_after_mb': after['VmRSS'], 'hwm_mb': after['VmHWM']}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_query_latency(
    embedder: Embedder,
    sizes: Sequence[int] = (1_000, 10_000, 100_000),
    n_queries: int = 200,
    recall_queries: int = 200,
    evaldata: Path = DEFAULT_EVALDATA,
    streams: dict[str, np.ndarray] | None = None,
    words_per_chunk: int = 100,
    sentences_per_chunk: int = 3,
    measure_load: bool = True,
    seed: int = 0,
    log: Log = print,
) -> dict[str, Any]:
    """p50/p95 of `HybridRetriever.search(q, k=5)` on synthetic indexes of each size, with
    the query embedding, dense and BM25 parts timed alone; HNSW recall@10 and memory on the
    largest (HNSW is forced there for the recall figure if the size is below the threshold)."""
    import faiss

    streams = streams if streams is not None else word_streams(evaldata)
    warmup = 5
    questions = sample_questions(n_queries + warmup, seed, evaldata, streams)
    warm, timed = questions[:warmup], questions[warmup:]
    qlangs = [detect(q) for q in timed]
    dim = embedder.dim
    omp_default = faiss.omp_get_max_threads()
    out: dict[str, Any] = {
        "embedder": embedder.name,
        "sizes": list(sizes),
        "queries": len(timed),
        "faiss_build_threads": omp_default,
        "faiss_query_threads": 1,
        "per_size": {},
    }
    largest = max(sizes)
    for n in sizes:
        data, build = synthetic_index(
            n, dim, streams, embedder, words_per_chunk, sentences_per_chunk, seed
        )
        retriever = HybridRetriever(data, embedder)
        cand = max(retriever.settings.candidates, 5)
        faiss.omp_set_num_threads(1)
        try:
            for q in warm:
                retriever.retrieve(q, k=5)
            total: list[float] = []
            for q in timed:
                t = time.perf_counter()
                retriever.retrieve(q, k=5)
                total.append(time.perf_counter() - t)
            # Second pass on a fresh retriever, per query: the embedding alone (query_vector
            # = embed_queries plus its small memo), then search() again, which reuses the
            # memoised vector (as answering does), then the dense and BM25 channels alone.
            parts = HybridRetriever(data, embedder)
            embed, no_embed, dense, bm25, rest = [], [], [], [], []
            for q, lang in zip(timed, qlangs, strict=True):
                t = time.perf_counter()
                vec = parts.query_vector(q)
                embed.append(time.perf_counter() - t)
                t = time.perf_counter()
                parts.retrieve(q, k=5)
                no_embed.append(time.perf_counter() - t)
                t = time.perf_counter()
                parts.dense(vec, cand)
                dense.append(time.perf_counter() - t)
                t = time.perf_counter()
                data.bm25.search(q, lang, cand)
                bm25.append(time.perf_counter() - t)
                rest.append(max(0.0, no_embed[-1] - dense[-1] - bm25[-1]))
        finally:
            faiss.omp_set_num_threads(omp_default)
        res: dict[str, Any] = {
            "ann": data.manifest.ann,
            **build,
            "search_ms": stats_ms(total),
            "embed_ms": stats_ms(embed),
            "search_without_embed_ms": stats_ms(no_embed),
            "dense_ms": stats_ms(dense),
            "bm25_ms": stats_ms(bm25),
            "rest_ms": stats_ms(rest),  # language detection, fusion, sentence re-rank, hits
        }
        out["per_size"][str(n)] = res
        log(
            f"  {n:>7} chunks ({res['ann']:6}): search p50 {_fmt(res['search_ms']['p50'])} "
            f"p95 {_fmt(res['search_ms']['p95'])} ms | parts, p50/p95 ms: embed "
            f"{_fmt(res['embed_ms']['p50'])}/{_fmt(res['embed_ms']['p95'])}, rest of search "
            f"{_fmt(res['search_without_embed_ms']['p50'], 2)}/"
            f"{_fmt(res['search_without_embed_ms']['p95'], 2)} = dense "
            f"{_fmt(res['dense_ms']['p50'], 2)}/{_fmt(res['dense_ms']['p95'], 2)} + bm25 "
            f"{_fmt(res['bm25_ms']['p50'], 2)}/{_fmt(res['bm25_ms']['p95'], 2)} + detect/fuse/"
            f"rerank {_fmt(res['rest_ms']['p50'], 2)}/{_fmt(res['rest_ms']['p95'], 2)}"
        )
        log(
            f"           build: generate {build['generate_s']:.1f} s, {res['ann']} "
            f"{build['ann_build_s']:.1f} s, bm25 {build['bm25_build_s']:.1f} s"
        )
        if n == largest:
            mem = proc_memory_mb()
            arrays_mb = (data.vectors.nbytes + data.sentence_vectors.nbytes) / 2**20
            out["memory"] = {**mem, "size": n, "vector_arrays_mb": arrays_mb}
            log(
                f"  memory with the {n}-chunk index in this process: VmRSS {mem['rss_mb']:.0f} "
                f"MiB, VmHWM {mem['hwm_mb']:.0f} MiB (vector arrays {arrays_mb:.0f} MiB; "
                "includes build leftovers and the embedding model)"
            )
            rng = np.random.default_rng(seed + 1)
            queries = unit_vectors(rng, recall_queries, dim)
            forced = not data.manifest.ann.startswith("hnsw")
            ann, ann_s = data.ann, build["ann_build_s"]
            if forced:
                t = time.perf_counter()
                ann, _ = store.build_ann(data.vectors, threshold=0)
                ann_s = time.perf_counter() - t
            # queries close to an indexed vector (cosine ~0.9): closer to how real,
            # clustered embeddings behave than uniform random queries
            near = data.vectors[rng.integers(0, n, recall_queries)] + 0.5 * unit_vectors(
                rng, recall_queries, dim
            )
            near /= np.linalg.norm(near, axis=1, keepdims=True)
            faiss.omp_set_num_threads(1)
            try:
                recall, lat = ann_recall(data.vectors, ann, queries)
                recall_near, _ = ann_recall(data.vectors, ann, near)
            finally:
                faiss.omp_set_num_threads(omp_default)
            out["recall"] = {
                "size": n,
                "index": "hnsw32 (efConstruction 80, efSearch 96)",
                "forced_hnsw": forced,
                "build_s": ann_s,
                "recall_at_10": recall,
                "recall_at_10_near_queries": recall_near,
                "queries": recall_queries,
                **lat,
            }
            log(
                f"  HNSW at {n}{' (forced; the index itself is flat)' if forced else ''}: build "
                f"{ann_s:.1f} s on {omp_default} threads; recall@10 vs IndexFlatIP "
                f"{recall:.3f} (random unit queries), {recall_near:.3f} (queries near indexed "
                f"vectors); 1-query search p50 exact {_fmt(lat['exact_ms']['p50'], 2)} ms, "
                f"hnsw {_fmt(lat['ann_ms']['p50'], 2)} ms"
            )
            if measure_load:
                with tempfile.TemporaryDirectory(prefix="jauap-bench-load-") as tmp:
                    t = time.perf_counter()
                    store.save(data, Path(tmp))
                    save_s = time.perf_counter() - t
                    disk = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
                    loaded = _measure_load_subprocess(Path(tmp), dim)
                out["load"] = {"size": n, "save_s": save_s, "disk_mb": disk / 2**20, **loaded}
                if "error" in loaded:
                    log(f"  load in a fresh process failed: {loaded['error']}")
                else:
                    log(
                        f"  saved {n}-chunk index: {disk / 2**20:.0f} MiB on disk, save "
                        f"{save_s:.1f} s; fresh process store.load + HybridRetriever "
                        f"{loaded['load_s']:.1f} s, VmRSS {loaded['rss_before_mb']:.0f} -> "
                        f"{loaded['rss_after_mb']:.0f} MiB, VmHWM {loaded['hwm_mb']:.0f} MiB "
                        "(no embedding model loaded)"
                    )
        del retriever, parts, data
    return out


# --- 4. retrieval quality ----------------------------------------------------------------


def bench_quality(
    embedder_name: str,
    evaldata: Path = DEFAULT_EVALDATA,
    limit: int = 0,
    modes: Sequence[str] = ("dense", "bm25", "hybrid"),
    mixed_modes: Sequence[str] = ("dense", "hybrid"),
    log: Log = print,
) -> dict[str, Any]:
    """hit@1 / hit@5 / mrr@10 per group via `rag.evalcli.run_eval` for each pool and mode,
    plus a pool mixing all three passage files."""
    from rag.eval.command import run_eval
    from rag.settings import Settings

    questions = Path(evaldata) / QUESTIONS
    runs: list[tuple[str, list[Path], str]] = [
        (pool, [Path(evaldata) / f], m) for pool, f in POOLS.items() for m in modes
    ]
    runs += [("mixed", [Path(evaldata) / f for f in POOLS.values()], m) for m in mixed_modes]
    settings = Settings(embedder=embedder_name)
    relevant = {r["id"]: set(r["relevant_passage_ids"]) for r in read_jsonl(questions)}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    started_all = time.perf_counter()
    # run_eval indexes into tempfile.mkdtemp() and never removes it: point tempfile at a
    # folder of ours for the duration and remove that.
    with tempfile.TemporaryDirectory(prefix="jauap-bench-quality-") as tmp:
        saved = tempfile.tempdir
        tempfile.tempdir = tmp
        try:
            for pool, files, mode in runs:
                t = time.perf_counter()
                summary, rows = run_eval(
                    settings,
                    questions_file=questions,
                    passages=files,
                    answers=False,
                    retrieval=RetrievalSettings(mode=mode),
                    limit=limit,
                    log=lambda s, p=pool, m=mode: log(f"  [{p}/{m}] {s}"),
                )
                for group, s in summary["groups"].items():
                    results.setdefault(f"{group}|{pool}", {})[mode] = {
                        "n": s["n"],
                        "hit@1": s["hit@1"],
                        "hit@5": s["hit@5"],
                        "mrr@10": s["mrr@10"],
                        "retrieval_p50_ms": s["retrieval_p50_ms"],
                        "retrieval_p95_ms": s["retrieval_p95_ms"],
                    }
                if pool == "mixed":
                    parallel = parallel_aware(rows, relevant)
                    if parallel:
                        results.setdefault(f"{PARALLEL_GROUP}|mixed", {})[mode] = parallel
                log(f"  [{pool}/{mode}] done in {time.perf_counter() - t:.1f} s")
        finally:
            tempfile.tempdir = saved
    out = {
        "embedder": embedder_name,
        "limit_per_group": limit,
        "seconds": time.perf_counter() - started_all,
        "results": results,
    }
    log("")
    log(format_quality(out, modes))
    if any(k.startswith(PARALLEL_GROUP) for k in results):
        log(
            f"  {PARALLEL_GROUP}: en->ru in the mixed pool with the English parallel passage "
            "(xquad.en.X is a translation of the gold xquad.ru.X, and the mixed pool holds both) "
            "counted as a hit"
        )
    return out


PARALLEL_GROUP = "en->ru*"


def parallel_aware(rows: list[dict[str, Any]], relevant: dict[str, set[str]]) -> dict[str, Any]:
    """hit@1/hit@5/mrr@10 of the en->ru rows when a passage's XQuAD translation counts."""
    from rag.eval import metrics

    def norm(pid: str) -> str:
        return re.sub(r"^xquad\.(en|ru)\.", "xquad.*.", pid)

    scores: dict[str, list[float]] = {"hit@1": [], "hit@5": [], "mrr@10": []}
    for row in rows:
        if row["group"] != "en->ru" or row["id"] not in relevant:
            continue
        ranked = metrics.dedupe([norm(p) for p in row["ranked"]])
        rel = {norm(p) for p in relevant[row["id"]]}
        scores["hit@1"].append(metrics.hit_at(ranked, rel, 1))
        scores["hit@5"].append(metrics.hit_at(ranked, rel, 5))
        scores["mrr@10"].append(metrics.mrr_at(ranked, rel, 10))
    if not scores["hit@1"]:
        return {}
    return {"n": len(scores["hit@1"]), **{k: sum(v) / len(v) for k, v in scores.items()}}


def _quality_order(item: str | tuple[str, Any]) -> tuple[bool, int, str]:
    """Table order: single-language pools first, then the mixed pool; groups as GROUPS."""
    key = item if isinstance(item, str) else item[0]
    group, pool = key.split("|")
    order = (*GROUPS, PARALLEL_GROUP)
    return (pool == "mixed", order.index(group) if group in order else 99, pool)


def format_quality(out: dict[str, Any], modes: Sequence[str] = ("dense", "bm25", "hybrid")) -> str:
    cols = [(m, k) for m in modes for k in ("hit@1", "hit@5", "mrr@10")]
    head1 = f"{'group':8} {'pool':6} {'n':>4}  " + "  ".join(f"{m:^20}" for m in modes)
    head2 = f"{'':8} {'':6} {'':>4}  " + "  ".join(
        " ".join(f"{k:>6}" for k in ("hit@1", "hit@5", "mrr10")) for _ in modes
    )
    lines = [head1, head2]

    for key in sorted(out["results"], key=_quality_order):
        group, pool = key.split("|")
        row = out["results"][key]
        n = next(iter(row.values()))["n"]
        cells = []
        for i, (m, k) in enumerate(cols):
            v = row.get(m, {}).get(k)
            cells.append(
                ("  " if i and i % 3 == 0 else "")
                + (f"{v:>6.3f}" if v is not None else f"{'-':>6}")
            )
        lines.append(f"{group:8} {pool:6} {n:>4}  " + " ".join(cells))
    return "\n".join(lines)


# --- 5. answer latency -----------------------------------------------------------------


def bench_answer(
    embedder: Embedder,
    gold: Path = GOLD,
    corpus: Path = CORPUS,
    limit: int = 0,
    use_cache: bool = True,
    log: Log = print,
) -> dict[str, Any]:
    """p50/p95 of `Assistant.ask` (extractive) over the gold questions on the sample corpus."""
    from rag.answer.assistant import Assistant
    from rag.index.vector_cache import VectorCache

    questions = [r["question"] for r in read_jsonl(gold)]
    if limit:
        questions = questions[:limit]
    cache = VectorCache(Settings.from_env().vector_cache_path, embedder.fingerprint()) if use_cache else None
    with tempfile.TemporaryDirectory(prefix="jauap-bench-answer-") as tmp:
        report = index_paths([corpus], Path(tmp), embedder, ChunkSettings(), cache=cache)
        retriever = HybridRetriever(store.load(Path(tmp)), embedder)
    assistant = Assistant(retriever, None, k=5)
    assistant.ask("warm-up question about the media forum")
    total, parts = [], {"retrieval": [], "generation": [], "citation_check": []}
    refused = 0
    for q in questions:
        t = time.perf_counter()
        ans = assistant.ask(q)
        total.append(time.perf_counter() - t)
        refused += ans.refused
        for k in parts:
            if k in ans.timings:
                parts[k].append(ans.timings[k])
    out = {
        "embedder": embedder.name,
        "questions": len(questions),
        "chunks": report.chunks,
        "index_s": report.seconds,
        "refused": refused,
        "ask_ms": stats_ms(total),
        **{f"{k}_ms": stats_ms(v) for k, v in parts.items()},
    }
    log(
        f"  {len(questions)} gold questions over {report.documents} documents / {report.chunks} "
        f"chunks ({refused} refused)"
    )
    for k in ("ask", "retrieval", "generation", "citation_check"):
        s = out[f"{k}_ms"]
        log(f"  {k:15} p50 {_fmt(s['p50'])} ms  p95 {_fmt(s['p95'])} ms  (n={s['n']})")
    return out


# --- driver ----------------------------------------------------------------------------

SECTIONS = ("index", "reindex", "query", "quality", "answer")


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, value, target, verdict) rows for the final table."""
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else "meets" if ok else "MISSES"

    if "index" in results:
        r = results["index"]
        rows.append(
            (
                "index: chunks/s (~200 tok + sentences)",
                f"{r['chunks_per_s']:.2f}",
                f">= {TARGETS['index_chunks_per_s']:.0f}",
                verdict(r["chunks_per_s"] >= TARGETS["index_chunks_per_s"]),
            )
        )
        rows.append(("index: tokens/s", f"{r['tokens_per_s']:.0f}", "", ""))
        ov = r["overhead_pct"]
        rows.append(
            (
                "index: overhead vs raw embedder",
                f"{_fmt(ov)} %",
                f"< {TARGETS['index_overhead_pct']:.0f} %",
                verdict(None if ov is None else ov < TARGETS["index_overhead_pct"]),
            )
        )
    if "reindex" in results:
        r = results["reindex"]
        rows.append(
            (
                f"reindex: {r['documents']} unchanged docs",
                f"{r['reindex_s']:.3f} s",
                f"< {TARGETS['reindex_s']:.0f} s",
                verdict(r["reindex_s"] < TARGETS["reindex_s"] and r["embedded_chunks"] == 0),
            )
        )
        rows.append(
            (
                "reindex: embedded_chunks",
                str(r["embedded_chunks"]),
                "0",
                verdict(r["embedded_chunks"] == 0),
            )
        )
    if "query" in results:
        r = results["query"]
        for n, s in r["per_size"].items():
            p95 = s["search_ms"]["p95"]
            target = "< 50 ms" if int(n) >= 100_000 else ""
            ok = None if not target else p95 < TARGETS["query_p95_ms_at_100k"]
            rows.append(
                (
                    f"query: search p50/p95 @ {int(n):,}",
                    f"{_fmt(s['search_ms']['p50'])} / {_fmt(p95)} ms",
                    target,
                    verdict(ok),
                )
            )
            rows.append(
                (
                    f"query: embed-only p50/p95 @ {int(n):,}",
                    f"{_fmt(s['embed_ms']['p50'])} / {_fmt(s['embed_ms']['p95'])} ms",
                    "",
                    "",
                )
            )
            rows.append(
                (
                    f"query: search minus embed p50/p95 @ {int(n):,}",
                    f"{_fmt(s['search_without_embed_ms']['p50'])} / "
                    f"{_fmt(s['search_without_embed_ms']['p95'])} ms",
                    "",
                    "",
                )
            )
        if "recall" in r:
            rc = r["recall"]
            rows.append(
                (
                    f"query: HNSW recall@10 @ {rc['size']:,}",
                    f"{rc['recall_at_10']:.3f} (near {rc['recall_at_10_near_queries']:.3f})",
                    "",
                    "",
                )
            )
            rows.append((f"query: HNSW build @ {rc['size']:,}", f"{rc['build_s']:.1f} s", "", ""))
        if "memory" in r:
            m = r["memory"]
            rows.append(
                (
                    f"query: RSS / peak @ {m['size']:,} (bench proc)",
                    f"{m['rss_mb']:.0f} / {m['hwm_mb']:.0f} MiB",
                    "",
                    "",
                )
            )
        if "load" in r and "error" not in r["load"]:
            ld = r["load"]
            rows.append(
                (
                    f"query: fresh load @ {ld['size']:,}",
                    f"{ld['load_s']:.1f} s, RSS {ld['rss_after_mb']:.0f} MiB",
                    "",
                    "",
                )
            )
    if "quality" in results:
        for key, row in sorted(results["quality"]["results"].items(), key=_quality_order):
            h = row.get("hybrid")
            if h:
                rows.append(
                    (
                        f"quality: hybrid {key.replace('|', ' pool ')}",
                        f"hit@1 {h['hit@1']:.3f} mrr {h['mrr@10']:.3f}",
                        "",
                        "",
                    )
                )
    if "answer" in results:
        r = results["answer"]
        for k in ("ask", "retrieval", "generation"):
            s = r[f"{k}_ms"]
            rows.append((f"answer: {k} p50/p95", f"{_fmt(s['p50'])} / {_fmt(s['p95'])} ms", "", ""))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer queries (minutes)")
    ap.add_argument(
        "--embedder", default=DEFAULT_EMBEDDER, help="embedder name (default %(default)s)"
    )
    ap.add_argument("--sizes", help="query-latency index sizes, e.g. 1000,10000,100000")
    ap.add_argument(
        "--sections", default=",".join(SECTIONS), help="comma list of " + ",".join(SECTIONS)
    )
    ap.add_argument("--evaldata", type=Path, default=DEFAULT_EVALDATA)
    ap.add_argument("--queries", type=int, help="timed queries per size (default 200, quick 100)")
    ap.add_argument("--json", type=Path, dest="json_out", help="write all numbers here")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.sizes:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    n_queries = args.queries or (100 if args.quick else 200)

    import faiss

    started = time.perf_counter()
    meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": list(sys.argv if argv is None else argv),
        "quick": args.quick,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg(),
        "env": {
            k: os.environ.get(k)
            for k in (
                "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS",
                "OMP_WAIT_POLICY",
                "MKL_NUM_THREADS",
            )
        },
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "versions": store.package_versions(),
    }
    print(
        f"jauap bench: embedder {args.embedder}, sections {','.join(sections)}, "
        f"sizes {sizes}, {n_queries} queries; {meta['cpus']} CPUs, load avg "
        f"{meta['loadavg_start']}; threads {meta['env']}, faiss omp {meta['faiss_omp_threads']}"
    )
    print("(on a shared, busy machine the timings are noisy: compare the load averages)")
    t = time.perf_counter()
    embedder = make_embedder(Settings.from_env().with_(embedder=args.embedder))
    meta["embedder"] = {
        "name": embedder.name,
        "fingerprint": embedder.fingerprint(),
        "dim": embedder.dim,
        "load_s": time.perf_counter() - t,
    }
    streams = word_streams(args.evaldata)
    results: dict[str, Any] = {"meta": meta}
    section_seconds: dict[str, float] = {}

    def run(name: str, title: str, fn: Callable[[], dict[str, Any]]) -> None:
        if name not in sections:
            return
        header(title)
        t0 = time.perf_counter()
        results[name] = fn()
        section_seconds[name] = time.perf_counter() - t0
        results[name]["loadavg_end"] = loadavg()
        print(f"  [{name}: {section_seconds[name]:.1f} s]")

    run(
        "index",
        "1. Indexing throughput (index_paths, cache=None) vs raw embedder",
        lambda: bench_indexing(embedder, args.evaldata, 40 if args.quick else 120),
    )
    run(
        "reindex",
        "2. Re-index of an unchanged folder of 1,000 documents (fake embedder)",
        lambda: bench_reindex(FakeEmbedder(), 1000, evaldata=args.evaldata, streams=streams),
    )
    run(
        "query",
        f"3. Query latency: search(q, k=5) on synthetic indexes {sizes}",
        lambda: bench_query_latency(embedder, sizes, n_queries, 200, args.evaldata, streams),
    )
    run(
        "quality",
        "4. Retrieval quality on the dev sets (run_eval, answers=False)",
        lambda: bench_quality(args.embedder, args.evaldata, 50 if args.quick else 0),
    )
    run(
        "answer",
        "5. Answer latency: Assistant.ask, extractive, gold questions",
        lambda: bench_answer(embedder),
    )

    meta["seconds"] = time.perf_counter() - started
    meta["section_seconds"] = section_seconds
    meta["loadavg_end"] = loadavg()
    meta["memory_end"] = proc_memory_mb()
    header("Summary")
    rows = summary_rows(results)
    w = max([len(r[0]) for r in rows] + [10])
    print(f"{'metric':{w}}  {'value':>30}  {'target':>9}  verdict")
    for metric, value, target, ok in rows:
        print(f"{metric:{w}}  {value:>30}  {target:>9}  {ok}")
    print(
        f"total {meta['seconds']:.0f} s; load avg {meta['loadavg_start']} at start, "
        f"{meta['loadavg_end']} at end; "
        + ", ".join(f"{k} {v:.0f} s" for k, v in section_seconds.items())
    )
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(
            json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
