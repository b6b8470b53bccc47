"""A local GGUF model as a ChatModel, run in-process by xllamacpp (llama.cpp's own server
code behind a prebuilt wheel, so nothing is compiled on install).

Chosen over llama-cpp-python on measured install time, speed and API fit (eval/README.md,
"Local LLM"). Every generation has an overall deadline and a token cap, one runs at a
time, and when the consumer stops iterating the upstream work is cancelled."""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answer import gguf
from rag.errors import ConfigError, GeneratorError, MissingDependencyError

if TYPE_CHECKING:
    from rag.settings import Settings

log = logging.getLogger(__name__)

# Prompt tokens decoded per step. Smaller steps let a cancelled or overdue generation
# stop sooner while the prompt is read (progress events come once per step); 256 costs
# no measurable prompt speed against 512 on 2 cores (eval/README.md, "Local LLM").
_BATCH = 256
_COUNT_MEMO = 4096  # remembered token counts per model


def _import_runtime() -> Any:
    """Import xllamacpp with OpenMP's threads sleeping, not spinning, while they wait:
    llama.cpp's spinning threads starve each other on 2 shared cores (Qwen2.5 1.5B
    generation 0.35 tokens/s spinning, 12.7 passive, load average 9; eval/README.md).
    Must happen before the wheel's libgomp starts; an explicit OMP_WAIT_POLICY is kept."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xllamacpp
    except ImportError as exc:
        raise MissingDependencyError(
            "xllamacpp is not installed: pip install 'jauap[llama]'"
        ) from exc
    return xllamacpp


def _one_line(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(chunk: dict[str, Any]) -> str | None:
    """The server's error message if `chunk` is an error reply, else None."""
    err = chunk.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err)
    if err:
        return str(err)
    if "choices" not in chunk and ("message" in chunk or "code" in chunk):
        return str(chunk.get("message") or chunk.get("code"))
    return None


class LlamaCppChat:
    """A GGUF model loaded on first use into an in-process llama.cpp server (xllamacpp).

    The GGUF's own chat template renders the messages (llama.cpp falls back to ChatML
    when the file has none). `count_tokens` uses the model's tokenizer through the
    server's /tokenize endpoint, bound to 127.0.0.1 with a random API key."""

    name = "llama-cpp"
    note: str | None = None  # set when a fallback model was chosen (see from_settings)

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        n_threads: int = 2,
        max_tokens: int = 384,
        temperature: float = 0.0,
        deadline_s: float = 60.0,
    ) -> None:
        """`deadline_s` bounds one whole generation (waiting for the lock included);
        `max_tokens` caps the answer's length."""
        self.model_path = Path(model_path).expanduser()
        if n_ctx < 256 or max_tokens < 1 or n_threads < 1 or deadline_s <= 0:
            raise ConfigError(
                f"bad llama-cpp settings: n_ctx={n_ctx}, max_tokens={max_tokens}, "
                f"n_threads={n_threads}, deadline_s={deadline_s}"
            )
        _import_runtime()
        if not self.model_path.is_file():
            raise ConfigError(f"GGUF model file not found: {self.model_path}")
        self.n_ctx, self.n_threads = n_ctx, n_threads
        self.max_tokens, self.temperature, self.deadline_s = max_tokens, temperature, deadline_s
        self._server: Any = None
        self._key = secrets.token_urlsafe(24)
        self._load_lock = threading.Lock()
        self._busy = threading.Lock()  # one generation at a time; released by its worker
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._counts: dict[str, int] = {}
        self._stop = threading.Event()  # of the generation running now
        self._worker: threading.Thread | None = None
        _LIVE.add(self)

    def __repr__(self) -> str:
        return f"LlamaCppChat(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"

    @property
    def context_window(self) -> int:
        """Tokens the prompt and the answer share (the n_ctx the model is loaded with)."""
        return self.n_ctx

    def _load(self) -> Any:
        if self._server is None:
            with self._load_lock:
                if self._server is None:
                    self._server = self._start()
        return self._server

    def _start(self) -> Any:
        xlc = _import_runtime()
        params = xlc.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.n_batch = params.n_ubatch = _BATCH
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # any free port: only /tokenize is used over HTTP
        params.api_keys = [self._key]
        params.verbosity = -1  # llama.cpp's log lines stay off the user's terminal
        started = time.perf_counter()
        try:
            server = xlc.Server(params)
        except (RuntimeError, ValueError, OSError) as exc:
            raise GeneratorError(
                f"could not load {self.model_path.name}: {_one_line(exc)}"
            ) from exc
        log.info("loaded %s in %.1f s", self.model_path.name, time.perf_counter() - started)
        return server

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self._load().listening_address.rstrip("/") + path
        req = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._key}"},
        )
        try:
            with self._http.open(req, timeout=30) as resp:
                return json.load(resp)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise GeneratorError(f"llama-cpp {path} failed: {_one_line(exc)}") from None

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer (no BOS); remembered, since
        fitting a prompt counts the same pieces many times."""
        count = self._counts.get(text)
        if count is None:
            reply = self._post("/tokenize", {"content": text, "add_special": False})
            count = len(reply.get("tokens") or [])
            if len(self._counts) >= _COUNT_MEMO:
                self._counts.clear()
            self._counts[text] = count
        return count

    def stream(self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None) -> Iterator[str]:
        """Yield the answer in pieces; GeneratorError on failure, on the deadline, or when
        another generation holds the model past it. Closing the iterator cancels."""
        server = self._load()
        deadline = time.monotonic() + self.deadline_s
        if not self._busy.acquire(timeout=self.deadline_s):
            raise GeneratorError(f"llama-cpp is busy: no turn within {self.deadline_s:g} s")
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Any) -> bool:  # called by llama.cpp; True stops the generation
            if stop.is_set() or time.monotonic() > deadline:
                return True
            events.put(("chunk", chunk))
            return False

        def run() -> None:
            try:
                server.handle_chat_completions(self._body(messages, schema), on_chunk)
                events.put(("end", None))
            except Exception as exc:  # noqa: BLE001 - reported to the consumer
                events.put(("error", exc))
            finally:
                self._busy.release()

        self._stop, self._worker = stop, threading.Thread(
            target=run, name="llama-cpp-generation", daemon=True
        )
        self._worker.start()
        try:
            yield from self._pieces(events, deadline)
        finally:
            stop.set()

    def close(self, wait_s: float = 30.0) -> None:
        """Stop a running generation, wait up to `wait_s` for it, and free the model.
        Runs at exit too: a generation still calling back into Python while the
        interpreter shuts down would crash it."""
        self._stop.set()
        worker = self._worker
        if worker is not None:
            worker.join(wait_s)
        with self._load_lock:
            self._server = None

    def _body(self, messages: list[dict[str, str]], schema: dict[str, Any] | None) -> dict[str, Any]:
        body = {
            "messages": messages, "stream": True, "return_progress": True,
            "max_tokens": self.max_tokens, "temperature": self.temperature, "seed": 0,
        }
        if schema is not None:  # llama.cpp turns it into a grammar: only JSON of that shape
            body["json_schema"] = schema
        return body

    def _pieces(self, events: queue.Queue[tuple[str, Any]], deadline: float) -> Iterator[str]:
        finished, pieces = False, 0
        late = GeneratorError(f"llama-cpp: no complete answer within {self.deadline_s:g} s")
        while True:
            try:
                kind, item = events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise late from None
            if kind == "error":
                raise GeneratorError(f"llama-cpp failed: {_one_line(item)}")
            if kind == "end":
                if not finished:
                    # stopped by `on_chunk` at the deadline: the "end" can come before the
                    # wait above times out (CI under load, 2026-12-07)
                    if time.monotonic() >= deadline:
                        raise late
                    raise GeneratorError("llama-cpp stopped before the answer was finished")
                return
            if not isinstance(item, dict) or (why := _error_text(item)) is not None:
                raise GeneratorError(f"llama-cpp failed: {_one_line(why or item)}")
            for choice in item.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    pieces += 1
                    if pieces > self.max_tokens + 8:  # the server's own cap failed
                        raise GeneratorError(f"llama-cpp exceeded {self.max_tokens} tokens")
                    yield piece
                if choice.get("finish_reason"):
                    finished = True


_LIVE: weakref.WeakSet[LlamaCppChat] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for chat in list(_LIVE):
        chat.close()


def default_model(cache_dir: Path) -> tuple[Path, str | None]:
    """The GGUF `--generator llama-cpp` uses without a configured path: the fetched
    default model, else the small smoke-test model with a note saying how to get the
    default. ConfigError if neither is available."""
    path = gguf.fetched(gguf.DEFAULT_MODEL, cache_dir)
    if path is not None:
        return path, None
    try:
        small = gguf.bundled_gguf(gguf.SMOKE_MODEL, cache_dir)
    except ConfigError:
        raise ConfigError(
            f"no local model: run `jauap models fetch {gguf.DEFAULT_MODEL}` "
            "(or set JAUAP_LLAMA_MODEL_PATH to a GGUF file)"
        ) from None
    note = (
        f"using the tiny {gguf.SMOKE_MODEL} model, whose answers are poor: run "
        f"`jauap models fetch {gguf.DEFAULT_MODEL}` for the default model"
    )
    return small, note


def from_settings(settings: Settings) -> LlamaCppChat:
    """The ChatModel for `--generator llama-cpp`: `settings.llama_model_path`, or the
    default fetched model (see `default_model`; its note is logged and kept as `.note`)."""
    note = None
    path = settings.llama_model_path
    if path is None:
        path, note = default_model(settings.cache_dir)
        if note:
            log.warning("%s", note)
    chat = LlamaCppChat(
        path, max_tokens=settings.llm_max_tokens, deadline_s=settings.llm_deadline_s
    )
    chat.note = note
    return chat
