"""The FAISS folder index beside the Milvus store (Milvus Lite, embedded) at N chunks:
build time, cold open, query p50/p95, memory.

    python eval/bench/store_backends.py [--sizes 10000,100000] [--queries 100]
        [--embedder NAME] [--milvus-uri URI] [--backends faiss,milvus] [--json OUT]

Per size one index is built by the real indexer the way query_latency.py builds it
(common.py: real dev-pool sentences with the real model's vectors, chunk vector = mean of
its sentences' vectors, BM25 over the real words), into a FAISS folder. Then, each in a
fresh process so memory is its own:
- build: the store's own work from that same in-memory index (the indexer's chunking,
  embedding and BM25 are shared by both and left out): FAISS = exact/HNSW index + writing
  the generation; Milvus = BM25 sparse vectors + inserting + indexing the collections.
  Peak resident memory (VmHWM) of that process.
- serve: open the index (`StoreBackend.open`, timed: cold open), then `HybridRetriever.
  retrieve` (hybrid, k=5) on real dev questions whose vectors the real model computed
  beforehand (so the figures are the store's, not the model's); dense and BM25 alone;
  resident memory (VmRSS) after open and after the queries. Milvus Lite runs inside the
  measured process (milvus-lite 3 is pure Python), so its memory is counted there.
`--milvus-uri http://host:19530` measures a Milvus server instead of Milvus Lite.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    build_synthetic,
    dev_questions,
    load_embedder,
    machine,
    memory_mb,
    parser,
    stats_ms,
)

PREFIX = "bench"


class LookupEmbedder:
    """Query vectors computed beforehand by the real model, looked up by text; the real
    model's name and fingerprint, so the index's fingerprint check passes."""

    def __init__(self, meta: dict[str, Any], vectors: np.ndarray) -> None:
        self.name, self.dim, self._fp = meta["name"], int(meta["dim"]), meta["fingerprint"]
        self.vec = dict(zip(meta["questions"], vectors, strict=True))

    def fingerprint(self) -> str:
        return self._fp

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vec[t] for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("the bench only queries")

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def backend_of(kind: str, where: str) -> Any:
    from rag.index.backends import FaissBackend, MilvusBackend

    return FaissBackend(Path(where)) if kind == "faiss" else MilvusBackend(where, PREFIX)


def child_build(kind: str, source: Path, where: str) -> dict[str, Any]:
    """Write the FAISS index at `source` to `where` with backend `kind`."""
    from rag.index import milvus_store, store

    data = store.load(source)
    data.vectors = np.array(data.vectors)  # read into memory, as the indexer has them
    data.sentence_vectors = np.array(data.sentence_vectors)
    before = memory_mb()
    started = time.perf_counter()
    if kind == "faiss":
        data.ann, data.manifest.ann = store.build_ann(data.vectors)
        store.save(data, Path(where))
    else:
        milvus_store.save(data, where, PREFIX)
    seconds = time.perf_counter() - started
    return {"build_s": seconds, "build_rss_before_mb": before["rss_mb"], **memory_mb()}


def child_serve(kind: str, where: str, meta_path: Path) -> dict[str, Any]:
    """Open the index and answer the questions, as serving does (vectors precomputed)."""
    from rag.search.hybrid import HybridRetriever
    from rag.text.lang import detect

    meta = json.loads(meta_path.read_text("utf-8"))
    embedder = LookupEmbedder(meta, np.load(meta_path.with_suffix(".npy")))
    base = memory_mb()["rss_mb"]
    started = time.perf_counter()
    retriever = HybridRetriever(backend_of(kind, where).open(embedder), embedder)
    open_s = time.perf_counter() - started
    opened = memory_mb()["rss_mb"]
    questions = meta["questions"]
    for q in questions[:3]:
        retriever.retrieve(q, 5)
    total, dense, bm25 = [], [], []
    for q in questions:
        t = time.perf_counter()
        retriever.retrieve(q, 5)
        total.append(time.perf_counter() - t)
        vec = embedder.vec[q]
        t = time.perf_counter()
        retriever.dense(vec, 30)
        dense.append(time.perf_counter() - t)
        t = time.perf_counter()
        retriever.data.bm25.search(q, detect(q), 30)
        bm25.append(time.perf_counter() - t)
    s = {name: stats_ms(v) for name, v in (("total", total), ("dense", dense), ("bm25", bm25))}
    return {"open_s": open_s, "rss_base_mb": base, "rss_open_mb": opened, **memory_mb(),
            "p50_ms": s["total"]["p50"], "p95_ms": s["total"]["p95"],
            "dense_p50_ms": s["dense"]["p50"], "bm25_p50_ms": s["bm25"]["p50"]}


def run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"child {args[:2]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(size: int, kind: str, b: dict[str, Any], s: dict[str, Any]) -> str:
    return (f"{size:>8} {kind:12} {b['build_s']:>8.1f} {b['hwm_mb']:>9.0f} {s['open_s']:>8.1f} "
            f"{s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} {s['dense_p50_ms']:>8.1f} "
            f"{s['bm25_p50_ms']:>8.1f} {s['rss_open_mb']:>9.0f} {s['rss_mb']:>9.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        from rag.settings import Settings, apply_thread_limits

        apply_thread_limits(Settings())  # one BLAS/OpenMP thread, as `jauap` serves
        mode, kind, a, b = argv[1:5]
        result = child_build(kind, Path(a), b) if mode == "build" else child_serve(kind, a, Path(b))
        print(json.dumps(result))
        return 0
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000", help="index sizes in chunks")
    ap.add_argument("--queries", type=int, default=100, help="timed dev questions per backend")
    ap.add_argument("--milvus-uri", default="", help="a Milvus server (default: Milvus Lite)")
    ap.add_argument("--backends", default="faiss,milvus", help="which to measure (faiss, milvus)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    summary: dict[str, Any] = {"machine": machine(), "embedder": args.embedder, "overall": {},
                               "groups": {}}
    embedder = load_embedder(args.embedder)
    questions = dev_questions(args.evaldata, args.queries)
    lite = not args.milvus_uri
    print(f"store_backends: embedder {args.embedder}, {len(questions)} real dev questions "
          f"(vectors precomputed), k=5; milvus = {'Milvus Lite (embedded)' if lite else args.milvus_uri}; "
          f"load average {summary['machine']['loadavg']} on {summary['machine']['cpus']} CPUs")
    print("  index: real sentences and sentence vectors, chunk vectors = mean of their "
          "sentences (synthetic)")
    header = (f"{'chunks':>8} {'backend':12} {'build s':>8} {'build MB':>9} {'open s':>8} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'dense50':>8} {'bm25 50':>8} {'open MB':>9} "
              f"{'served MB':>9}")
    lines: list[str] = []
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="jauap-bench-stores-") as tmp_dir:
        tmp = Path(tmp_dir)
        meta = tmp / "questions.json"
        meta.write_text(json.dumps({"name": embedder.name, "dim": embedder.dim,
                                    "fingerprint": embedder.fingerprint(),
                                    "questions": questions}), "utf-8")
        np.save(meta.with_suffix(".npy"), embedder.embed_queries(questions))
        for n in [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]:
            source = tmp / f"source-{n}"
            report, _ = build_synthetic(n, source, embedder, args.evaldata)
            g = summary["groups"][str(n)] = {"chunks": report.chunks}
            targets = {"faiss": str(tmp / f"faiss-{n}"),
                       "milvus-lite" if lite else "milvus": str(tmp / f"m{n}.db") if lite else args.milvus_uri}
            for kind, where in targets.items():
                if kind.split("-")[0] not in {b.split("-")[0] for b in args.backends.split(",")}:
                    continue  # "milvus" and "milvus-lite" both select the Milvus store
                try:
                    built = run_child("build", "faiss" if kind == "faiss" else "milvus", str(source), where)
                    served = run_child("serve", "faiss" if kind == "faiss" else "milvus", where, str(meta))
                except RuntimeError as exc:  # one backend failing still reports the others
                    print(f"{n:>8} {kind:12} FAILED: {str(exc)[-600:]}", flush=True)
                    continue
                g[kind] = {**built, **served}
                lines.append(row(report.chunks, kind, built, served))
                print(lines[-1], flush=True)
                if not lite:
                    from rag.index import milvus_store

                    milvus_store.drop(where, PREFIX)
    print("\n" + header)
    print("\n".join(lines))
    print("build: the store's own work from the same in-memory index (chunking, embedding and "
          "BM25 shared, left out); build MB = peak resident of that process; open s = cold "
          "open in a fresh process; p50/p95 = hybrid retrieve without the query embedding; "
          "dense50/bm25 50 = each channel alone; open/served MB = resident after opening / "
          "after the queries")
    summary["machine_end"] = machine()
    summary["seconds"] = time.perf_counter() - started
    print(f"total {summary['seconds']:.1f} s; load average {summary['machine']['loadavg']} at "
          f"start, {summary['machine_end']['loadavg']} at end")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, indent=1, default=str), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
