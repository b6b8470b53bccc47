"""The OpenAI-compatible ChatModel against stub servers on 127.0.0.1: garbage replies,
silence, keep-alive or tokens forever, redirects, user:password URLs, cancellation, and
the key kept out of errors and logs. The real-server test is in test_llama_cpp.py."""

from __future__ import annotations

import base64
import http.server
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rag.answer.openai_chat import OpenAIChat, split_base_url
from rag.errors import ConfigError, GeneratorError
from tests.fakes import local_server

SECRET = "sk-test-DO-NOT-LEAK-4242"
HI = [{"role": "user", "content": "hi"}]
_EVENT = 'data: {"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":%s}]}\n\n'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_repr_and_errors_hide_the_key_and_password() -> None:
    gen = OpenAIChat("http://127.0.0.1:1/v1", "m", api_key=SECRET)
    assert SECRET not in repr(gen) and SECRET not in str(vars(gen))
    user = OpenAIChat("http://user:pw-secret@127.0.0.1:1/v1", "m")
    assert "pw-secret" not in repr(user)
    for bad in ("ftp://x", "http://", "127.0.0.1:8000/v1", "http://host:99999/v1", "http://h/v1?a=1"):
        with pytest.raises(ConfigError, match="http"):
            OpenAIChat(bad, "m")
    with pytest.raises(ConfigError, match="not both"):
        OpenAIChat("http://u:p@127.0.0.1:1/v1", "m", api_key=SECRET)


def test_split_base_url_takes_credentials_out() -> None:
    url, creds = split_base_url(" http://us%40r:p%3Ass@127.0.0.1:8000/v1/ ")
    assert (url, creds) == ("http://127.0.0.1:8000/v1", ("us@r", "p:ss"))
    assert split_base_url("https://api.example.org/v1") == ("https://api.example.org/v1", None)
    assert split_base_url("http://[::1]:8000/v1")[0] == "http://[::1]:8000/v1"


def test_closed_port_fails_fast_without_the_key() -> None:
    gen = OpenAIChat(f"http://127.0.0.1:{_free_port()}/v1", "m", api_key=SECRET, timeout=2)
    started = time.perf_counter()
    with pytest.raises(GeneratorError, match="cannot reach the server") as err:
        list(gen.stream(HI))
    assert time.perf_counter() - started < 5
    assert SECRET not in str(err.value) and "\n" not in str(err.value)


def test_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts TCP connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        gen = OpenAIChat(f"http://127.0.0.1:{port}/v1", "m", api_key=SECRET, timeout=0.5)
        started = time.perf_counter()
        with pytest.raises(GeneratorError, match="0.5 s"):
            list(gen.stream(HI))
        assert time.perf_counter() - started < 4


def _handler(status: int, ctype: str, body: bytes) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


GARBAGE = {
    "html": (200, "text/html", b"<html><body>not an API</body></html>", "empty reply"),
    "json-not-json": (200, "application/json", b"{oops", "not a chat completion"),
    "sse-not-json": (200, "text/event-stream", b"data: {oops\n\n", "not a chat completion"),
    "empty": (200, "text/event-stream", b"", "empty reply"),
    "cut-off": (200, "text/event-stream", (_EVENT % ("Hi", "null")).encode(), "ended before"),
    "http-500": (500, "text/plain", b"internal error " + SECRET.encode(), "HTTP 500"),
    "http-405": (405, "application/json", b'{"detail":"Method Not Allowed"}', "HTTP 405"),
    "sse-error": (200, "text/event-stream", b'data: {"error": {"message": "model not loaded"}}\n\n',
                  "reported an error"),
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_reply_is_one_generic_line_and_the_key_stays_out_of_logs(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, ctype, body, message = GARBAGE[name]
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and the HTTP client's too
    with local_server(_handler(status, ctype, body)) as url:
        gen = OpenAIChat(url, "m", api_key=SECRET, timeout=5, max_retries=0)
        with pytest.raises(GeneratorError, match=message) as err:
            list(gen.stream(HI))
    assert "\n" not in str(err.value) and len(str(err.value)) < 120
    assert "Method Not Allowed" not in str(err.value)  # server text goes to the log only
    assert SECRET not in str(err.value) and SECRET not in caplog.text
    assert "openai http://127.0.0.1" in caplog.text  # the detail is logged


GOOD = {
    "sse": (
        200, "text/event-stream",
        (": keep-alive\n\n" + _EVENT % ("Paris", "null") + _EVENT % (" [1].", '"stop"')).encode()
        + b"data: [DONE]\n\n",
    ),
    "json": (200, "application/json", b'{"choices":[{"message":{"content":"Paris [1]."}}]}'),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_parses_event_stream_and_plain_json(name: str) -> None:
    with local_server(_handler(*GOOD[name])) as url:
        gen = OpenAIChat(url + "/", "m", timeout=5)
        assert "".join(gen.stream(HI)) == "Paris [1]."


class _Record:
    """What a streaming stub saw: request headers, and when its client went away."""

    def __init__(self) -> None:
        self.headers: list[Any] = []  # email.message.Message: case-insensitive
        self.gone = threading.Event()
        self.gone_at = 0.0


@contextmanager
def _streaming_stub(line: bytes, every: float, limit: int = 2000) -> Iterator[tuple[str, _Record]]:
    """Sends `line` every `every` seconds, at most `limit` times, until the client leaves."""
    rec = _Record()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            rec.headers.append(self.headers)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                for _ in range(limit):
                    self.wfile.write(line)
                    self.wfile.flush()
                    time.sleep(every)
            except OSError:
                rec.gone_at = time.monotonic()
                rec.gone.set()

        def log_message(self, *args: object) -> None:
            pass

    with local_server(Handler) as url:
        yield url, rec


def test_keepalive_forever_ends_at_the_deadline_and_hangs_up() -> None:
    with _streaming_stub(b": keepalive\n\n", 0.05) as (url, rec):
        gen = OpenAIChat(url, "m", timeout=5, deadline_s=1.0)
        started = time.monotonic()
        with pytest.raises(GeneratorError, match="no complete answer within 1 s"):
            list(gen.stream(HI))
        assert time.monotonic() - started < 2.0
        assert rec.gone.wait(3), "the connection stayed open after the deadline"


def test_tokens_forever_stop_at_the_token_cap() -> None:
    with _streaming_stub((_EVENT % ("word ", "null")).encode(), 0.002) as (url, rec):
        gen = OpenAIChat(url, "m", timeout=5, max_tokens=20, deadline_s=30)
        pieces: list[str] = []
        with pytest.raises(GeneratorError, match="exceeded 20 tokens"):
            pieces.extend(gen.stream(HI))
        assert 20 <= len(pieces) <= 28
        assert rec.gone.wait(3)


def test_a_consumer_that_stops_reading_cancels_the_request() -> None:
    with _streaming_stub((_EVENT % ("word ", "null")).encode(), 0.05) as (url, rec):
        gen = OpenAIChat(url, "m", timeout=5, deadline_s=30)
        stream = gen.stream(HI)
        assert [next(stream) for _ in range(3)] == ["word "] * 3
        closed = time.monotonic()
        stream.close()
        assert rec.gone.wait(3) and rec.gone_at - closed < 1.0


def test_redirects_are_not_followed_so_nothing_reaches_another_host() -> None:
    """A 127.0.0.1 stub redirects to a server on 127.0.0.2: the client must not follow,
    so neither the key nor the prompt is sent there."""
    other_hits: list[dict[str, str]] = []

    class Other(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            other_hits.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    target = f"http://127.0.0.2:{other.server_address[1]}/v1/chat/completions"
    try:
        for code in (302, 307, 308):
            redirect = _handler(code, "text/plain", b"moved")

            class Moved(redirect):  # type: ignore[misc, valid-type]
                def send_response(self, code: int, message: str | None = None) -> None:
                    super().send_response(code, message)
                    self.send_header("Location", target)

            with local_server(Moved) as url:
                gen = OpenAIChat(url, "m", api_key=SECRET, timeout=5, max_retries=0)
                with pytest.raises(GeneratorError, match=f"redirected \\(HTTP {code}\\)"):
                    list(gen.stream(HI))
    finally:
        other.shutdown()
        other.server_close()
    assert other_hits == []


def test_user_and_password_in_the_url_become_basic_auth() -> None:
    with _streaming_stub((_EVENT % ("ok", '"stop"')).encode() + b"data: [DONE]\n\n", 0, 1) as (
        url, rec,
    ):
        gen = OpenAIChat(url.replace("http://", "http://us%40r:p%3Ass@"), "m", timeout=5)
        assert "".join(gen.stream(HI)) == "ok"
        assert rec.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"us@r:p:ss").decode()
    with _streaming_stub((_EVENT % ("ok", '"stop"')).encode() + b"data: [DONE]\n\n", 0, 1) as (
        url, rec,
    ):
        assert "".join(OpenAIChat(url, "m", timeout=5).stream(HI)) == "ok"
        assert "Authorization" not in rec.headers[0]  # no key: no header at all
        assert "".join(OpenAIChat(url, "m", api_key=SECRET, timeout=5).stream(HI)) == "ok"
        assert rec.headers[1]["Authorization"] == f"Bearer {SECRET}"
