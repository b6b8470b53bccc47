"""`jauap serve`: one process, one loaded index (a Backend), three faces —
the chat page at `/` (Gradio, mounted on FastAPI), the OpenAI-compatible API at `/v1`
(rag.web.openai_api) and MCP over streamable HTTP at `/mcp` (rag.web.mcp_tools).

Binds 127.0.0.1 unless told otherwise. With an API key in Settings (JAUAP_API_KEY),
`/v1` and `/mcp` need `Authorization: Bearer KEY` and answer 401 without it; the key is
compared in constant time and never logged or echoed."""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rag.errors import JauapError
from rag.settings import Settings
from rag.web.app import build_app, page_kwargs
from rag.web.backend import Backend
from rag.web.handlers import REVEAL_SECONDS
from rag.web.mcp_tools import make_mcp
from rag.web.openai_api import (
    MAX_BODY_BYTES,
    APIError,
    api_error_handler,
    error_response,
    make_router,
    validation_handler,
)

PROTECTED = ("/v1", "/mcp")  # what the API key guards; the page stays open
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BearerAuth:
    """ASGI middleware: requests under PROTECTED need `Authorization: Bearer <key>`."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        guarded = scope["type"] == "http" and any(
            path == p or path.startswith(p + "/") for p in PROTECTED
        )
        if guarded and not self._authorized(scope):
            body = json.dumps({"error": {
                "message": "missing or wrong API key: send the header Authorization: Bearer <key>",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: dict) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)
        return False


class BodyLimit:
    """ASGI middleware: a /v1 request body over MAX_BODY_BYTES gets 413 before it is
    parsed (MCP's transport has its own limit)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"0")
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise APIError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes",
                               None, "request_too_large")
            return message

        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            response = error_response(413, f"the request body is larger than {MAX_BODY_BYTES} "
                                      "bytes", None, "request_too_large")
            await response(scope, receive, send)
            return
        await self.app(scope, counted, send)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected under /v1: OpenAI-style JSON, the traceback only in the log."""
    return JSONResponse({"error": {"message": f"internal error ({type(exc).__name__})",
                                   "type": "server_error", "param": None, "code": None}},
                        status_code=500)


def build_server(
    settings: Settings,
    backend: Backend | None = None,
    start: bool = True,
    host: str = "127.0.0.1",
    reveal_seconds: float | None = None,
) -> FastAPI:
    """The FastAPI app: /v1, /mcp, and the page at /. Indexing starts in the background
    unless `start` is False or a `backend` is passed."""
    if backend is None:
        backend = Backend(settings)
        if start:
            backend.start()
    demo = build_app(settings, backend,
                     reveal_seconds=REVEAL_SECONDS if reveal_seconds is None else reveal_seconds)
    mcp = make_mcp(backend)
    # stateless JSON responses: any worker thread answers any request, nothing to resume
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True,
                                      json_response=True, host=host)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    app = FastAPI(title="jauap", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(make_router(backend))
    app.router.routes.extend(mcp_app.routes)  # /mcp, before the page's catch-all mount
    app.add_middleware(BodyLimit)
    if settings.api_key:  # added last: runs first, before any body is read
        app.add_middleware(BearerAuth, key=settings.api_key)
    gr.mount_gradio_app(app, demo, "/", server_name=host, footer_links=["api"],
                        show_error=False, ssr_mode=False, **page_kwargs(backend))
    app.state.backend = backend
    app.state.page = demo
    return app


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    docs: list[Path] | None = None,
    open_browser: bool = False,
) -> None:
    """Index (in the background, with progress on the console and the page) and serve."""
    import uvicorn

    if docs:
        settings = settings.with_(docs=tuple(Path(p) for p in docs))
    for path in settings.docs:
        if not Path(path).exists():
            raise JauapError(f"no such file or folder: {path}")
    _check_port(host, port)
    if host not in LOOPBACK and not settings.api_key:
        print("jauap: warning: serving beyond this machine without JAUAP_API_KEY: anyone who "
              "can reach the port can use /v1 and /mcp", file=sys.stderr, flush=True)
    app = build_server(settings, host=host)
    base = f"http://{host}:{port}"
    print(f"jauap: serving on {base} (page), {base}/v1 (OpenAI-compatible API), {base}/mcp "
          f"(MCP); index: {app.state.backend.where}", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(base)
    # access log off: paths only, but keep the console for the indexer's progress
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _check_port(host: str, port: int) -> None:
    """Fail before indexing when the port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise JauapError(
                f"cannot serve on {host}:{port} ({exc.strerror}): choose another --port"
            ) from None
