"""The LLM generator beside the extractive answerer on the same questions: the gold set and
N questions per dev group (with and without their gold passages), one table of answer
quality, language match and time to first token / full answer. Too slow for CI (a 1.5B
model on 2 cores answers in seconds per question): run it by hand, e.g.

    python eval/bench/llm_answers.py --generators extractive,llama-cpp --limit 100 \\
        --json eval/out/llm_answers.json

`jauap models fetch qwen2.5-1.5b-instruct` first, or llama-cpp runs the tiny SmolLM2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.eval.command import run_eval  # noqa: E402
from rag.settings import Settings  # noqa: E402

EVALDATA = ROOT.parent / "shared" / "evaldata"
KEYS = (
    "answer_contains", "token_f1", "citation_precision", "supported_share", "refusal_accuracy",
    "false_refusal_rate", "language_match", "short_answer_shown", "short_answer_contains", "first_token_p50_ms", "first_token_p95_ms",
    "answer_p50_ms", "answer_p95_ms",
)  # fmt: skip


def runs(limit: int) -> list[tuple[str, Path | None, list[Path], bool]]:
    """(name, questions, pools, unanswerable) for the gold set and each dev group."""
    dev = EVALDATA / "dev.questions.jsonl"
    pools = {k: EVALDATA / f for k, f in (("kk", "kazqad.kk.passages.jsonl"),
             ("ru", "xquad.ru.passages.jsonl"), ("en", "xquad.en.passages.jsonl"))}  # fmt: skip
    out: list[tuple[str, Path | None, list[Path], bool]] = [("gold", None, [], False)]
    for lang, pool in pools.items():
        out.append((f"dev-{lang}", dev, [pool], False))
        if limit:
            out.append((f"dev-{lang}-no-gold", dev, [pool], True))
    out.append(("dev-en-kk", ROOT / "eval" / "devsets" / "kazqad.en-kk.questions.jsonl", [pools["kk"]], False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", default="extractive,llama-cpp")
    parser.add_argument("--limit", type=int, default=100, help="questions per group (0: all)")
    parser.add_argument("--only", default="", help="comma-separated run names (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = Settings.from_env()
    table: dict[str, dict[str, Any]] = {}
    for name, questions, pools, unanswerable in runs(args.limit):
        if args.only and name not in args.only.split(","):
            continue
        for generator in args.generators.split(","):
            summary, _ = run_eval(
                base.with_(generator=generator), questions, pools or None,
                limit=args.limit, unanswerable=unanswerable,
                log=lambda m: print(m, file=sys.stderr),
            )
            for group, figures in [*summary["groups"].items(), ("overall", summary["overall"])]:
                row = table.setdefault(f"{name} {group}", {})
                row[generator] = {k: figures.get(k) for k in ("n", *KEYS)}
                cells = " ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) and v <= 1 else f"{k}={v:.0f}"
                    for k, v in row[generator].items() if v is not None
                )
                print(f"{name:18} {group:9} {generator:11} {cells}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(table, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
