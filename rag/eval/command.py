"""`jauap eval`: one runner for the gold set and for any question set in the dev format."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rag.answer.assistant import Assistant
from rag.answer.generators import make_generator
from rag.errors import InputError
from rag.eval.run import aggregate, run
from rag.eval.sets import EvalQuestion, load_dev_questions, load_gold, load_passages
from rag.index.backends import scratch_store
from rag.index.embedders import make_embedder
from rag.index.vector_cache import VectorCache
from rag.protocols import Retriever
from rag.records import Retrieval
from rag.search.hybrid import HybridRetriever, RetrievalSettings
from rag.settings import Settings

# The gold set lives in the repository (eval/), not in the package: run from a checkout.
GOLD = Path("eval") / "gold.jsonl"


class WithoutGold:
    """A retriever that leaves out the current question's gold documents: as if they were
    removed from the pool (`jauap eval --unanswerable`; BM25 statistics keep them)."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self.exclude: frozenset[str] = frozenset()

    def retrieve(self, question: str, k: int = 5, lang: str | None = None) -> Retrieval:
        r = self.inner.retrieve(question, k=k + 20, lang=lang)
        kept = [h for h in r.hits if h.doc.doc_id not in self.exclude][:k]
        hits = [replace(h, rank=i) for i, h in enumerate(kept, 1)]
        return Retrieval(r.question, r.lang, r.query_vector, hits)


def run_eval(
    settings: Settings,
    questions_file: Path | None = None,
    passages: list[Path] | None = None,
    answers: bool = True,
    retrieval: RetrievalSettings | None = None,
    limit: int = 0,
    log: Any = print,
    unanswerable: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Index the question set's documents into a temporary index (embeddings cached by
    content hash) and score retrieval and, optionally, answers. `unanswerable`: ask every
    answerable question without its gold documents, so each should be refused."""
    if questions_file is None and not GOLD.is_file():
        raise InputError(f"no {GOLD} here: run from a jauap checkout or pass --questions")
    embedder = make_embedder(settings)
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    with tempfile.TemporaryDirectory(prefix="jauap-eval-") as tmp_dir, scratch_store(
        settings, Path(tmp_dir)
    ) as scratch:  # a FAISS folder in tmp_dir, or collections in JAUAP_STORE
        started = time.perf_counter()
        questions: list[EvalQuestion]
        if questions_file is None or passages is None:
            questions, files = load_gold(questions_file or GOLD, settings.docs[0])
            report = scratch.index_paths(files, embedder, settings.chunking, cache=cache)
        else:
            docs = load_passages(passages)
            ids = {d.doc_id for d in docs}
            questions = [q for q in load_dev_questions(questions_file) if q.relevant <= ids]
            report = scratch.index_documents(docs, embedder, settings.chunking, cache=cache)
        if limit:
            per_group: dict[str, int] = {}
            kept = []
            for q in questions:
                per_group[q.group] = per_group.get(q.group, 0) + 1
                if per_group[q.group] <= limit:
                    kept.append(q)
            questions = kept
        if unanswerable:
            questions = [replace(q, answerable=False) for q in questions if q.answerable]
        log(
            f"indexed {report.documents} documents / {report.chunks} chunks "
            f"({report.embedded_chunks + report.embedded_sentences} texts embedded, rest cached) "
            f"in {time.perf_counter() - started:.1f} s; {len(questions)} questions"
        )
        retriever = HybridRetriever(scratch.open(embedder), embedder, retrieval)
        asked = WithoutGold(retriever)
        answer_fn = None
        if answers:
            assistant = Assistant(
                asked if unanswerable else retriever, make_generator(settings.generator, settings),
                k=settings.k, embedder=embedder,
            )

            def answer_fn(q: EvalQuestion) -> dict[str, Any]:
                asked.exclude = q.relevant
                return assistant.ask(q.question).to_dict()

        rows = run(questions, retriever, answer_fn)
        summary = aggregate(rows)
        summary["config"] = {
            "embedder": embedder.name,
            "generator": settings.generator if answers else None,
            "k": settings.k,
            "questions": str(questions_file or GOLD),
            "passages": [str(p) for p in passages or []],
            "retrieval": (retrieval or RetrievalSettings()).__dict__,
            "unanswerable": unanswerable,
        }
        return summary, rows


def format_table(summary: dict[str, Any], keys: tuple[str, ...]) -> str:
    """A plain-text table of the chosen metrics per group."""
    header = f"{'group':10} {'n':>4} " + " ".join(f"{k:>9}" for k in keys)
    lines = [header]
    for name, s in [*summary["groups"].items(), ("overall", summary["overall"])]:
        cells = []
        for k in keys:
            v = s.get(k)
            cells.append(
                f"{'-':>9}"
                if v is None
                else f"{v:>9.3f}"
                if v <= 1.0 or "ms" not in k
                else f"{v:>9.1f}"
            )
        lines.append(f"{name:10} {s['n']:>4} " + " ".join(cells))
    return "\n".join(lines)


def write_json(summary: dict[str, Any], rows: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({**summary, "questions": rows}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
