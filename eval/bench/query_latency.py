"""Retrieval latency (embed + dense + BM25 + fuse + rerank) at N chunks.

    python eval/bench/query_latency.py [--sizes 1000,10000] [--queries 200] [-k 5]
        [--embedder NAME] [--ann-recall] [--faiss-threads N] [--json OUT] [--gate]

For each size an index is built by the real indexer from synthetic documents (see
common.py): real sentences of the dev pools (kk, ru, en) drawn at random into one-chunk
documents; sentence vectors are the real model's (cached after the first run), a chunk's
vector is the normalised mean of its sentences' vectors (synthetic), BM25 indexes the real
words. Queries are real dev questions, embedded by the real model at query time.

Per size it prints p50/p95 of `HybridRetriever.retrieve(q, k)` as served, then the parts
timed alone on the same questions: the query embedding (the same-run baseline: it does
not grow with the index, so it shows how busy the machine was), the rest of retrieval
with the embedding memoised, dense (FAISS) and BM25. `--ann-recall` adds recall@10 of
an HNSW index (as the store builds above its threshold, at several efSearch) against exact
search, with the real query vectors, on two sets: the largest size's chunk vectors
(SYNTHETIC: means of real sentence vectors) and every vector the embedding cache holds
for the model (REAL passage embeddings of the dev/train pools and corpora embedded so
far; group `real`, issue 14's goal >= .95). `--faiss-threads 1` shows what FAISS's default
OpenMP threads cost on a busy 2-core machine (see eval/README.md). Issue 14's goal: p95 <= 100 ms at 1M chunks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    POOLS,
    build_synthetic,
    dev_questions,
    finish,
    load_embedder,
    machine,
    parser,
    stats_ms,
)

from rag.index import store  # noqa: E402
from rag.protocols import Embedder  # noqa: E402
from rag.search.hybrid import HybridRetriever  # noqa: E402
from rag.text.lang import detect  # noqa: E402


def clock(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def measure(data: store.IndexData, embedder: Embedder, questions: list[str], k: int) -> dict[str, Any]:
    """Served latency; then per question on a fresh retriever (no memoised vectors): the
    query embedding, retrieval again (now with the vector memoised), dense and BM25 alone."""
    served = HybridRetriever(data, embedder)
    for q in questions[:5]:
        served.retrieve(q, k)
    total = [clock(served.retrieve, q, k) for q in questions]
    parts = HybridRetriever(data, embedder)
    n = max(parts.settings.candidates, k)
    embed, rest, dense, bm25 = [], [], [], []
    for q in questions:
        started = time.perf_counter()
        vec = parts.query_vector(q)  # a new question: embedded, then memoised
        embed.append(time.perf_counter() - started)
        rest.append(clock(parts.retrieve, q, k))  # uses the memoised vector
        lang = detect(q)
        dense.append(clock(parts.dense, vec, n))
        bm25.append(clock(data.bm25.search, q, lang, n))
    s = {name: stats_ms(v) for name, v in
         (("total", total), ("embed", embed), ("rest", rest), ("dense", dense), ("bm25", bm25))}
    return {"p50_ms": s["total"]["p50"], "p95_ms": s["total"]["p95"],
            "embed_p50_ms": s["embed"]["p50"], "embed_p95_ms": s["embed"]["p95"],
            "without_embed_p50_ms": s["rest"]["p50"], "without_embed_p95_ms": s["rest"]["p95"],
            "dense_p95_ms": s["dense"]["p95"], "bm25_p95_ms": s["bm25"]["p95"], "ms": s}


def cached_vectors(fingerprint: str) -> np.ndarray:
    """REAL embeddings: every passage vector the embedding cache holds for this model
    (sentences and chunks of the dev/train pools and corpora embedded so far), unique rows."""
    import sqlite3

    from rag.settings import Settings

    con = sqlite3.connect(f"file:{Settings.from_env().vector_cache_path}?mode=ro", uri=True)
    try:
        blobs = [b for (b,) in con.execute("SELECT vec FROM vectors WHERE fp = ?", (fingerprint,))]
    finally:
        con.close()
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.unique(np.stack([np.frombuffer(b, dtype=np.float32) for b in blobs]), axis=0)


def ann_sweep(base: np.ndarray, queries: np.ndarray, k: int = 10,
              ef_searches: Sequence[int] = (64, 128, 256, 512), sq8: bool = store.HNSW_SQ8) -> dict[str, Any]:
    """recall@k against exact search of the HNSW index the store builds (its M and
    efConstruction; `sq8`: 8-bit codes), at several efSearch; search ms per query, one
    query at a time."""
    exact, _ = store.build_ann(base, threshold=len(base) + 1)
    started = time.perf_counter()
    hnsw, kind = store.build_ann(base, threshold=0, sq8=sq8)
    out: dict[str, Any] = {"rows": len(base), "kind": kind, "build_s": time.perf_counter() - started,
                           "ef_search_stored": hnsw.hnsw.efSearch, "by_ef": {}}  # type: ignore[attr-defined]
    _, truth = exact.search(queries, k)  # type: ignore[attr-defined]
    for ef in ef_searches:
        hnsw.hnsw.efSearch = ef  # type: ignore[attr-defined]
        got, times = [], []
        for q in queries:
            t0 = time.perf_counter()
            got.append(hnsw.search(q[None, :], k)[1][0])  # type: ignore[attr-defined]
            times.append(time.perf_counter() - t0)
        recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, got, strict=True)]))
        out["by_ef"][ef] = {"recall_at_10": recall, "search_p95_ms": stats_ms(times)["p95"]}
    out["recall_at_10"] = out["by_ef"].get(out["ef_search_stored"], {}).get("recall_at_10")
    return out


def show_sweep(label: str, r: dict[str, Any]) -> None:
    cells = ", ".join(f"efSearch {ef}: {v['recall_at_10']:.3f} ({v['search_p95_ms']:.2f} ms p95)"
                      for ef, v in r["by_ef"].items())
    print(f"  {label}: {r['rows']} vectors, {r['kind']} (efSearch stored {r['ef_search_stored']}) "
          f"built in {r['build_s']:.1f} s; recall@10 vs exact: {cells}")


def ann_quality(args: Any, embedder: Embedder) -> dict[str, Any]:
    """Hybrid retrieval on the dev sets (real passages, questions and vectors) with exact
    dense search and with the HNSW index the store builds above its threshold, swapped in
    on the same loaded index: hit@5 of each and the difference (issue 14: within .005)."""
    from rag.eval.run import aggregate, run
    from rag.eval.sets import load_dev_questions, load_passages
    from rag.index.indexer import index_documents
    from rag.index.vector_cache import VectorCache
    from rag.settings import Settings

    settings = Settings.from_env()
    pools = {"kk": ["kk"], "ru": ["ru"], "en": ["en"], "kk+ru": ["kk", "ru"]}
    out: dict[str, Any] = {}
    for name, langs in pools.items():
        docs = load_passages([args.evaldata / POOLS[lang] for lang in langs])
        ids = {d.doc_id for d in docs}
        questions = [q for q in load_dev_questions(args.evaldata / "dev.questions.jsonl")
                     if q.relevant <= ids]
        cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
        with tempfile.TemporaryDirectory(prefix="jauap-bench-annq-") as tmp:
            index_documents(docs, Path(tmp), embedder, settings.chunking, cache=cache)
            cache.close()
            data = store.load(Path(tmp))
        exact = aggregate(run(questions, HybridRetriever(data, embedder)))["overall"]
        data.ann, kind = store.build_ann(np.asarray(data.vectors), threshold=0)
        ann = aggregate(run(questions, HybridRetriever(data, embedder)))["overall"]
        e, h = exact["hit@5"], ann["hit@5"]  # None when no question has a gold passage
        diff = None if e is None or h is None else h - e
        out[name] = {"questions": len(questions), "chunks": len(data.chunks), "ann": kind,
                     "hit@5_exact": e, "hit@5_ann": h, "hit@5_diff": diff}
        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.4f}"

        print(f"  dev {name}: {len(questions)} questions over {len(data.chunks)} chunks: hybrid "
              f"hit@5 exact {f(e)}, {kind} {f(h)} (diff {f(diff)})")
    diffs = [abs(g["hit@5_diff"]) for g in out.values() if g["hit@5_diff"] is not None]
    out["max_abs_hit5_diff"] = max(diffs) if diffs else None
    return out


def indexes(args: Any, embedder: Embedder) -> Iterator[tuple[int, dict[str, Any], store.IndexData]]:
    """(size, how it was made, loaded index): built per --sizes, or the --index-dir one."""
    if args.index_dir:
        data = store.load(args.index_dir)
        yield data.manifest.chunks, {"chunks": data.manifest.chunks, "given": str(args.index_dir)}, data
        return
    for n in [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]:
        with tempfile.TemporaryDirectory(prefix="jauap-bench-query-") as tmp:
            report, pooled = build_synthetic(n, Path(tmp), embedder, args.evaldata)
            data = store.load(Path(tmp))  # its files stay readable: rows by descriptor, maps
            yield n, {"chunks": report.chunks, "build_s": report.seconds,
                      "model_texts": pooled.model_texts}, data


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="index sizes in chunks")
    ap.add_argument("--index-dir", type=Path, help="measure this index (e.g. a bench index kept) instead")
    ap.add_argument("--queries", type=int, default=200, help="timed dev questions per size")
    ap.add_argument("-k", type=int, default=5, help="passages per retrieval")
    ap.add_argument("--ann-recall", action="store_true", help="HNSW recall@10 at the largest size")
    ap.add_argument("--sq8", action="store_true", help="--ann-recall also for the other HNSW storage")
    ap.add_argument("--ann-quality", action="store_true", help="dev-set hit@5, HNSW vs exact")
    ap.add_argument("--faiss-threads", type=int, help="FAISS OpenMP threads (default: FAISS's, as served)")
    args = ap.parse_args(argv)
    if args.faiss_threads:
        import faiss

        faiss.omp_set_num_threads(args.faiss_threads)
    started = time.perf_counter()
    largest = 0 if args.index_dir else max(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    # groups: index sizes; "real" (recall on real embeddings) and "dev" (--ann-quality)
    summary: dict[str, Any] = {"machine": machine(), "embedder": args.embedder, "overall": {}, "groups": {}}
    embedder = load_embedder(args.embedder)
    questions = dev_questions(args.evaldata, args.queries)
    print(f"query_latency: embedder {args.embedder}, {len(questions)} real dev questions, k={args.k}, "
          f"FAISS threads {summary['machine']['faiss_threads']}, load average {summary['machine']['loadavg']} on {summary['machine']['cpus']} CPUs")
    print("  index: real sentences and sentence vectors, chunk vectors = mean of their sentences")
    for n, made, data in indexes(args, embedder):
        g = summary["groups"][str(n)] = {**made, "ann": data.manifest.ann,
                                          **measure(data, embedder, questions, args.k)}
        how = (f"given {made['given']}" if "given" in made else
               f"built in {made['build_s']:.1f} s, {made['model_texts']} texts through the model")
        print(f"  {g['chunks']:>8} chunks ({g['ann']}, {how}): retrieve p50 {g['p50_ms']:.1f} "
              f"p95 {g['p95_ms']:.1f} ms | query embedding alone p50/p95 {g['embed_p50_ms']:.1f}/"
              f"{g['embed_p95_ms']:.1f} ms | rest {g['without_embed_p50_ms']:.1f}/"
              f"{g['without_embed_p95_ms']:.1f} (dense p95 {g['dense_p95_ms']:.2f}, "
              f"bm25 p95 {g['bm25_p95_ms']:.2f})")
        if args.ann_recall and n >= largest:
            vecs = np.stack([embedder.embed_queries([q])[0] for q in questions]).astype(np.float32)
            base = np.asarray(data.vectors)
            g["ann_sweep"] = ann_sweep(base, vecs)
            g["hnsw_recall_at_10"] = g["ann_sweep"]["recall_at_10"]
            show_sweep(f"SYNTHETIC chunk vectors (means of real sentence vectors) at {n}", g["ann_sweep"])
            if args.sq8:
                g["ann_sweep_other"] = other = ann_sweep(base, vecs, sq8=not store.HNSW_SQ8)
                show_sweep(f"  the same, {other['kind']}", other)
            real = cached_vectors(embedder.fingerprint())
            if len(real) > 1000:
                o = summary["groups"]["real"] = {}
                o["ann_sweep"] = ann_sweep(real, vecs)
                o["hnsw_recall_at_10"] = o["ann_sweep"]["recall_at_10"]
                show_sweep("REAL embeddings (every vector in the embedding cache)", o["ann_sweep"])
                if args.sq8:
                    o["ann_sweep_other"] = other = ann_sweep(real, vecs, sq8=not store.HNSW_SQ8)
                    show_sweep(f"  the same, {other['kind']}", other)
        del data
    if args.ann_quality:
        q = ann_quality(args, embedder)
        summary["groups"]["dev"] = {"ann_quality": q, "ann_hit5_abs_diff": q["max_abs_hit5_diff"]}
    return finish("query_latency", summary, args, started)


if __name__ == "__main__":
    sys.exit(main())
