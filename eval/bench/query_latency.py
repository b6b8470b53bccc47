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
an HNSW index (as the store builds above its threshold) against exact search on the
largest size, with the real query vectors. `--faiss-threads 1` shows what FAISS's default
OpenMP threads cost on a busy 2-core machine (see eval/README.md). Issue 14's goal: p95 <= 100 ms at 1M chunks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_synthetic, dev_questions, finish, load_embedder, machine, parser, stats_ms  # noqa: E402

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


def ann_recall(data: store.IndexData, queries: np.ndarray, k: int = 10) -> dict[str, float]:
    """recall@k of the store's HNSW settings against exact search, and its build time."""
    exact, _ = store.build_ann(data.vectors, threshold=len(data.vectors) + 1)
    started = time.perf_counter()
    hnsw, _ = store.build_ann(data.vectors, threshold=0)
    build_s = time.perf_counter() - started
    _, truth = exact.search(queries, k)  # type: ignore[attr-defined]
    _, got = hnsw.search(queries, k)  # type: ignore[attr-defined]
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, got, strict=True)])
    return {"hnsw_recall_at_10": float(recall), "hnsw_build_s": build_s}


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="index sizes in chunks")
    ap.add_argument("--queries", type=int, default=200, help="timed dev questions per size")
    ap.add_argument("-k", type=int, default=5, help="passages per retrieval")
    ap.add_argument("--ann-recall", action="store_true", help="HNSW recall@10 at the largest size")
    ap.add_argument("--faiss-threads", type=int, help="FAISS OpenMP threads (default: FAISS's, as served)")
    args = ap.parse_args(argv)
    if args.faiss_threads:
        import faiss

        faiss.omp_set_num_threads(args.faiss_threads)
    started = time.perf_counter()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    summary: dict[str, Any] = {"machine": machine(), "embedder": args.embedder, "overall": {}, "groups": {}}
    embedder = load_embedder(args.embedder)
    questions = dev_questions(args.evaldata, args.queries)
    print(f"query_latency: embedder {args.embedder}, {len(questions)} real dev questions, k={args.k}, "
          f"FAISS threads {summary['machine']['faiss_threads']}, load average {summary['machine']['loadavg']} on {summary['machine']['cpus']} CPUs")
    print("  index: real sentences and sentence vectors, chunk vectors = mean of their sentences")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="jauap-bench-query-") as tmp:
            report, pooled = build_synthetic(n, Path(tmp), embedder, args.evaldata)
            data = store.load(Path(tmp))
        g = summary["groups"][str(n)] = {
            "chunks": report.chunks, "ann": data.manifest.ann, "build_s": report.seconds,
            "model_texts": pooled.model_texts, **measure(data, embedder, questions, args.k)}
        print(f"  {report.chunks:>8} chunks ({g['ann']}, built in {report.seconds:.1f} s, "
              f"{pooled.model_texts} texts through the model): retrieve p50 {g['p50_ms']:.1f} "
              f"p95 {g['p95_ms']:.1f} ms | query embedding alone p50/p95 {g['embed_p50_ms']:.1f}/"
              f"{g['embed_p95_ms']:.1f} ms | rest {g['without_embed_p50_ms']:.1f}/"
              f"{g['without_embed_p95_ms']:.1f} (dense p95 {g['dense_p95_ms']:.2f}, "
              f"bm25 p95 {g['bm25_p95_ms']:.2f})")
        if args.ann_recall and n == max(sizes):
            vecs = np.stack([embedder.embed_queries([q])[0] for q in questions]).astype(np.float32)
            g.update(ann_recall(data, vecs))
            print(f"  HNSW (M=32, as the store builds it) recall@10 vs exact at {report.chunks}: "
                  f"{g['hnsw_recall_at_10']:.3f}, build {g['hnsw_build_s']:.1f} s")
        del data
    return finish("query_latency", summary, args, started)


if __name__ == "__main__":
    sys.exit(main())
