"""How often the short answer (`rag.answer.span`) is right, per asked type, on `jauap eval`
results: of the answers whose quote holds a gold answer, the share where a short answer is
shown (coverage) and where the shown one overlaps the gold answer (precision).

    jauap eval --set dev ... --json OUT.json   (see scripts/gates.sh)
    python -m eval.answer_scorer.span_check OUT.json [...]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

from rag.answer.features import asked_type
from rag.answer.span import MEASURED, typed_span
from rag.eval.metrics import normalise
from rag.eval.sets import load_dev_questions

QUESTIONS = (Path("../shared/evaldata/dev.questions.jsonl"),
             Path("eval/devsets/kazqad.en-kk.questions.jsonl"),
             Path("eval/devsets/kazqad.ru-kk.questions.jsonl"))
_QUOTE = re.compile(r"«([^«»]+)»\s*\[\d+\]")


def overlaps(short: str, golds: list[str]) -> bool:
    s = normalise(short)
    return any(g and (normalise(g) in s or s in normalise(g)) for g in golds if normalise(g))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args()
    questions = {q.qid: q for path in QUESTIONS for q in load_dev_questions(path)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # quotes with gold, shown, right
    for path in args.results:
        for r in json.loads(path.read_text(encoding="utf-8"))["questions"]:
            q = questions.get(r["id"])
            if q is None or r.get("refused") or not r.get("answer_contains"):
                continue
            golds = list(q.answers) + list(q.answers_question_lang)
            quotes = [m.group(1) for m in _QUOTE.finditer(r["answer"])]
            quote = next((t for t in quotes if overlaps(t, golds)), None)
            if quote is None:
                continue
            c = counts[asked_type(q.question) or "other"]
            c[0] += 1
            span = typed_span(q.question, quote, MEASURED)
            if span:
                c[1] += 1
                c[2] += overlaps(quote[span[0] : span[1]], golds)
    print(f"{'type':8} {'quotes':>7} {'shown':>7} {'right':>7} {'coverage':>9} {'precision':>9}")
    for t, (n, shown, right) in sorted(counts.items()):
        print(f"{t:8} {n:7} {shown:7} {right:7} {shown / n if n else 0:9.3f} "
              f"{right / shown if shown else 0:9.3f}")


if __name__ == "__main__":
    main()
