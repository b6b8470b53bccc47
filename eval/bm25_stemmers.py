"""BM25-only retrieval on the dev sets, one row per stemmer variant.

Usage: python eval/bm25_stemmers.py [--data /work/shared/evaldata]
Prints hit@1, hit@5 and MRR@10 for kk→kk (KazQAD), ru→ru and en→en (XQuAD),
plus en→ru as a cross-lingual reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.eval.sets import read_jsonl  # noqa: E402
from rag.index.bm25 import BM25Channel  # noqa: E402
from rag.text import words as bm25  # noqa: E402


def evaluate(
    passages: list[dict], questions: list[dict], stemmers: dict[str, str], stopwords: bool
) -> tuple[float, float, float]:
    """(hit@1, hit@5, MRR@10) of BM25 over ``passages`` for ``questions``."""
    texts = [f"{p.get('title') or ''}\n{p['text']}" for p in passages]
    langs = [p["lang"] for p in passages]
    channel = BM25Channel.build(texts, langs, stemmers, stopwords=stopwords)
    h1 = h5 = rr = 0.0
    for q in questions:
        gold = set(q["relevant_passage_ids"])
        hits = channel.search(q["question"], q["lang"], 10)
        ranks = [r for r, (row, _) in enumerate(hits, 1) if passages[row]["passage_id"] in gold]
        if ranks:
            h1 += ranks[0] == 1
            h5 += ranks[0] <= 5
            rr += 1.0 / ranks[0]
    n = len(questions)
    return h1 / n, h5 / n, rr / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/evaldata"))
    args = ap.parse_args()
    questions = read_jsonl(args.data / "dev.questions.jsonl")
    pools = {
        "kk": read_jsonl(args.data / "kazqad.kk.passages.jsonl"),
        "ru": read_jsonl(args.data / "xquad.ru.passages.jsonl"),
        "en": read_jsonl(args.data / "xquad.en.passages.jsonl"),
    }

    def group(ql: str, pl: str) -> list[dict]:
        return [q for q in questions if q["lang"] == ql and q["passage_lang"] == pl]

    kk_names = ("none", "prefix4", "prefix5", "prefix6", "suffix", "suffix+prefix5")
    kk_rows = [(n, True) for n in kk_names]
    kk_rows += [(bm25.DEFAULT_KK_STEMMER, False), ("prefix5", False)]
    runs: list[tuple[str, str, list[tuple[str, bool]]]] = [
        ("kk", "kk", kk_rows),
        ("ru", "ru", [("none", True), ("snowball", True), ("snowball", False)]),
        ("en", "en", [("none", True), ("snowball", True), ("snowball", False)]),
        ("en", "ru", [("none", True), ("snowball", True)]),
    ]
    print(
        f"{'queries→pool':<13} {'stemmer':<34} {'n':>4} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'sec':>5}"
    )
    for ql, pl, rows in runs:
        qs = group(ql, pl)
        for name, stop in rows:
            label = name + ("" if stop else " (no stopwords)")
            if ql == "kk" and name == bm25.DEFAULT_KK_STEMMER and stop:
                label += " *default*"
            stemmers = {ql: name, pl: name}
            t0 = time.perf_counter()
            try:
                h1, h5, mrr = evaluate(pools[pl], qs, stemmers, stop)
            except Exception as exc:  # kazstem without its FST bundle, for instance
                msg = str(exc).splitlines()[0][:70]
                print(
                    f"{ql + '→' + pl:<13} {label:<34} {len(qs):>4}  unavailable: {type(exc).__name__}: {msg}"
                )
                continue
            dt = time.perf_counter() - t0
            print(
                f"{ql + '→' + pl:<13} {label:<34} {len(qs):>4} {h1:6.3f} {h5:6.3f} {mrr:7.3f} {dt:5.1f}"
            )


if __name__ == "__main__":
    main()
