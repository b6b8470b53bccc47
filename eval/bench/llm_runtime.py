"""Compare llama.cpp runtimes on one GGUF: load time, prompt and generation speed, time to
first token, and how fast a cancelled generation frees the model.

Standard library plus the runtime only, so it runs in any virtualenv:

    python eval/bench/llm_runtime.py xllamacpp  MODEL.gguf [--threads 2] [--reps 3]
    python eval/bench/llm_runtime.py llama-cpp-python MODEL.gguf

Each repetition uses a different prompt (a number in front) so no prompt cache helps.
Prints one JSON line of medians; eval/README.md ("Local LLM") has the measured table."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "rag" / "data" / "sample_corpus"
SYSTEM = (
    "Answer the question only from the numbered sources, in the question's language. "
    "Cite every sentence with [n]. If the sources do not answer, say so."
)


def prompt(rep: int, chars: int) -> list[dict[str, str]]:
    """A RAG-shaped prompt: ~`chars` characters of sample-corpus text as two sources."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    half = chars // max(1, len(texts))
    sources = "\n\n".join(f"[{i}] {t[:half]}" for i, t in enumerate(texts, 1))
    user = (f"Request {rep}.\nSources:\n{sources}\n\nQuestion: Summarise in detail what the "
            "sources say about the media forums, with every name, date and number.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


class XLlamaCpp:
    """xllamacpp: llama.cpp's server in-process; streaming through a callback."""

    def __init__(self, path: str, threads: int, n_ctx: int, batch: int) -> None:
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = path
        params.n_ctx, params.n_parallel = n_ctx, 1
        params.n_batch = params.n_ubatch = batch
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        self.server = xlc.Server(params)

    def stream(self, messages: list[dict[str, str]], max_tokens: int,
               stop: threading.Event) -> Iterator[str]:
        import queue

        q: queue.Queue = queue.Queue()

        def cb(chunk: dict) -> bool:
            if "timings" in chunk:
                t = chunk["timings"]
                self.prompt_tokens = t.get("prompt_n", 0) + t.get("cache_n", 0)
            q.put(chunk)
            return stop.is_set()

        def run() -> None:
            self.server.handle_chat_completions(
                {"messages": messages, "max_tokens": max_tokens, "temperature": 0,
                 "stream": True}, cb)
            q.put(None)

        threading.Thread(target=run, daemon=True).start()
        while (chunk := q.get()) is not None:
            for choice in chunk.get("choices") or []:
                if piece := (choice.get("delta") or {}).get("content"):
                    yield piece

    def count(self, messages: list[dict[str, str]]) -> int:
        return self.prompt_tokens  # of the last streamed request (prompt + cached prefix)


class LlamaCppPython:
    """llama-cpp-python: the Llama class and its create_chat_completion iterator."""

    def __init__(self, path: str, threads: int, n_ctx: int, batch: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads,
                         n_threads_batch=threads, n_batch=batch, n_ubatch=batch, verbose=False)

    def stream(self, messages: list[dict[str, str]], max_tokens: int,
               stop: threading.Event) -> Iterator[str]:
        for chunk in self.llm.create_chat_completion(
            messages=messages, max_tokens=max_tokens, temperature=0, stream=True
        ):
            if stop.is_set():
                return
            if piece := chunk["choices"][0]["delta"].get("content"):
                yield piece

    def count(self, messages: list[dict[str, str]]) -> int:
        text = "".join(m["content"] for m in messages)
        return len(self.llm.tokenize(text.encode(), add_bos=False)) + 12  # + template tokens


RUNTIMES: dict[str, Callable[[str, int, int, int], object]] = {
    "xllamacpp": XLlamaCpp, "llama-cpp-python": LlamaCppPython,
}


def one(rt, messages: list[dict[str, str]], max_tokens: int) -> dict[str, float]:
    started = time.perf_counter()
    stamps = [time.perf_counter() for _ in rt.stream(messages, max_tokens, threading.Event())]
    ttft = stamps[0] - started
    gen = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return {"ttft_s": ttft, "gen_tok_s": gen, "pieces": len(stamps)}


def cancel_latency(rt, messages: list[dict[str, str]]) -> float:
    """Seconds from stopping a long generation after 5 pieces to the next answer's first piece,
    minus that answer's own time to first piece: what the abandoned work still costs."""
    stop = threading.Event()
    it = rt.stream(messages, 512, stop)
    for _ in range(5):
        next(it)
    stop.set()
    it.close()
    short = [{"role": "user", "content": "Say OK."}]
    started = time.perf_counter()
    next(iter(rt.stream(short, 4, threading.Event())))
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runtime", choices=list(RUNTIMES))
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--chars", type=int, default=1600, help="source text in the prompt")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--batch", type=int, default=256, help="prompt tokens per decode step")
    args = ap.parse_args()
    started = time.perf_counter()
    rt = RUNTIMES[args.runtime](args.model, args.threads, 4096, args.batch)
    load = time.perf_counter() - started
    runs = []
    for rep in range(args.reps):
        messages = prompt(rep, args.chars)
        row = one(rt, messages, args.max_tokens)
        row["prompt_tokens"] = rt.count(messages)
        row["prompt_tok_s"] = row["prompt_tokens"] / row["ttft_s"]
        runs.append(row)
        print(json.dumps({k: round(v, 3) for k, v in row.items()}), file=sys.stderr)
    result = {"runtime": args.runtime, "model": Path(args.model).name, "threads": args.threads,
              "batch": args.batch, "load_s": round(load, 2), "loadavg": os.getloadavg()[0]}
    for key in ("prompt_tokens", "ttft_s", "prompt_tok_s", "gen_tok_s", "pieces"):
        result[key] = round(statistics.median(r[key] for r in runs), 2)
    result["after_cancel_first_piece_s"] = round(cancel_latency(rt, prompt(99, args.chars)), 2)
    result["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "")
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip interpreter teardown while the runtime's threads may still call back


if __name__ == "__main__":
    main()
