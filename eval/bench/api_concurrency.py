"""Concurrent API clients while the chat page is in use: all answered, none crossed.

    python eval/bench/api_concurrency.py [--clients 8] [--rounds 4] [--page-users 2]
        [--embedder NAME] [--generator extractive] [--json OUT] [--gate]

Serves `jauap serve`'s app (page at /, API at /v1, MCP at /mcp; uvicorn on a free
127.0.0.1 port) over the small kk/ru/en corpus the API tests use. First every question is
asked once alone (the reference answers); once every page user has had an answer,
--clients threads, each with its own
official `openai` client, ask --rounds questions each (alternately streamed and not, each
client starting at a different question) while --page-users threads keep asking through
the page's own API (gradio_client `/ask`). An answer is "crossed" when its content
differs from the reference answer to its question. Prints p50/p95 latency per kind of
request; targets in eval/bench/targets.toml [api_concurrency].
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import finish, machine, parser, stats_ms  # noqa: E402

from rag.settings import Settings  # noqa: E402
from tests.servers import QUESTIONS, UNANSWERABLE, indexed_backend, running  # noqa: E402

ASKED = [*QUESTIONS.values(), UNANSWERABLE]


def api_answer(client: Any, question: str, stream: bool) -> str:
    """The answer content (streamed deltas joined) and a check that citations came."""
    messages = [{"role": "user", "content": question}]
    if not stream:
        reply = client.chat.completions.create(model="index", messages=messages)
        assert "citations" in reply.choices[0].message.model_extra
        return reply.choices[0].message.content
    chunks = list(client.chat.completions.create(model="index", messages=messages, stream=True))
    assert "citations" in chunks[-1].choices[0].delta.model_extra
    return "".join(c.choices[0].delta.content or "" for c in chunks)


def measure(url: str, clients: int, rounds: int, page_users: int) -> dict[str, Any]:
    import openai
    from gradio_client import Client

    def client() -> Any:
        return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)

    reference = {q: api_answer(client(), q, stream=False) for q in ASKED}
    times: dict[str, list[float]] = {"api": [], "api_stream": [], "page": []}
    counts = {"asked": 0, "answered": 0, "crossed": 0, "errors": 0, "page_answered": 0}
    lock, done = threading.Lock(), threading.Event()

    def record(kind: str, question: str, started: float, content: str | None) -> None:
        with lock:
            times[kind].append(time.perf_counter() - started)
            key = "page_answered" if kind == "page" else "answered"
            counts[key] += content is not None
            counts["crossed"] += content is not None and content != reference[question]

    def api_worker(i: int) -> None:
        c = client()
        for r in range(rounds):
            question, stream = ASKED[(i + r) % len(ASKED)], (i + r) % 2 == 1
            started = time.perf_counter()
            with lock:
                counts["asked"] += 1
            try:
                content = api_answer(c, question, stream)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                print(f"  client {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
                with lock:
                    counts["errors"] += 1
                continue
            record("api_stream" if stream else "api", question, started, content)

    warm = threading.Barrier(page_users + 1) if page_users else None

    def page_worker(i: int) -> None:
        page = Client(url + "/", verbose=False)
        n = 0
        while not done.is_set():
            if n == 1 and warm is not None:
                warm.wait(timeout=120)  # every page user is answering: start the API clients
            question = ASKED[(i + n) % len(ASKED)]
            started = time.perf_counter()
            try:
                answer = page.predict(question, "extractive", 5, api_name="/ask")
                record("page", question, started, answer["answer"])
            except Exception as exc:  # noqa: BLE001
                print(f"  page user {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
                with lock:
                    counts["errors"] += 1
            n += 1

    pages = [threading.Thread(target=page_worker, args=(i,)) for i in range(page_users)]
    apis = [threading.Thread(target=api_worker, args=(i,)) for i in range(clients)]
    for t in pages:
        t.start()
    if warm is not None:
        warm.wait(timeout=120)
    started = time.perf_counter()
    for t in apis:
        t.start()
    for t in apis:
        t.join()
    wall = time.perf_counter() - started
    done.set()
    for t in pages:
        t.join()
    all_api = times["api"] + times["api_stream"]
    overall = {**counts, "unanswered": counts["asked"] - counts["answered"],
               "wall_s": wall, "api_per_s": counts["answered"] / wall if wall else 0.0,
               **{f"api_{k}_ms": v for k, v in stats_ms(all_api).items() if k in ("p50", "p95")}}
    return {"overall": overall, "groups": {k: stats_ms(v) for k, v in times.items()}}


def main() -> int:
    ap = parser(__doc__ or "")
    ap.set_defaults(embedder="fake")
    ap.add_argument("--clients", type=int, default=8, help="concurrent API clients")
    ap.add_argument("--rounds", type=int, default=4, help="questions per API client")
    ap.add_argument("--page-users", type=int, default=2, help="concurrent page users")
    ap.add_argument("--generator", default="extractive", help="the server's generator")
    args = ap.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jauap-api-bench-") as tmp:
        # a real model comes from the usual cache (built or fetched once); fake needs none
        cache = {} if args.embedder == "fake" else {"cache_dir": Settings.from_env().cache_dir}
        backend = indexed_backend(Path(tmp), embedder=args.embedder, generator=args.generator,
                                  **cache)
        with running(backend) as url:
            figures = measure(url, args.clients, args.rounds, args.page_users)
    summary = {"machine": machine(), "clients": args.clients, "rounds": args.rounds,
               "page_users": args.page_users, "embedder": args.embedder,
               "generator": args.generator, **figures}
    o = figures["overall"]
    print(f"{args.clients} API clients x {args.rounds} questions, {args.page_users} page users "
          f"({args.embedder} embedder, {args.generator} generator):")
    print(f"  API: {o['answered']}/{o['asked']} answered, {o['crossed']} crossed, "
          f"{o['errors']} errors; page: {o['page_answered']} answered during the run")
    for kind, s in figures["groups"].items():
        if s["n"]:
            print(f"  {kind:>10}: n={s['n']:3d}  p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms  "
                  f"max {s['max']:7.1f} ms")
    print(f"  wall {o['wall_s']:.2f} s, {o['api_per_s']:.1f} API answers/s")
    return finish("api_concurrency", summary, args, started)


if __name__ == "__main__":
    sys.exit(main())
