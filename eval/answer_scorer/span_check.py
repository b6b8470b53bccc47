"""How often the short answer over the quote is right, per asked type: the rules of
`rag.answer.span` beside the span reader's best span at several margins, on the dev sets.

Each dev question is asked over its set's pool as eval/answer_scorer/build.py does (real
retriever, k=5) and answered by the extractive answerer with the span reader. Of the
answered questions, it counts where each method would show a short answer in the first
quoted sentence (coverage) and where that short answer overlaps a gold answer (precision),
over all answers and over those whose quote holds a gold answer.

    nice -n 10 python -m eval.answer_scorer.span_check --save /tmp/spans.json [--limit N]
    python -m eval.answer_scorer.span_check --load /tmp/spans.json   (the tables again)
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from eval.answer_scorer.build import SETTINGS, K, label_of, pool_index
from rag.answer.extractive import ExtractiveGenerator, quote_of
from rag.answer.features import asked_type
from rag.answer.span import MEASURED, answer_span, reader_span, typed_span
from rag.answer.span_reader import SpanReader
from rag.eval.metrics import normalise
from rag.records import SpanScore
from rag.settings import Settings

SETS = ("dev.kk", "dev.ru", "dev.en", "dev.en-kk", "dev.ru-kk")
MARGINS = (-99.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0)


def overlaps(short: str, golds: list[str]) -> bool:
    """The short answer and a gold answer overlap: one holds the other (normalised)."""
    s = normalise(short)
    return bool(s) and any(g and (g in s or s in g) for g in map(normalise, golds))


def records(names: list[str], limit: int) -> list[dict[str, Any]]:
    """One record per answered question: its type, the first quote, the rule's and the
    reader's short answers (with the reader's margin) and the gold answers."""
    settings = Settings.from_env()
    gen = ExtractiveGenerator(reader=SpanReader(settings.models_dir))
    out = []
    for name in names:
        with pool_index(SETTINGS[name], settings) as pool:
            for q in pool.questions[: limit or None]:
                retrieval = pool.retriever.retrieve(q.question, k=K, lang=q.lang)
                chosen = gen.chosen(retrieval, gen.rank(retrieval))
                if not chosen:
                    continue
                pick = chosen[0]
                quote = quote_of(retrieval.hits, pick)
                golds = list(q.answers) + list(q.answers_question_lang)
                read = pick.short
                rule = typed_span(q.question, quote, MEASURED)
                span = reader_span(q.question, quote, read, min(MARGINS))
                out.append({
                    "set": name, "qid": q.qid, "type": asked_type(q.question) or "other",
                    "question": q.question, "quote": quote,
                    "read": [read.margin, read.start, read.end] if read else None,
                    "quote_right": bool(label_of(quote, golds)), "golds": golds,
                    "rule": quote[rule[0] : rule[1]] if rule else None,
                    "reader": quote[span[0] : span[1]] if span else None,
                    "margin": read.margin if read else None,
                })
        print(f"{name}: {sum(r['set'] == name for r in out)} answered", flush=True)
    return out


def table(recs: list[dict[str, Any]], quote_right: bool) -> None:
    """Coverage and precision per type: rules, then the reader at each margin floor."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        if r["quote_right"] or not quote_right:
            by_type[r["type"]].append(r)
    print(f"\n{'quotes holding a gold answer' if quote_right else 'all answers'}")
    print(f"{'type':7} {'n':>5}  {'rules shown/prec':>17}  " + "  ".join(f"reader>={m:g}".rjust(15) for m in MARGINS))
    for t, rs in sorted(by_type.items()):
        cells = []
        for key, floor in [("rule", None), *(("reader", m) for m in MARGINS)]:
            shown = [r for r in rs if r[key] and (floor is None or r["margin"] >= floor)]
            right = sum(overlaps(r[key], r["golds"]) for r in shown)
            cells.append(f"{len(shown) / len(rs):.2f}/{right / len(shown) if shown else 0:.3f}")
        print(f"{t:7} {len(rs):5}  {cells[0]:>17}  " + "  ".join(c.rjust(15) for c in cells[1:]))


def _shown(r: dict[str, Any], reading: bool) -> str | None:
    """The short answer `rag.answer.span.answer_span` shows for a record, with or without
    the reader's span."""
    read = SpanScore(*r["read"]) if reading and r["read"] else None
    span = answer_span(r["question"], r["quote"], read)
    return r["quote"][span[0] : span[1]] if span else None


def shipped(recs: list[dict[str, Any]]) -> None:
    """Coverage/precision of what the answerer shows (`answer_span`): with the reader (its
    span above the type's floor, rules first for `RULES_FIRST`), and without it (the rules
    for `TYPES`); per set and type."""
    policies = {"with the reader": True, "rules only": False}
    for name, reading in policies.items():
        for quote_right in (False, True):
            agg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # answers, shown, right
            for r in recs:
                if quote_right and not r["quote_right"]:
                    continue
                short = _shown(r, reading)
                for key in ("all", r["set"], r["type"]):
                    agg[key][0] += 1
                    agg[key][1] += bool(short)
                    agg[key][2] += bool(short) and overlaps(short, r["golds"])
            cells = "  ".join(f"{k} {a[1] / a[0]:.2f}/{a[2] / max(a[1], 1):.3f}" for k, a in sorted(agg.items()))
            print(f"{name}, {'quote holds gold' if quote_right else 'all answers'}: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--limit", type=int, default=0, help="questions per set (0 = all)")
    parser.add_argument("--save", type=Path, help="write the records here")
    parser.add_argument("--load", type=Path, help="tables from saved records (no answering)")
    args = parser.parse_args()
    if args.load:
        recs = json.loads(args.load.read_text(encoding="utf-8"))
    else:
        recs = records(args.sets, args.limit)
        if args.save:
            args.save.write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    print("coverage/precision of the short answer per asked type")
    for quote_right in (False, True):
        table(recs, quote_right)
    print()
    shipped(recs)


if __name__ == "__main__":
    main()
