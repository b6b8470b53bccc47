"""Deterministic test doubles shared by the answer tests."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rag.errors import GeneratorError


class FakeGenerator:
    """An LLM stand-in: returns queued responses in order and records every call.
    A queued exception is raised instead of answering."""

    name = "fake-llm"
    context_window = 4096

    def __init__(self, responses: list[str | Exception]) -> None:
        self.responses = list(responses)
        self.calls: list[list[dict[str, str]]] = []
        self.schemas: list[dict[str, Any] | None] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None) -> Iterator[str]:
        self.calls.append(messages)
        self.schemas.append(schema)
        if not self.responses:
            raise GeneratorError("no response queued")
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        for word in response.split(" "):
            yield word + " "


@contextmanager
def local_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free 127.0.0.1 port; yields the OpenAI-style base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
