"""Calibrate the extractive answerer's refusal threshold on the dev sets.

Answerable case: the question over its full pool. Unanswerable case: the same question
over the pool with its gold passages taken out (the documents then really don't say).
Prints, per threshold, the refusal rate in both cases, and the threshold with the best
balanced accuracy; also the gold set's own unanswerable questions as a check.

    python eval/calibrate_refusal.py [--limit 80]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from rag.answer import extractive
from rag.eval.sets import load_dev_questions, load_gold, load_passages
from rag.index.embedders import make_embedder
from rag.index.indexer import index_documents, index_paths
from rag.index.store import load
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings
from rag.search.hybrid import HybridRetriever
from rag.settings import SAMPLE_CORPUS, Settings
from rag.text.lang import detect

POOLS = {"kk": "kazqad.kk.passages.jsonl", "ru": "xquad.ru.passages.jsonl", "en": "xquad.en.passages.jsonl"}


def best_score(retriever: HybridRetriever, question: str, exclude: frozenset[str], k: int = 5) -> float:
    hits = [h for h in retriever.retrieve(question, k=k + 25).hits if h.doc.doc_id not in exclude][:k]
    lang = detect(question)
    picks = extractive.score_sentences(
        question, retriever.query_vector(question), lang, hits, retriever.sentences,
        extractive.ExtractiveSettings(),
    )
    return picks[0].score if picks else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evaldata", type=Path, default=Path(__file__).parents[2] / "shared" / "evaldata")
    ap.add_argument("--limit", type=int, default=80, help="questions per group")
    ap.add_argument("--embedder", default="multilingual-e5-small")
    args = ap.parse_args()
    embedder = make_embedder(Settings.from_env().with_(embedder=args.embedder))
    cache = VectorCache(Settings.from_env().vector_cache_path, embedder.fingerprint())
    tmp = Path(tempfile.mkdtemp(prefix="jauap-cal-"))
    questions = load_dev_questions(args.evaldata / "dev.questions.jsonl")
    pos, neg = [], []
    by_group: dict[str, tuple[list[float], list[float]]] = {}
    for lang, name in POOLS.items():
        index_documents(load_passages([args.evaldata / name]), tmp / lang, embedder, ChunkSettings(), cache=cache)
        r = HybridRetriever(load(tmp / lang), embedder)
        groups: dict[str, int] = {}
        for q in questions:
            if q.doc_lang != lang or groups.get(q.group, 0) >= args.limit:
                continue
            groups[q.group] = groups.get(q.group, 0) + 1
            pos.append(best_score(r, q.question, frozenset()))
            neg.append(best_score(r, q.question, q.relevant))
            by_group.setdefault(q.group, ([], []))
            by_group[q.group][0].append(pos[-1])
            by_group[q.group][1].append(neg[-1])
        print(f"pool {lang}: {groups}", flush=True)
    gold_qs, files = load_gold(Path(__file__).parent / "gold.jsonl", SAMPLE_CORPUS)
    index_paths(files, tmp / "gold", embedder, ChunkSettings(), cache=cache)
    r = HybridRetriever(load(tmp / "gold"), embedder)
    gold_pos = [best_score(r, q.question, frozenset()) for q in gold_qs if q.answerable]
    gold_neg = [best_score(r, q.question, frozenset()) for q in gold_qs if not q.answerable]
    pos_a, neg_a = np.array(pos), np.array(neg)
    print(f"\ndev: {len(pos)} answerable, {len(neg)} made unanswerable; gold: {len(gold_pos)} / {len(gold_neg)}")
    print(f"{'threshold':>9} {'dev false-refusal':>18} {'dev correct-refusal':>20} {'balanced':>9} "
          f"{'gold false-ref':>15} {'gold correct-ref':>17}")
    best = (0.0, 0.0)
    for t in np.arange(0.78, 0.92, 0.005):
        fr, cr = float((pos_a < t).mean()), float((neg_a < t).mean())
        bal = (1 - fr + cr) / 2
        gfr = float(np.mean(np.array(gold_pos) < t))
        gcr = float(np.mean(np.array(gold_neg) < t))
        best = max(best, (bal, float(t)))
        print(f"{t:>9.3f} {fr:>18.3f} {cr:>20.3f} {bal:>9.3f} {gfr:>15.3f} {gcr:>17.3f}")
    print(f"\nbest balanced accuracy on dev: {best[0]:.3f} at threshold {best[1]:.3f}")
    print("\nper group: median best-sentence score, answerable vs made unanswerable")
    for g, (p, ng) in sorted(by_group.items()):
        print(f"  {g:8} {np.median(p):.3f} vs {np.median(ng):.3f}")


if __name__ == "__main__":
    main()
