"""The chat page's example questions (eval/page_examples.jsonl: each page example asked in
kk, ru and en) answered by one or more generators over an index of the sample corpus, in
one process per generator (a model loads once): right or wrong per question, the answer's
first line, and seconds. Right = not refused and a quote holds one of the expected words,
or refused for an out-of-scope question; supported share must be 1. Not a CI gate (an LLM
takes seconds per answer). E.g.

    python eval/bench/page_examples.py --generators extractive,llama-cpp
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.eval.sets import read_jsonl  # noqa: E402
from rag.pipeline import build_index, open_assistant  # noqa: E402
from rag.settings import Settings  # noqa: E402

EXAMPLES = ROOT / "eval" / "page_examples.jsonl"


def right(answer: dict, quote_has: list[str] | None) -> bool:
    """The page-examples test's criterion (tests/test_extractive.py)."""
    if quote_has is None:
        return bool(answer["refused"])
    quotes = " ".join(c["quote"] for c in answer["citations"])
    return (not answer["refused"] and bool(answer["citations"]) and answer["supported_share"] == 1.0
            and any(word in quotes for word in quote_has))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", default="extractive,llama-cpp")
    args = parser.parse_args()
    rows = read_jsonl(EXAMPLES)
    with tempfile.TemporaryDirectory(prefix="jauap-page-examples-") as tmp:
        base = Settings.from_env().with_(index_dir=Path(tmp) / "index")
        build_index(base)
        for name in args.generators.split(","):
            assistant = open_assistant(base.with_(generator=name))
            ok, seconds = 0, []
            for row in rows:
                started = time.perf_counter()
                answer = assistant.ask(row["question"]).to_dict()
                seconds.append(time.perf_counter() - started)
                good = right(answer, row["quote_has"])
                ok += good
                shown = answer["answer"].replace("\n", " ")[:110]
                note = f" (fallback: {answer['fallback']})" if answer["fallback"] else ""
                print(f"{name:11} {'right' if good else 'WRONG'} {seconds[-1]:5.1f} s  "
                      f"{row['question']}\n{'':11} → {shown}{note}", flush=True)
            print(f"{name}: {ok}/{len(rows)} right; {sum(seconds):.0f} s in all, "
                  f"max {max(seconds):.1f} s per answer\n", flush=True)


if __name__ == "__main__":
    main()
