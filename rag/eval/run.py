"""Run a question set through retrieval (and optionally answering) and aggregate metrics
per group (question language -> document language) and overall."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from rag.eval import metrics
from rag.eval.sets import EvalQuestion
from rag.protocols import Retriever

RETRIEVAL_KEYS = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")
ANSWER_KEYS = (
    "answer_contains",
    "token_f1",
    "citation_precision",
    "citation_recall",
    "supported_share",
    "refusal_accuracy",
    "false_refusal_rate",
    "language_match",
    "short_answer_shown",
    "short_answer_contains",
)
LATENCY_KEYS = (
    "retrieval_p50_ms", "retrieval_p95_ms", "first_token_p50_ms", "first_token_p95_ms",
    "answer_p50_ms", "answer_p95_ms",
)

# Answering is optional: a callable from question to a dict shaped like `jauap ask --json`.
AnswerFn = Callable[[EvalQuestion], dict[str, Any]]


def score_retrieval(q: EvalQuestion, ranked_docs: Sequence[str]) -> dict[str, float | None]:
    if not q.answerable:
        return dict.fromkeys(RETRIEVAL_KEYS)
    rel = set(q.relevant)
    return {
        "hit@1": metrics.hit_at(ranked_docs, rel, 1),
        "hit@5": metrics.hit_at(ranked_docs, rel, 5),
        "hit@10": metrics.hit_at(ranked_docs, rel, 10),
        "mrr@10": metrics.mrr_at(ranked_docs, rel, 10),
        "ndcg@10": metrics.ndcg_at(ranked_docs, rel, 10),
    }


def score_answer(q: EvalQuestion, answer: dict[str, Any]) -> dict[str, float | None]:
    """Answer metrics for one question; None where a metric doesn't apply."""
    refused = bool(answer.get("refused"))
    text = answer.get("answer", "")
    out: dict[str, float | None] = dict.fromkeys(ANSWER_KEYS)
    if text:  # refusals too: they must come in the asker's language
        out["language_match"] = float(metrics.answer_language(text) == q.lang)
    if not q.answerable:
        out["refusal_accuracy"] = float(refused)
        return out
    out["false_refusal_rate"] = float(refused)
    quotes = " ".join(c.get("quote", "") for c in answer.get("citations", []))
    golds = list(q.answers) + list(q.answers_question_lang)
    langs = sorted({q.lang, *q.doc_lang.split("+")} - {"none"})
    # The extractive answer quotes the source: its quotes count as the answer text.
    out["answer_contains"] = (
        0.0 if refused else metrics.contains_answer(text + " " + quotes, golds, langs)
    )
    if golds and not refused:
        out["token_f1"] = max(metrics.token_f1(text, g, lang) for g in golds for lang in langs)
        # The short answer over the quotes (the reader's or the extractive rule's): how often
        # one is shown, and how often the one shown holds a gold answer.
        short = metrics.lead_answer(text)
        out["short_answer_shown"] = float(short is not None)
        if short is not None:
            out["short_answer_contains"] = metrics.contains_answer(short, golds, langs)
    cited = [c["doc_id"] for c in answer.get("citations", [])]
    if not refused:
        out["citation_precision"], out["citation_recall"] = metrics.precision_recall(
            cited, set(q.relevant)
        )
        out["supported_share"] = answer.get("supported_share")
    return out


def run(
    questions: Sequence[EvalQuestion],
    retriever: Retriever,
    answer_fn: AnswerFn | None = None,
    depth: int = 30,
) -> list[dict[str, Any]]:
    """Per-question rows with retrieval (and answer) metrics and latencies."""
    rows = []
    for q in questions:
        started = time.perf_counter()
        hits = retriever.retrieve(q.question, k=depth).hits
        retrieval_ms = (time.perf_counter() - started) * 1000
        ranked = metrics.dedupe([h.doc.doc_id for h in hits])
        row: dict[str, Any] = {
            "id": q.qid,
            "group": q.group,
            "lang": q.lang,
            "answerable": q.answerable,
            "ranked": ranked[:10],
            "retrieval_ms": retrieval_ms,
            **score_retrieval(q, ranked),
        }
        if answer_fn is not None:
            started = time.perf_counter()
            answer = answer_fn(q)
            row["answer_ms"] = (time.perf_counter() - started) * 1000
            first = answer.get("timings", {}).get("first_token")
            if first is not None:
                row["first_token_ms"] = first * 1000
            row["answer"] = answer.get("answer", "")
            row["refused"] = answer.get("refused")
            row.update(score_answer(q, answer))
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for key in RETRIEVAL_KEYS + ANSWER_KEYS:
        out[key] = metrics.mean([r.get(key) for r in rows])
    fields = (("retrieval", "retrieval_ms"), ("first_token", "first_token_ms"), ("answer", "answer_ms"))
    for name, field in fields:
        values = [r[field] for r in rows if field in r]
        out[f"{name}_p50_ms"] = metrics.percentile(values, 50)
        out[f"{name}_p95_ms"] = metrics.percentile(values, 95)
    return out


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"overall": {...}, "groups": {"en->kk": {...}, ...}} with fractions in 0..1."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["group"]].append(row)
    return {
        "overall": _summary(rows),
        "groups": {name: _summary(g) for name, g in sorted(groups.items())},
    }
