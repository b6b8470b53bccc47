"""Training rows for the learned sentence scorer: one row per candidate sentence.

Each set's pool is indexed through the real indexer (embeddings cached in the shared vector
cache) and every question goes through the real HybridRetriever (k=5). A row holds the
features of `rag.answer.features`, the label (the sentence contains a gold answer span) and
what the policy tuning needs (question id, group, article for the split, whether the hit is
a gold passage). "unanswerable" settings ask the same questions with their gold passages
removed from the results, and "cross" settings ask one dataset's questions over another's
pool: every label there is 0.

    nice -n 10 python -m eval.answer_scorer.build --out /tmp/jauap_i9/rows
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.answer.extractive import ExtractiveSettings, read_features
from rag.answer.features import FEATURES, candidates, feature_matrix
from rag.answer.span_reader import SpanReader
from rag.eval.metrics import normalise
from rag.eval.sets import EvalQuestion, load_dev_questions, load_passages
from rag.index.embedders import make_embedder
from rag.index.indexer import index_documents
from rag.index.store import load
from rag.index.vector_cache import VectorCache
from rag.protocols import Embedder, Reader
from rag.records import Document, Retrieval
from rag.search.hybrid import HybridRetriever
from rag.settings import Settings

DATA = Path("../shared/evaldata")
TRAIN = DATA / "train"
K = 5


@dataclass(frozen=True)
class Setting:
    """One pool with the questions asked over it."""

    name: str
    passages: Path
    questions: Path
    pool_prefix: str  # passage ids kept from the file
    question_prefixes: tuple[str, ...]  # question ids asked
    max_questions: int = 0  # 0 = all (a deterministic sample otherwise)
    max_pool: int = 0  # 0 = all; else gold passages of the kept questions plus distractors
    foreign: Path | None = None  # questions from another pool: all unanswerable


def article(passage_id: str) -> str:
    """The article a passage belongs to (the validation split keeps articles together)."""
    parts = passage_id.split(".")
    if parts[0] == "xquad":
        return "xquad." + parts[2]
    if parts[0] == "kazqad":
        return "kazqad." + parts[2].split("_")[0]
    return passage_id


def split_of(passage_id: str) -> str:
    """A stable 80/20 train/validation split by article."""
    h = int(hashlib.sha1(article(passage_id).encode()).hexdigest(), 16)
    return "val" if h % 5 == 0 else "train"


def label_of(text: str, golds: Sequence[str]) -> float:
    norm = normalise(text)
    return float(any(g and normalise(g) in norm for g in golds))


def _sample(items: list, n: int, seed: str) -> list:
    if not n or len(items) <= n:
        return items
    return random.Random(seed).sample(items, n)


def _pool(setting: Setting, questions: list[EvalQuestion]) -> list[Document]:
    docs = [d for d in load_passages([setting.passages]) if d.doc_id.startswith(setting.pool_prefix)]
    if not setting.max_pool or len(docs) <= setting.max_pool:
        return docs
    gold = {r for q in questions for r in q.relevant}
    rest = [d for d in docs if d.doc_id not in gold]
    keep = gold | {d.doc_id for d in _sample(rest, max(setting.max_pool - len(gold), 0), setting.name)}
    return [d for d in docs if d.doc_id in keep]


def _questions(setting: Setting) -> list[EvalQuestion]:
    qs = [q for q in load_dev_questions(setting.foreign or setting.questions)
          if q.qid.startswith(setting.question_prefixes)]
    return _sample(qs, setting.max_questions, setting.name)


def rows_for(
    retrieval: Retrieval, q: EvalQuestion, answerable: bool, reader: Reader | None = None
) -> dict[str, np.ndarray]:
    cands = candidates(retrieval.hits)
    x = feature_matrix(retrieval.question, retrieval.query_vector, q.lang, retrieval.hits, cands)
    if reader is not None and cands:  # as rag.answer.extractive.score_sentences does
        x, _ = read_features(x, retrieval.question, retrieval.hits, cands, reader, ExtractiveSettings())
    golds = list(q.answers) + list(q.answers_question_lang)
    y = [label_of(c.text, golds) if answerable else 0.0 for c in cands]
    rel = [float(retrieval.hits[c.hit].doc.doc_id in q.relevant) for c in cands]
    return {"x": x, "y": np.asarray(y, np.float32), "rel": np.asarray(rel, np.float32)}


class _CachedQueries(HybridRetriever):
    """The real retriever with question embeddings from the vector cache (rebuilding rows
    after a feature change then embeds nothing)."""

    vectors: dict[str, np.ndarray]

    def query_vector(self, text: str) -> np.ndarray:
        vec = self.vectors.get(text)
        return super().query_vector(text) if vec is None else vec


def query_vectors(texts: list[str], embedder: Embedder, cache: VectorCache) -> dict[str, np.ndarray]:
    keys = {t: "query:" + hashlib.sha1(t.encode()).hexdigest() for t in dict.fromkeys(texts)}
    found = cache.get_many(keys.values())
    missing = [t for t, k in keys.items() if k not in found]
    for i in range(0, len(missing), 64):
        part = missing[i : i + 64]
        vecs = embedder.embed_queries(part)
        cache.put_many({keys[t]: v for t, v in zip(part, vecs, strict=True)})
        found.update({keys[t]: v for t, v in zip(part, vecs, strict=True)})
    return {t: found[k] for t, k in keys.items()}


@dataclass
class Pool:
    """A setting's indexed pool: the questions asked over it and the real retriever."""

    questions: list[EvalQuestion]
    retriever: HybridRetriever
    docs: int
    chunks: int


@contextmanager
def pool_index(setting: Setting, settings: Settings) -> Iterator[Pool]:
    """Index the setting's pool in a temporary folder (embeddings from the vector cache),
    for as long as the `with` block runs."""
    embedder = make_embedder(settings)
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    questions = _questions(setting)
    if setting.foreign is None:
        docs = _pool(setting, questions)
        ids = {d.doc_id for d in docs}
        questions = [q for q in questions if q.relevant <= ids]
    else:
        docs = [d for d in load_passages([setting.passages]) if d.doc_id.startswith(setting.pool_prefix)]
    with tempfile.TemporaryDirectory(prefix="jauap-scorer-") as tmp:
        report = index_documents(docs, Path(tmp), embedder, settings.chunking, cache=cache)
        retriever = _CachedQueries(load(Path(tmp)), embedder)
        retriever.vectors = query_vectors([q.question for q in questions], embedder, cache)
        yield Pool(questions, retriever, len(docs), report.chunks)


def build(setting: Setting, settings: Settings, out: Path, reader: Reader | None = None) -> None:
    """Index the pool, ask every question (and again without its gold passages), save rows."""
    started = time.perf_counter()
    parts: list[dict] = []
    with pool_index(setting, settings) as pool:
        indexed = time.perf_counter() - started
        for q in pool.questions:
            full = pool.retriever.retrieve(q.question, k=K + 10, lang=q.lang)
            modes = [("unanswerable", False)] if setting.foreign else [("answerable", True), ("unanswerable", False)]
            for mode, answerable in modes:
                hits = full.hits if setting.foreign else (
                    full.hits if answerable else [h for h in full.hits if h.doc.doc_id not in q.relevant]
                )
                hits = [replace(h, rank=i) for i, h in enumerate(hits[:K], 1)]
                r = rows_for(Retrieval(q.question, q.lang, full.query_vector, hits), q, answerable, reader)
                split = split_of(min(q.relevant)) if q.relevant else "train"
                parts.append({**r, "meta": {"qid": q.qid, "group": q.group, "mode": mode,
                                             "split": split, "set": setting.name}})
    n = sum(len(p["y"]) for p in parts)
    x = np.concatenate([p["x"] for p in parts]) if n else np.zeros((0, len(FEATURES)), np.float32)
    qidx = np.concatenate([np.full(len(p["y"]), i) for i, p in enumerate(parts)]) if n else np.zeros(0)
    np.savez_compressed(
        out / f"{setting.name}.npz", x=x, y=np.concatenate([p["y"] for p in parts]),
        rel=np.concatenate([p["rel"] for p in parts]), q=qidx.astype(np.int32),
    )
    (out / f"{setting.name}.meta.json").write_text(json.dumps({
        "features": FEATURES, "questions": [p["meta"] for p in parts],
        "docs": pool.docs, "chunks": pool.chunks, "index_s": round(indexed, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }, ensure_ascii=False))
    print(f"{setting.name}: {pool.docs} docs, {len(pool.questions)} questions, {n} rows, "
          f"index {indexed:.0f} s, total {time.perf_counter() - started:.0f} s", flush=True)


DEV = DATA / "dev.questions.jsonl"
DEVSETS = Path("eval/devsets")
XQ_TRAIN_Q = TRAIN / "xquad.train.questions.jsonl"
XQ_TRAIN_P = TRAIN / "xquad.train.passages.jsonl"
TY_Q = TRAIN / "tydiqa.train.questions.jsonl"
TY_P = TRAIN / "tydiqa.train.passages.jsonl"
SETTINGS = {
    "dev.ru": Setting("dev.ru", DATA / "xquad.ru.passages.jsonl", DEV, "xquad.ru", ("xquad.ru.", "xquad.en-ru.")),
    "dev.en": Setting("dev.en", DATA / "xquad.en.passages.jsonl", DEV, "xquad.en", ("xquad.en.",)),
    "dev.kk": Setting("dev.kk", DATA / "kazqad.kk.passages.jsonl", DEV, "kazqad.kk", ("kazqad.kk.",)),
    **{  # issue 12's renderings of the KazQAD questions (eval/devsets)
        f"dev.{pair}": Setting(f"dev.{pair}", DATA / "kazqad.kk.passages.jsonl",
                               DEVSETS / f"kazqad.{pair}.questions.jsonl", "kazqad.kk", (f"kazqad.{pair}.",))
        for pair in ("en-kk", "ru-kk")
    },
    **{
        f"xquad.{lang}": Setting(
            f"xquad.{lang}", XQ_TRAIN_P, XQ_TRAIN_Q, f"xquad.{lang}.",
            (f"xquad.{lang}.", f"xquad.en-{lang}."), max_questions=600,
        )
        # not el: the sentence splitter knows no Greek capitals, so its passages stay one
        # "sentence" each and the labels say only which passage holds the answer
        for lang in ("tr", "es", "de")
    },
    **{
        f"tydi.{lang}": Setting(
            f"tydi.{lang}", TY_P, TY_Q, f"tydiqa_goldp.{lang}.", (f"tydiqa_goldp.{lang}.",),
            max_questions=300, max_pool=400,
        )
        for lang in ("en", "fi", "id")
    },
    # one dataset's questions over another's pool: nothing there answers them
    "cross.kk-on-ru": Setting("cross.kk-on-ru", DATA / "xquad.ru.passages.jsonl", DEV, "xquad.ru",
                              ("kazqad.kk.",), max_questions=150, foreign=DEV),
    "cross.en-on-kk": Setting("cross.en-on-kk", DATA / "kazqad.kk.passages.jsonl", DEV, "kazqad.kk",
                              ("xquad.en.",), max_questions=200, foreign=DEV),
    "cross.ru-on-kk": Setting("cross.ru-on-kk", DATA / "kazqad.kk.passages.jsonl", DEV, "kazqad.kk",
                              ("xquad.ru.",), max_questions=200, foreign=DEV),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reader", action="store_true",
                        help="fill the span reader's columns (for scorer_reader.json)")
    parser.add_argument("sets", nargs="*", default=list(SETTINGS), help="which settings (default all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    reader = SpanReader(settings.models_dir) if args.reader else None
    for name in args.sets:
        if not (args.out / f"{name}.npz").exists():
            build(SETTINGS[name], settings, args.out, reader)


if __name__ == "__main__":
    main()
