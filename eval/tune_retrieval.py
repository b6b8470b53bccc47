"""Compare retrieval variants (dense, BM25, fusion settings, sentence re-ranking) on the
dev sets, per group, in single-language pools and in one mixed pool.

    python eval/tune_retrieval.py [--evaldata ../shared/evaldata] [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rag.eval.run import aggregate, run
from rag.eval.sets import load_dev_questions, load_passages
from rag.index.embedders import make_embedder
from rag.index.indexer import index_documents
from rag.index.store import load
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings
from rag.search.hybrid import HybridRetriever, RetrievalSettings
from rag.settings import Settings

POOLS = {
    "kk": "kazqad.kk.passages.jsonl",
    "ru": "xquad.ru.passages.jsonl",
    "en": "xquad.en.passages.jsonl",
}
VARIANTS = {
    "dense": RetrievalSettings(mode="dense", rerank=False),
    "dense+sent": RetrievalSettings(mode="dense"),
    "bm25": RetrievalSettings(mode="bm25"),
    "hybrid-norerank": RetrievalSettings(rerank=False),
    "hybrid-sub0.5": RetrievalSettings(substitute=0.5),
    "hybrid-sub0.25": RetrievalSettings(substitute=0.25),
    "hybrid-xs0.5": RetrievalSettings(bm25_cross_language=0.5),
    "hybrid": RetrievalSettings(),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evaldata", type=Path, default=Path(__file__).parents[2] / "shared" / "evaldata")
    ap.add_argument("--limit", type=int, default=0, help="questions per group (0 = all)")
    ap.add_argument("--embedder", default="multilingual-e5-small")
    ap.add_argument("--mixed", action="store_true", help="also run one pool mixing kk and ru")
    ap.add_argument("--pools", default="kk,ru,en", help="single-language pools to run")
    args = ap.parse_args()
    embedder = make_embedder(Settings.from_env().with_(embedder=args.embedder))
    cache = VectorCache(Settings.from_env().vector_cache_path, embedder.fingerprint())
    questions = load_dev_questions(args.evaldata / "dev.questions.jsonl")
    tmp = Path(tempfile.mkdtemp(prefix="jauap-tune-"))

    def open_pool(name: str, files: list[str]) -> HybridRetriever:
        started = time.perf_counter()
        docs = load_passages([args.evaldata / f for f in files])
        rep = index_documents(docs, tmp / name, embedder, ChunkSettings(), cache=cache)
        print(f"# pool {name}: {len(docs)} passages, {rep.chunks} chunks, "
              f"{rep.embedded_chunks + rep.embedded_sentences} texts embedded, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        return HybridRetriever(load(tmp / name), embedder)

    pools = {lang: open_pool(lang, [f]) for lang, f in POOLS.items() if lang in args.pools}
    if args.mixed:
        # kk + ru only: the en and ru XQuAD pools are translations of each other, so in
        # one pool an English question's best match is the English twin of its passage.
        pools["mixed"] = open_pool("mixed", [POOLS["kk"], POOLS["ru"]])
    for pool_name, retriever in pools.items():
        pool_qs = [
            q for q in questions
            if q.doc_lang == pool_name or (pool_name == "mixed" and q.doc_lang in ("kk", "ru"))
        ]
        by_group: dict[str, list] = {}
        for q in pool_qs:
            by_group.setdefault(q.group, []).append(q)
        if args.limit:
            pool_qs = [q for g in by_group.values() for q in g[: args.limit]]
        print(f"\n## pool {pool_name} ({len(pool_qs)} questions)")
        print(f"{'variant':18} {'group':8} {'n':>4} {'hit@1':>6} {'hit@5':>6} {'mrr@10':>6} {'p50ms':>6}")
        for vname, vs in VARIANTS.items():
            retriever.settings = vs
            summary = aggregate(run(pool_qs, retriever))
            for g, s in summary["groups"].items():
                print(f"{vname:18} {g:8} {s['n']:>4} {s['hit@1']:.3f}  {s['hit@5']:.3f}  "
                      f"{s['mrr@10']:.3f}  {s['retrieval_p50_ms']:.1f}", flush=True)


if __name__ == "__main__":
    main()
