"""Does the span reader, read over whole retrieved passages, rerank them better than retrieval?

Issue 12's question about a cross-encoder for cross-language retrieval. For each question the
hybrid retriever's top `--depth` passages are read whole by the span reader; they are reordered
by the best span margin minus w·log(1 + retrieval rank) for several w, and hit@1 / hit@5 are
printed beside retrieval's own and the reader's time per question (measured answer in
eval/README.md, "Cross-lingual dev sets"):

    nice python eval/bench/reader_rerank.py --questions eval/devsets/kazqad.en-kk.questions.jsonl \\
        --passages ../shared/evaldata/kazqad.kk.passages.jsonl
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.answer.span_reader import SpanReader  # noqa: E402
from rag.eval.sets import load_dev_questions, load_passages  # noqa: E402
from rag.index.backends import scratch_store  # noqa: E402
from rag.index.embedders import make_embedder  # noqa: E402
from rag.index.vector_cache import VectorCache  # noqa: E402
from rag.search.hybrid import HybridRetriever  # noqa: E402
from rag.settings import Settings  # noqa: E402

WEIGHTS = (0.0, 1.0, 2.0, 4.0)
UNREAD = -50.0  # a passage with no token inside (empty): last


def hits_at(
    rows: list[tuple[list[str], set[str], np.ndarray]], depth: int, w: float | None
) -> tuple[float, float]:
    """hit@1 and hit@5 with the first `depth` passages reordered (w None: retrieval's order)."""
    h1 = h5 = 0
    for docs, rel, margin in rows:
        n = min(depth, len(docs))
        order = (
            list(range(n))
            if w is None
            else list(np.argsort(-(margin[:n] - w * np.log1p(np.arange(n))), kind="stable"))
        )
        ranked = [docs[i] for i in order] + docs[n:]
        h1 += ranked[0] in rel if ranked else 0
        h5 += any(d in rel for d in ranked[:5])
    return h1 / len(rows), h5 / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--passages", type=Path, action="append", required=True)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    settings = Settings.from_env()
    embedder = make_embedder(settings)
    reader = SpanReader(settings.models_dir)
    rows, seconds = [], []
    with (
        tempfile.TemporaryDirectory(prefix="jauap-rerank-") as tmp,
        scratch_store(settings, Path(tmp)) as scratch,
    ):
        docs = load_passages(args.passages)
        ids = {d.doc_id for d in docs}
        questions = [
            q for q in load_dev_questions(args.questions) if q.answerable and q.relevant <= ids
        ]
        questions = questions[: args.limit] if args.limit else questions
        scratch.index_documents(
            docs,
            embedder,
            settings.chunking,
            cache=VectorCache(settings.vector_cache_path, embedder.fingerprint()),
        )
        retriever = HybridRetriever(scratch.open(embedder), embedder)
        for q in questions:
            hits = retriever.retrieve(q.question, k=args.depth).hits
            started = time.perf_counter()
            readings = reader.read(q.question, [h.chunk.text for h in hits])
            seconds.append(time.perf_counter() - started)
            best = [r.best_span(0, len(h.chunk.text)) for h, r in zip(hits, readings, strict=True)]
            margin = np.array([UNREAD if b is None else b[0] for b in best])
            rows.append(([h.doc.doc_id for h in hits], set(q.relevant), margin))
    print(
        f"{len(rows)} questions; hit@{args.depth} {np.mean([bool(set(d) & r) for d, r, _ in rows]):.3f}; "
        f"reading p50 {np.percentile(seconds, 50):.2f} s, p95 {np.percentile(seconds, 95):.2f} s"
    )
    print("retrieval alone: hit@1 {:.3f} hit@5 {:.3f}".format(*hits_at(rows, args.depth, None)))
    for depth in sorted({5, 10, args.depth}):
        cells = "  ".join(
            "w={:g} {:.3f}/{:.3f}".format(w, *hits_at(rows, depth, w)) for w in WEIGHTS
        )
        print(f"reranked top {depth:2}: {cells}")


if __name__ == "__main__":
    main()
