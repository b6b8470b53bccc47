"""Shared setup for the API/MCP tests: a small kk/ru/en corpus and `jauap serve`'s app
run by uvicorn in a thread on a free 127.0.0.1 port (fake embedder: fast, offline)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from rag.settings import Settings
from rag.web.backend import Backend

CORPUS = {
    "festival_kk.txt": "Жаңа толқын фестивалі\n\nЖаңа толқын фестивалі 2024 жылы Ақтау "
    "қаласында өтті. Жаңа толқын фестивалін Ақтау қаласында Серік Әлиев ұйымдастырды.\n",
    "forum_ru.txt": "Медиафорум в Алматы\n\nВторой медиафорум прошёл в Алматы в сентябре "
    "2025 года. Форум открыл пресс-секретарь Президента.\n",
    "quokka_en.txt": "Quokka census\n\nThe quokka census on Rottnest Island counted twelve "
    "thousand quokkas in 2023. The census was led by Dr Alice Brown.\n",
}
QUESTIONS = {
    "kk": "Жаңа толқын фестивалі қай жылы Ақтау қаласында өтті?",
    "ru": "Когда прошёл второй медиафорум в Алматы?",
    "en": "The quokka census on Rottnest Island counted how many quokkas in 2023?",
}
UNANSWERABLE = "Who won the 2018 football World Cup in Moscow?"


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def indexed_backend(tmp: Path, backend_args: dict | None = None, **settings: object) -> Backend:
    """A Backend over CORPUS, indexed, with the fake embedder, no span reader (its model
    builds from the real e5 weights) and a private cache;
    `backend_args` go to Backend (e.g. concurrency)."""
    values: dict[str, object] = {
        "index_dir": tmp / "index", "docs": (write_corpus(tmp / "docs"),), "embedder": "fake",
        "cache_dir": tmp / "cache", "answer_reader": "none", **settings,
    }
    backend = Backend(Settings(**values), **(backend_args or {}))  # type: ignore[arg-type]
    backend.reindex()
    return backend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(backend: Backend, timeout: float = 30.0) -> Iterator[str]:
    """Serve `jauap serve`'s app for `backend`; yields the base URL (no trailing slash)."""
    from rag.web.server import build_server

    app = build_server(backend.settings, backend=backend, reveal_seconds=0.0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
