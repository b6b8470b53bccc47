"""Time of the extractive answer after retrieval, on the gold questions.

    python eval/bench/answer_latency.py [--repeats 3] [--generator extractive]
        [--embedder NAME] [--json OUT] [--gate]

The sample corpus is indexed by `rag.pipeline.build_index` (with the embedding cache) into
a temporary folder; `open_assistant` answers each of the 76 gold questions --repeats times
(after one warm-up question), and `Answer.timings` splits each answer into retrieval,
generation (the extractive answerer) and the citation check. `after_retrieval` =
generation + citation check is issue 9's "extractive time after retrieval" (goal: p95
<= 50 ms on 2 cores with JAUAP_ANSWER_READER=none, <= 300 ms with the span reader, "if a
cross-encoder earns it"); retrieval, timed in the same run, is the baseline that shows how
busy the machine was. Quality of these answers is `jauap eval`'s business, not this one's.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, finish, machine, parser, stats_ms  # noqa: E402

from rag.eval.sets import load_gold  # noqa: E402
from rag.pipeline import build_index, open_assistant  # noqa: E402
from rag.settings import SAMPLE_CORPUS, Settings  # noqa: E402

PARTS = ("retrieval", "generation", "citation_check", "after_retrieval", "total")


def figures(samples: dict[str, list[float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in PARTS:
        s = stats_ms(samples[part])
        out[f"{part}_p50_ms"], out[f"{part}_p95_ms"] = s["p50"], s["p95"]
    out["answers"] = len(samples["total"])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="passes over the gold questions")
    ap.add_argument("--generator", default="extractive", help="generator to time")
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    summary: dict[str, Any] = {"machine": machine(), "embedder": args.embedder, "groups": {}}
    questions, files = load_gold(args.gold, SAMPLE_CORPUS)
    samples: dict[str, dict[str, list[float]]] = {}
    refused = 0
    with tempfile.TemporaryDirectory(prefix="jauap-bench-answer-") as tmp:
        settings = Settings.from_env().with_(embedder=args.embedder, generator=args.generator, index_dir=Path(tmp))
        report = build_index(settings, files)
        assistant = open_assistant(settings)
        assistant.ask("Who opened the media forum in Almaty?")  # warm-up
        for _ in range(max(1, args.repeats)):
            for q in questions:
                answer = assistant.ask(q.question)
                t = answer.timings
                after = t.get("generation", 0.0) + t.get("citation_check", 0.0)
                refused += answer.refused
                # stages only: other keys (e.g. first_token) are cumulative marks
                total = sum(t.get(k, 0.0) for k in ("condense", "retrieval", "generation", "citation_check"))
                values = {**t, "after_retrieval": after, "total": total}
                for group in ("overall", q.lang):
                    bucket = samples.setdefault(group, {p: [] for p in PARTS})
                    for part in PARTS:
                        if part in values:
                            bucket[part].append(values[part])
    summary["overall"] = {**figures(samples.pop("overall")), "refused": refused, "chunks": report.chunks}
    summary["groups"] = {lang: figures(s) for lang, s in sorted(samples.items())}
    o = summary["overall"]
    print(f"answer_latency: {args.generator} over {report.chunks} chunks of the sample corpus, "
          f"embedder {args.embedder}, {len(questions)} gold questions x {args.repeats} "
          f"({refused} refusals), load average {summary['machine']['loadavg']}")
    print(f"  {'':8} {'part':16} {'p50 ms':>8} {'p95 ms':>8}")
    for group, g in [("all", o), *summary["groups"].items()]:
        for part in PARTS:
            p50, p95 = g[f"{part}_p50_ms"], g[f"{part}_p95_ms"]
            if p50 is not None:
                print(f"  {group:8} {part:16} {p50:8.2f} {p95:8.2f}")
    # With the span reader (JAUAP_ANSWER_READER=span, the default) issue 9's budget is 300 ms.
    summary["answer_reader"] = settings.answer_reader
    print(f"  answer reader: {settings.answer_reader}")
    name = "answer_latency" if settings.answer_reader == "none" else "answer_latency_reader"
    return finish(name, summary, args, started)


if __name__ == "__main__":
    sys.exit(main())
