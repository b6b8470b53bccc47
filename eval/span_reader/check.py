"""The span reader alone on the dev sets: given the gold passage, how often its best span
holds a gold answer (and the sentence around it); given another passage of the same pool,
how often it says "no answer" first. Prints per group and the read time per passage.

    nice -n 10 python -m eval.span_reader.check [--limit 150]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from rag.answer.span_reader import SpanReader
from rag.eval.metrics import normalise
from rag.eval.sets import load_dev_questions, load_passages
from rag.settings import Settings

DATA = Path("../shared/evaldata")
SETS = {
    "kk->kk": (DATA / "dev.questions.jsonl", "kazqad.kk."),
    "ru->ru": (DATA / "dev.questions.jsonl", "xquad.ru."),
    "en->en": (DATA / "dev.questions.jsonl", "xquad.en."),
    "en->ru": (DATA / "dev.questions.jsonl", "xquad.en-ru."),
    "en->kk": (Path("eval/devsets/kazqad.en-kk.questions.jsonl"), "kazqad.en-kk."),
}
POOLS = [DATA / "kazqad.kk.passages.jsonl", DATA / "xquad.ru.passages.jsonl", DATA / "xquad.en.passages.jsonl"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=150)
    args = ap.parse_args()
    reader = SpanReader(Settings.from_env().models_dir)
    docs = {d.doc_id: d for d in load_passages(POOLS)}
    by_lang = defaultdict(list)
    for d in docs.values():
        by_lang[d.lang].append(d.doc_id)
    for group, (path, prefix) in SETS.items():
        qs = [q for q in load_dev_questions(path) if q.qid.startswith(prefix)]
        qs = random.Random(group).sample(qs, min(args.limit, len(qs)))
        span_ok, neg_ok, margins_pos, margins_neg, secs, reads = 0, 0, [], [], 0.0, 0
        for q in qs:
            gold = docs[min(q.relevant)]
            other = docs[random.Random(q.qid).choice([i for i in by_lang[gold.lang] if i not in q.relevant])]
            t = time.perf_counter()
            pos, neg = reader.read(q.question, [gold.text, other.text])
            secs += time.perf_counter() - t
            reads += 2
            best_pos = pos.best_span(0, len(gold.text))
            best_neg = neg.best_span(0, len(other.text))
            if best_pos:
                margins_pos.append(best_pos[0])
                span = normalise(gold.text[best_pos[1][0] : best_pos[1][1]])
                span_ok += any(normalise(a) and (normalise(a) in span or span in normalise(a)) and span
                               for a in q.answers)
            if best_neg:
                margins_neg.append(best_neg[0])
                neg_ok += best_neg[0] < 0
        mp, mn = np.array(margins_pos), np.array(margins_neg)
        auc = float((mp[:, None] > mn[None, :]).mean()) if len(mp) and len(mn) else float("nan")
        print(f"{group:8} n={len(qs):4} span~answer {span_ok / len(qs):.3f}  "
              f"other passage says no-answer {neg_ok / len(qs):.3f}  "
              f"AUC(gold vs other margin) {auc:.3f}  {1000 * secs / reads:.0f} ms/passage", flush=True)


if __name__ == "__main__":
    main()
