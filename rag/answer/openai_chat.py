"""Any OpenAI-compatible chat server (llama.cpp's, vLLM, Ollama, a hosted API) as a
ChatModel, through the official `openai` package.

Bounded: per-read timeout, an overall deadline per answer (a server that sends keep-alive
comments or tokens forever cannot hold a caller), and a token cap. When the consumer stops
iterating, the HTTP connection is closed, which stops the server's generation. Redirects
are not followed, so neither the key nor the prompt goes to another host. The key is never
logged or shown; errors shown to users are short and generic, details go to the log."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import queue
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from rag.errors import ConfigError, GeneratorError, MissingDependencyError

if TYPE_CHECKING:
    from rag.settings import Settings

log = logging.getLogger(__name__)


class _Secret:
    """Holds a string that must not show up in reprs or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def get(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__


def split_base_url(base_url: str) -> tuple[str, tuple[str, str] | None]:
    """(URL to request and safe to show, (user, password) from the URL or None).

    `http://user:pass@host:8000/v1` becomes `http://host:8000/v1` plus the credentials,
    sent as HTTP Basic auth; ConfigError for anything but an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(base_url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or (
        parts.query or parts.fragment
    ):
        raise ConfigError("the OpenAI base URL must be http(s)://host[:port]/path")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{port}" if port else "")
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    creds = None
    if parts.username is not None or parts.password is not None:
        creds = (
            urllib.parse.unquote(parts.username or ""),
            urllib.parse.unquote(parts.password or ""),
        )
    return clean, creds


class OpenAIChat:
    """Streams `{base_url}/chat/completions` from an OpenAI-compatible server.

    `count_tokens` is an estimate, ceil(chars / 3): the chat API has no standard tokenize
    call; set `context_window` below the server's real one to leave slack."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 384,
        temperature: float = 0.0,
        context_window: int = 8192,
        deadline_s: float = 120.0,
        max_retries: int = 1,
    ) -> None:
        """`timeout` bounds connecting and each read; `deadline_s` the whole answer."""
        url, creds = split_base_url(base_url)
        self._shown_url = url
        if not model:
            raise ConfigError("the OpenAI model name is empty")
        if timeout <= 0 or deadline_s <= 0 or max_tokens < 1 or max_retries < 0:
            raise ConfigError(
                f"bad openai settings: timeout={timeout}, deadline_s={deadline_s}, "
                f"max_tokens={max_tokens}, max_retries={max_retries}"
            )
        if creds is not None and api_key:
            raise ConfigError(
                "give the OpenAI credentials either as user:password in the base URL or as "
                "an API key, not both"
            )
        try:
            import httpx2
            import openai
        except ImportError as exc:
            raise MissingDependencyError("openai is not installed: pip install 'jauap[llm]'") from exc
        self.model = model
        self.timeout, self.deadline_s, self.max_tokens = timeout, deadline_s, max_tokens
        self.temperature, self.context_window = temperature, context_window
        self._api_key = _Secret(api_key or None)
        auth = None  # no Authorization header at all
        if api_key:
            auth = f"Bearer {api_key}"
        elif creds is not None:
            auth = "Basic " + base64.b64encode(":".join(creds).encode()).decode()
        self._secrets = [_Secret(s) for s in (api_key, *(creds or ())) if s]
        http = httpx2.Client(
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,  # a redirect would carry the prompt elsewhere
            trust_env=False,  # no proxy or .netrc credentials picked up from the environment
        )
        # The SDK's key is a placeholder: each request sends `auth` (or no header at all).
        self._auth = _Secret(auth)
        omit: dict[str, Any] = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
        self._client = openai.OpenAI(
            api_key="unused", base_url=url, max_retries=max_retries, http_client=http,
            default_headers=omit,  # whatever OPENAI_ORG_ID / OPENAI_PROJECT_ID say
        )

    def __repr__(self) -> str:
        key = "set" if self._api_key.get() else "none"
        return f"OpenAIChat(base_url={self._shown_url!r}, model={self.model!r}, api_key={key})"

    def count_tokens(self, text: str) -> int:
        """Approximate tokens: ceil(len(text) / 3)."""
        return math.ceil(len(text) / 3)

    def _redact(self, text: object) -> str:
        text = " ".join(str(text).split())[:500]
        for secret in self._secrets:
            text = text.replace(secret.get() or "", "***") if secret.get() else text
        return text

    def _fail(self, short: str, detail: object = "") -> GeneratorError:
        """A generic one-line error for users; the detail goes to the log, redacted."""
        log.warning("openai %s: %s (%s)", self._shown_url, short, self._redact(detail))
        return GeneratorError(f"openai: {short}")

    def stream(self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None) -> Iterator[str]:
        """Yield the answer in pieces; GeneratorError on any failure or past the deadline.
        Closing the iterator closes the connection."""
        deadline = time.monotonic() + self.deadline_s
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}
        worker = threading.Thread(
            target=self._read, args=(messages, schema, events, stop, holder), name="openai-stream",
            daemon=True,
        )
        worker.start()
        try:
            yield from self._pieces(events, deadline)
        finally:
            stop.set()
            _abort(holder.get("stream"))

    def _read(self, messages: list[dict[str, str]], schema: dict[str, Any] | None,
              events: queue.Queue[tuple[str, Any]],
              stop: threading.Event, holder: dict[str, Any]) -> None:
        """Worker: request the stream and pass its chunks on until told to stop."""
        import openai

        stream: Any = None
        try:
            stream = self._client.chat.completions.create(
                model=self.model, messages=cast(Any, messages), stream=True,
                max_tokens=self.max_tokens, temperature=self.temperature,
                extra_headers={"Authorization": self._auth.get() or openai.Omit()},
                response_format=cast(Any, {"type": "json_schema", "json_schema": {
                    "name": "reply", "schema": schema}}) if schema else openai.Omit(),
            )
            holder["stream"] = stream
            if stop.is_set():
                return
            if stream.response.headers.get("content-type", "").startswith("application/json"):
                events.put(("whole", stream.response.read()[:10_000_000]))  # ignored stream=True
                return
            for chunk in stream:
                if stop.is_set():
                    return
                events.put(("chunk", chunk))
            events.put(("end", None))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which classifies it
            events.put(("error", exc))
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def _pieces(self, events: queue.Queue[tuple[str, Any]], deadline: float) -> Iterator[str]:
        finished, pieces, chunks = False, 0, 0
        while True:
            try:
                kind, item = events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._fail(f"no complete answer within {self.deadline_s:g} s") from None
            if kind == "error":
                raise self._classify(item)
            if kind == "whole":
                yield self._whole(item)
                return
            if kind == "end":
                if chunks == 0:
                    raise self._fail("empty reply")
                if not finished:
                    raise self._fail("the reply ended before the answer was finished")
                return
            chunks += 1
            for choice in getattr(item, "choices", None) or []:
                piece = getattr(choice.delta, "content", None) if choice.delta else None
                if piece:
                    pieces += 1
                    if pieces > self.max_tokens + 8:  # the server ignored max_tokens
                        raise self._fail(f"the answer exceeded {self.max_tokens} tokens")
                    yield piece
                if choice.finish_reason:
                    finished = True

    def _whole(self, raw: bytes) -> str:
        try:
            text = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._fail("the reply is not a chat completion", raw[:200]) from None
        if not isinstance(text, str) or not text:
            raise self._fail("empty answer")
        return text

    def _classify(self, exc: BaseException) -> GeneratorError:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return self._fail(f"no answer within {self.timeout:g} s", exc)
        if isinstance(exc, openai.APIConnectionError):
            return self._fail("cannot reach the server", exc.__cause__ or exc)
        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            if 300 <= code < 400:
                return self._fail(
                    f"the server redirected (HTTP {code}); set the base URL to the final address",
                    exc.response.headers.get("location", ""),
                )
            return self._fail(f"the server answered HTTP {code}", _body(exc))
        if isinstance(exc, openai.APIError):
            return self._fail("the server reported an error", exc.message)
        return self._fail("the reply is not a chat completion stream", f"{type(exc).__name__}: {exc}")


def from_settings(settings: Settings) -> OpenAIChat:
    """The ChatModel for `--generator openai`, from the configured endpoint."""
    if not settings.openai_base_url or not settings.openai_model:
        raise ConfigError(
            "the openai generator needs a base URL and a model: set OPENAI_BASE_URL and "
            "JAUAP_OPENAI_MODEL (or OPENAI_MODEL)"
        )
    return OpenAIChat(
        settings.openai_base_url, settings.openai_model, settings.openai_api_key,
        timeout=settings.llm_timeout, max_tokens=settings.llm_max_tokens,
        deadline_s=settings.llm_deadline_s,
    )


def _body(exc: Any) -> str:
    with contextlib.suppress(Exception):
        return exc.response.text[:500]
    return ""


def _abort(stream: Any) -> None:
    """Close a streaming response now, from any thread: shut the socket down first so a
    read blocked in the worker returns and the server sees the client go away."""
    if stream is None:
        return
    with contextlib.suppress(Exception):
        sock = stream.response.extensions["network_stream"].get_extra_info("socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        stream.response.close()
