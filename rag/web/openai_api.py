"""An OpenAI-compatible chat API over the shared Backend, mounted at `/v1` by rag.web.server.

`GET /v1/models` lists the index as one model; `POST /v1/chat/completions` answers the last
user message with the earlier user/assistant turns as history. The answer text (with [n]
markers) is `choices[0].message.content`; extra fields on the message (and on the final
streamed chunk's delta): `citations` (n, title, source, date, lang, quote, start, end,
doc_id, chunk_id), `refused` (true when the documents don't say) and `standalone_question`
(a follow-up as it was searched, rewritten with the conversation; null otherwise). Citations are checked
before anything is sent, so a streamed answer's content deltas add up to the same checked
text. Errors are OpenAI-style JSON: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.answer.assistant import Answer
from rag.errors import InputError, JauapError
from rag.text.markers import parse_markers
from rag.web.backend import Backend, BusyError, NotReadyError, hide_paths

log = logging.getLogger("jauap.api")

# Request limits: a chat front end sends the whole conversation each time; these bound
# what one request can make the server read and answer.
MAX_MESSAGES = 64
MAX_MESSAGE_CHARS = 8_000
MAX_TOTAL_CHARS = 32_000
MAX_TOKENS = 4_096
MAX_API_K = 20
MAX_BODY_BYTES = 1_000_000  # a request body larger than this is refused before parsing
_STREAM_PIECE_WORDS = 3  # words per streamed content delta
_ROLES = Literal["system", "developer", "user", "assistant", "tool"]


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: _ROLES
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields jauap reads; other OpenAI fields (temperature, top_p, ...) are accepted
    and ignored. `k` (passages to consider) is a jauap extra."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    n: int | None = Field(default=None, ge=1, le=1)
    k: int | None = Field(default=None, ge=1, le=MAX_API_K)


class APIError(Exception):
    """An error answered as OpenAI-style JSON."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status, message, param, code, kind)


def error_response(status: int, message: str, param: str | None = None,
                   code: str | None = None, kind: str = "invalid_request_error") -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc.status, exc.message, exc.param, exc.code, exc.kind)


async def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's complaint as one line naming the field (never the request body)."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return error_response(400, "the request body is not valid JSON", None, "invalid_json")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = f"{param}: {first.get('msg', 'invalid value')}" if param else "invalid JSON body"
    return error_response(400, message, param, "invalid_value")


def model_id(backend: Backend) -> str:
    """The index, as the one model this server offers (its folder's or store's name)."""
    return backend.index_name


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """(question, history): the last message must be the user's; earlier user messages
    each followed by an assistant message become (question, answer) pairs. System and
    tool messages are ignored: jauap answers from its documents only."""
    texts = [(m.role, m.text()) for m in messages]
    for i, (_, text) in enumerate(texts):
        if len(text) > MAX_MESSAGE_CHARS:
            raise APIError(400, f"messages.{i}.content is longer than {MAX_MESSAGE_CHARS} "
                           "characters", f"messages.{i}.content", "message_too_long")
    if sum(len(text) for _, text in texts) > MAX_TOTAL_CHARS:
        raise APIError(400, f"messages hold more than {MAX_TOTAL_CHARS} characters in all",
                       "messages", "messages_too_long")
    turns = [(role, text) for role, text in texts if role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise APIError(400, "the last message must be a non-empty user message", "messages")
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            pending = text
        elif pending is not None:
            history.append((pending, text))
            pending = None
    return turns[-1][1], history


def citation_fields(backend: Backend, answer: Answer) -> list[dict[str, Any]]:
    """The checked citations, with sources shown relative to their folder."""
    keys = ("n", "title", "date", "lang", "quote", "start", "end", "doc_id", "chunk_id")
    out = []
    for c in answer.citations:
        d = c.to_dict()
        out.append({**{k: d.get(k) for k in keys}, "source": backend.display_source(d["source"])})
    return out


def _cut(text: str, max_tokens: int | None) -> tuple[str, str]:
    """(content, finish_reason): at most `max_tokens` words (a word ≈ a token here)."""
    words = text.split(" ")
    if max_tokens is None or len(words) <= max_tokens:
        return text, "stop"
    return " ".join(words[:max_tokens]), "length"


class ChatAPI:
    """The /v1 handlers over one Backend; answers share its answer slots."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def answer(self, req: ChatRequest) -> Answer:
        if req.model != model_id(self.backend):
            raise APIError(404, f"the model {req.model!r} does not exist: use "
                           f"{model_id(self.backend)!r} (GET /v1/models)", "model",
                           "model_not_found")
        question, history = split_messages(req.messages)
        settings = self.backend.settings
        try:
            with self.backend.answer_slot():
                assistant = self.backend.assistant(settings.generator, req.k or settings.k)
                return assistant.ask(question, history)
        except BusyError as exc:
            raise APIError(503, str(exc), None, "server_busy", "server_error") from None
        except NotReadyError as exc:
            raise APIError(503, str(exc), None, "index_not_ready", "server_error") from None
        except InputError as exc:
            raise APIError(400, hide_paths(str(exc))) from None
        except JauapError as exc:  # e.g. a ConfigError: the server's setup, not the request
            raise APIError(500, hide_paths(str(exc)), kind="server_error") from None

    def completion(self, req: ChatRequest) -> dict[str, Any]:
        answer = self.answer(req)
        content, finish = _cut(answer.answer, req.max_completion_tokens or req.max_tokens)
        message = {"role": "assistant", "content": content, "refusal": None,
                   "refused": answer.refused, "citations": self._kept(answer, content),
                   "standalone_question": answer.standalone_question}
        words_in = sum(len(m.text().split()) for m in req.messages)
        words_out = len(content.split())
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": req.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": None}],
            "usage": {"prompt_tokens": words_in, "completion_tokens": words_out,
                      "total_tokens": words_in + words_out},
        }

    def _kept(self, answer: Answer, content: str) -> list[dict[str, Any]]:
        shown = set(parse_markers(content))
        return [c for c in citation_fields(self.backend, answer) if c["n"] in shown]

    def chunks(self, req: ChatRequest, answer: Answer) -> Iterator[str]:
        """Server-sent events: the role, the checked content in pieces, then a final chunk
        with finish_reason, `citations` and `refused`, then [DONE]."""
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def event(delta: dict[str, Any], finish: str | None = None) -> str:
            chunk = {"id": cid, "object": "chat.completion.chunk", "created": created,
                     "model": req.model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                  "logprobs": None}]}
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

        content, finish = _cut(answer.answer, req.max_completion_tokens or req.max_tokens)
        yield event({"role": "assistant", "content": ""})
        words = content.split(" ")
        for i in range(0, len(words), _STREAM_PIECE_WORDS):
            piece = " ".join(words[i : i + _STREAM_PIECE_WORDS])
            yield event({"content": piece if i == 0 else " " + piece})
        yield event({"citations": self._kept(answer, content), "refused": answer.refused,
                     "standalone_question": answer.standalone_question}, finish)
        yield "data: [DONE]\n\n"


def make_router(backend: Backend) -> APIRouter:
    """`/v1/models` and `/v1/chat/completions`."""
    api = ChatAPI(backend)
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    def models() -> dict[str, Any]:
        """The index, as the one model."""
        return {"object": "list", "data": [{"id": model_id(backend), "object": "model",
                                            "created": 0, "owned_by": "jauap"}]}

    @router.post("/chat/completions", response_model=None)
    def chat_completions(req: ChatRequest) -> dict[str, Any] | StreamingResponse:
        """A cited answer to the last user message (sync: runs in the thread pool)."""
        if not req.stream:
            return api.completion(req)
        answer = api.answer(req)  # errors before the stream starts get a status code
        return StreamingResponse(api.chunks(req, answer), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return router
