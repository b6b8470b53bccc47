"""The chat page: `build_app(settings)` → a `gr.Blocks`; `jauap serve` / `python app.py`
(rag.web.server.serve) mount it at `/` of one server with the OpenAI-compatible API and MCP.

Layout: a status line, a Chat tab (conversation with [n] links, a Sources panel of
cards, example questions, a Settings accordion) and a Documents tab (upload, table,
remove). Interface strings come in Kazakh, Russian and English (rag/i18n/page.py), the
HTML in rag/web/render.py, the handlers in rag/web/handlers.py, the components in
rag/web/layout.py, the shared index and uploads in rag/web/backend.py.

Gradio API (gradio_client): `/ask` (question, generator, k) → the `jauap ask --json`
record; `/status` () → {"state", "ready", "documents", "chunks", "progress", "message",
"error"}.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag.i18n.page import CSS, HEAD
from rag.settings import Settings
from rag.web.backend import ANSWER_CONCURRENCY, Backend, available_generators, public_url
from rag.web.handlers import REVEAL_SECONDS, WebApp
from rag.web.layout import PageConfig, layout

__all__ = ["WebApp", "build_app", "page_kwargs"]


def page_kwargs(backend: Backend) -> dict[str, Any]:
    """Theme, CSS, the [n]-link script and the upload cap for mounting the page."""
    theme = gr.themes.Default(
        font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )  # no web fonts: offline
    # bigger files than twice the limit get Gradio's refusal, smaller ones our message
    return {"theme": theme, "css": CSS, "head": HEAD,
            "max_file_size": f"{int(backend.upload_limit_mb * 2 * 1024 * 1024)}b"}


def build_app(
    settings: Settings,
    backend: Backend | None = None,
    start: bool = True,
    reveal_seconds: float = REVEAL_SECONDS,
) -> gr.Blocks:
    """The page. Starts indexing in the background unless `start` is False (or a
    `backend` is passed); the status line follows it."""
    if backend is None:
        backend = Backend(settings)
        if start:
            backend.start()
    generators = available_generators(settings)
    app = WebApp(backend, generators, reveal_seconds)
    cfg = PageConfig(settings.ui_lang, generators, public_url(settings.openai_base_url),
                     settings.openai_model or "", min(settings.k, 10))
    # analytics off: the page works offline; delete_cache: uploads' temp copies
    with gr.Blocks(title="jauap", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        layout(demo, app, cfg)

        def ask(question, generator="extractive", k=5):  # noqa: ANN001, ANN202
            return app.api_ask(question, generator, k)

        ask.__annotations__ = {"question": str, "generator": str, "k": int, "return": dict}
        ask.__doc__ = "Answer a question from the documents: the `jauap ask --json` record."

        def status():  # noqa: ANN202
            return app.api_status()

        status.__annotations__ = {"return": dict}
        status.__doc__ = "Index state: ready, documents, chunks, progress."
        gr.api(ask, api_name="ask", concurrency_id="answer")
        gr.api(status, api_name="status", concurrency_limit=None)
    # the one place the number of answers at once is set (events share "answer")
    demo.queue(default_concurrency_limit=ANSWER_CONCURRENCY, max_size=128)
    demo.jauap = app  # for tests and embedding
    return demo
