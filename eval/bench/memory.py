"""Resident memory and cold start of a fresh process serving an index of N chunks.

    python eval/bench/memory.py [--sizes 1000,10000] [--queries 200] [--embedder NAME]
        [--index-dir DIR] [--json OUT] [--gate]

For each size an index is built as query_latency.py builds it (real sentences and
sentence vectors, chunk vectors the mean of their sentences': see common.py), or
--index-dir measures an index you built (`jauap index`). A fresh Python process then does
what serving does: imports, loads the embedding model (one warm-up query), opens the index
with the assistant (`open_retriever` + `open_assistant`, extractive), answers one real dev
question, then --queries more. It reads VmRSS/VmHWM from /proc/self/status after each
step. The model-loaded figure is the same-run baseline: what the index and answering add
is `rss_mb - rss_model_mb`. `cold_start_s` runs from the launch of the process to the first
answer, split into `model_ready_s` (imports and the model: the same-run baseline, no index
in it), `load_s` (opening the index and the assistant) and `first_answer_s`; `model_ready_s` is in
turn `imports_s` (interpreter start + this script's and rag.pipeline's imports), `embedder_s`
(constructing it: the tokenizer) and `warmup_s` (its first query, which starts the ONNX
session). With --no-warmup the child skips that query, as serving does: the session then
starts with the first answer and lands in `first_answer_s` (`rss_model_mb` is then no
baseline). With
--index-dir the figures are filed under the index's size in chunks, so its targets apply.
Issue 14's goals: <= 1.0 GB resident and <= 3 s cold start at 100k chunks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_synthetic, dev_questions, finish, load_embedder, machine, memory_mb, parser  # noqa: E402


def child(index_dir: Path, embedder_name: str, evaldata: Path, queries: int, launched: float,
          warmup: bool = True) -> dict[str, Any]:
    """The measured process: each step as serving does it, memory read after each."""
    from rag.pipeline import open_assistant, open_retriever
    from rag.settings import Settings

    out: dict[str, Any] = {"rss_imports_mb": memory_mb()["rss_mb"], "imports_s": time.time() - launched}
    questions = dev_questions(evaldata, queries + 1, seed=1)
    settings = Settings.from_env().with_(index_dir=index_dir, embedder=embedder_name)
    started = time.perf_counter()
    embedder = load_embedder(embedder_name)
    out["embedder_s"] = time.perf_counter() - started  # tokenizer
    if warmup:
        embedder.embed_queries(["warm-up"])
    out["warmup_s"] = time.perf_counter() - started - out["embedder_s"]
    out["rss_model_mb"] = memory_mb()["rss_mb"]
    out["model_ready_s"] = time.time() - launched  # imports + model: the same-run baseline
    started = time.perf_counter()
    assistant = open_assistant(settings, open_retriever(settings, embedder=embedder))
    out["load_s"] = time.perf_counter() - started
    out["rss_loaded_mb"] = memory_mb()["rss_mb"]
    started = time.perf_counter()
    assistant.ask(questions[0])
    out["first_answer_s"] = time.perf_counter() - started
    out["cold_start_s"] = time.time() - launched
    started = time.perf_counter()
    for q in questions[1:]:
        assistant.ask(q)
    out["answers"] = len(questions)
    out["answer_mean_ms"] = 1000 * (time.perf_counter() - started) / max(1, len(questions) - 1)
    mem = memory_mb()
    out["rss_mb"], out["hwm_mb"] = mem["rss_mb"], mem["hwm_mb"]
    return out


def measure(index_dir: Path, args: Any) -> dict[str, Any]:
    """Run `child` in a fresh interpreter; its last stdout line is the JSON."""
    cmd = [sys.executable, __file__, "--child", str(index_dir), "--embedder", args.embedder,
           "--evaldata", str(args.evaldata), "--queries", str(args.queries), "--launched", str(time.time())]
    cmd += ["--no-warmup"] if args.no_warmup else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measured process failed: {done.stderr.strip().splitlines()[-1:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["disk_mb"] = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 2**20
    return out


def show(label: str, chunks: int, g: dict[str, Any]) -> None:
    print(f"  {label}: {chunks} chunks, {g['disk_mb']:.0f} MiB on disk | fresh process VmRSS MiB after: "
          f"imports {g['rss_imports_mb']:.0f}, model {g['rss_model_mb']:.0f}, index "
          f"{g['rss_loaded_mb']:.0f} (load {g['load_s']:.2f} s), after {g['answers']} answers "
          f"{g['rss_mb']:.0f} (peak {g['hwm_mb']:.0f}); index + answering add {g['rss_mb'] - g['rss_model_mb']:.0f}; "
          f"cold start to first answer {g['cold_start_s']:.2f} s (imports + model {g['model_ready_s']:.2f} = "
          f"interpreter + imports {g.get('imports_s', float('nan')):.2f}, embedder {g.get('embedder_s', float('nan')):.2f}, "
          f"first query {g.get('warmup_s', float('nan')):.2f}; index {g['load_s']:.2f}, first answer "
          f"{g['first_answer_s']:.2f}); answers "
          f"{g['answer_mean_ms']:.1f} ms mean")


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="index sizes in chunks")
    ap.add_argument("--queries", type=int, default=200, help="questions answered after the first")
    ap.add_argument("--index-dir", type=Path, help="measure this index instead of building ones")
    ap.add_argument("--no-warmup", action="store_true",
                    help="serving's order: no query before the index opens (as `jauap ask` and the page), "
                         "so the first answer starts the model's session")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.embedder, args.evaldata, args.queries, args.launched,
                               warmup=not args.no_warmup)))
        return 0
    started = time.perf_counter()
    summary: dict[str, Any] = {"machine": machine(), "embedder": args.embedder, "overall": {}, "groups": {}}
    print(f"memory: embedder {args.embedder}, load average {summary['machine']['loadavg']} "
          f"on {summary['machine']['cpus']} CPUs")
    if args.index_dir:
        from rag.index.store import load_manifest

        chunks = load_manifest(args.index_dir).chunks  # the group is its size: targets apply
        g = summary["groups"][str(chunks)] = {"chunks": chunks, **measure(args.index_dir, args)}
        show(str(args.index_dir), chunks, g)
    else:
        print("  index: real sentences and sentence vectors, chunk vectors = mean of their sentences")
        embedder = load_embedder(args.embedder)
        for n in [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]:
            with tempfile.TemporaryDirectory(prefix="jauap-bench-memory-") as tmp:
                report, _ = build_synthetic(n, Path(tmp), embedder, args.evaldata)
                g = summary["groups"][str(n)] = {"chunks": report.chunks, **measure(Path(tmp), args)}
            show(f"~{n}", report.chunks, g)
    return finish("memory", summary, args, started)


if __name__ == "__main__":
    sys.exit(main())
