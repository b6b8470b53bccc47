"""Extractive answering time after retrieval (features + scorer + composition), per question.

    nice -n 10 python -m eval.answer_scorer.bench [--set dev.ru] [-n 300]

Prints p50/p95/max in ms over the first n questions of a build setting (the pool is indexed
through the vector cache, so a second run embeds only the questions)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.answer_scorer.build import SETTINGS, K, _pool, _questions
from rag.answer.extractive import ExtractiveGenerator
from rag.index.embedders import make_embedder
from rag.index.indexer import index_documents
from rag.index.store import load
from rag.index.vector_cache import VectorCache
from rag.search.hybrid import HybridRetriever
from rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="dev.ru", choices=sorted(SETTINGS))
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    setting, settings = SETTINGS[args.set], Settings.from_env()
    embedder = make_embedder(settings)
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    questions = _questions(setting)[: args.n]
    generator = ExtractiveGenerator()
    print(f"scorer {generator.fingerprint}")  # loads the model before timing
    times = []
    with tempfile.TemporaryDirectory(prefix="jauap-bench-") as tmp:
        index_documents(_pool(setting, questions), Path(tmp), embedder, settings.chunking, cache=cache)
        retriever = HybridRetriever(load(Path(tmp)), embedder)
        generator.answer(retriever.retrieve(questions[0].question, k=K))
        for q in questions:
            retrieval = retriever.retrieve(q.question, k=K)
            started = time.perf_counter()
            generator.answer(retrieval)
            times.append((time.perf_counter() - started) * 1000)
    t = np.asarray(times)
    print(f"{args.set}: {len(t)} questions, extractive after retrieval: "
          f"p50 {np.percentile(t, 50):.2f} ms, p95 {np.percentile(t, 95):.2f} ms, max {t.max():.2f} ms")


if __name__ == "__main__":
    main()
