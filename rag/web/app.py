"""The chat page: `python app.py` / `jauap serve` → `serve(settings, host, port, docs)`.

Layout: a status line, a Chat tab (conversation with [n] links, a Sources panel of
cards, example questions, a Settings accordion) and a Documents tab (upload, table,
remove). Interface strings come in Kazakh, Russian and English (rag/web_text.py), the
HTML in rag/web_render.py, the shared index and uploads in rag/web_backend.py.

API (gradio_client): `/ask` (question, generator, k) → the `jauap ask --json` record;
`/status` () → {"state", "ready", "documents", "chunks", "progress", "message", "error"}.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the page works offline

import gradio as gr  # noqa: E402

from rag.answer.generators import GENERATOR_NAMES  # noqa: E402
from rag.errors import JauapError  # noqa: E402
from rag.i18n.page import CSS, HEAD, UPLOAD_LIMIT_MB, t  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.web.backend import (  # noqa: E402
    Backend,
    NotReadyError,
    UploadError,
    available_generators,
    public_url,
    safe_filename,
)
from rag.web.render import esc, render_messages, render_panel  # noqa: E402

__all__ = ["WebApp", "build_app", "serve", "safe_filename", "launch_kwargs"]
log = logging.getLogger("jauap.web")
DEFAULT_UI_LANG = (
    os.environ.get("JAUAP_UI_LANG", "kk")
    if os.environ.get("JAUAP_UI_LANG", "kk") in ("kk", "ru", "en")
    else "kk"
)
CONCURRENCY = 4  # answers at once (they mostly wait on the reveal or a remote LLM)
REVEAL_SECONDS = 0.6  # the extractive answer is shown word by word over about this long
_WORDS = re.compile(r"\S+\s*")


_STAGES = {
    "reading documents": "stage_reading",
    "loading the embedding model": "stage_model",
    "chunks": "stage_chunks",
    "sentences": "stage_sentences",
}


def _stage(message: str, ui_lang: str) -> str:
    """The indexer's progress message ("chunks 3/7") in the interface language."""
    for prefix, key in _STAGES.items():
        if message.startswith(prefix):
            return t(ui_lang, key) + message[len(prefix) :]
    return message


class WebApp:
    """The page's event handlers; the same object serves every session."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # --- chat ------------------------------------------------------------------------

    def respond(
        self,
        question: str,
        turns: list[dict] | None,
        generator: str = "extractive",
        k: int | float = 5,
        base_url: str = "",
        model: str = "",
        ui_lang: str = "en",
    ) -> Iterator[tuple[Any, Any, list[dict], Any]]:
        """Yield (chat messages, sources panel, session turns, question box) while the
        answer streams. `turns` is this session's own history (a gr.State)."""
        question = (question or "").strip()
        turns = [dict(tr) for tr in (turns or [])]
        if not question:
            yield gr.skip(), gr.skip(), turns, gr.skip()
            return
        history = [(tr["question"], tr["answer"]["answer"]) for tr in turns if tr.get("answer")]
        turn: dict[str, Any] = {"question": question, "answer": None, "error": None, "partial": ""}
        turns.append(turn)
        yield render_messages(turns, ui_lang), gr.skip(), turns, ""
        try:
            assistant = self.backend.assistant(generator, int(k), base_url, model)
            if assistant.generator.name == "extractive":  # one final answer: one final answer, revealed gradually
                answer = assistant.ask(question, history[-4:])
                words = _WORDS.findall(answer.answer)
                step = max(2, len(words) // max(1, int(REVEAL_SECONDS / 0.04)))
                for i in range(step, len(words), step):
                    turn["partial"] = "".join(words[:i])
                    yield render_messages(turns, ui_lang), gr.skip(), turns, gr.skip()
                    time.sleep(0.04)
            else:
                answer = None
                for answer in assistant.stream(question, history[-4:]):  # noqa: B007
                    turn["partial"] = answer.answer
                    yield render_messages(turns, ui_lang), gr.skip(), turns, gr.skip()
            turn["answer"] = answer.to_dict()
        except NotReadyError:
            pct = int(self.backend.status.fraction * 100)
            turn["error"] = t(ui_lang, "not_ready", pct=pct)
        except JauapError as exc:
            turn["error"] = t(ui_lang, "error", msg=str(exc))
        except Exception as exc:  # noqa: BLE001 - never a traceback on the page
            log.exception("answering failed")
            turn["error"] = t(ui_lang, "internal", kind=type(exc).__name__)
        if turn["error"]:
            gr.Warning(turn["error"])
        yield (
            render_messages(turns, ui_lang),
            render_panel(turns, ui_lang, self.backend.docs),
            turns,
            gr.skip(),
        )

    def api_ask(self, question: str, generator: str = "extractive", k: int = 5) -> dict:
        """The `jauap ask --json` record for `question` (no history)."""
        generator = generator or "extractive"
        try:
            if generator not in GENERATOR_NAMES:
                raise JauapError(
                    f"unknown generator {generator!r}: use one of " + ", ".join(GENERATOR_NAMES)
                )
            return self.backend.assistant(generator, int(k)).ask(question).to_dict()
        except JauapError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:
            log.exception("api ask failed")
            raise gr.Error(
                f"internal error ({type(exc).__name__})", print_exception=False
            ) from None

    def api_status(self) -> dict:
        st = self.backend.status
        return {
            "state": st.state,
            "ready": self.backend.ready,
            "documents": st.documents,
            "chunks": st.chunks,
            "progress": round(st.fraction, 3),
            "message": st.message,
            "error": st.error,
        }

    # --- status and documents --------------------------------------------------------

    def status_md(self, ui_lang: str) -> str:
        st = self.backend.status
        if st.state == "indexing":
            text = t(
                ui_lang,
                "st_indexing",
                pct=int(st.fraction * 100),
                msg=esc(_stage(st.message, ui_lang)),
            )
        elif st.state == "ready":
            text = t(ui_lang, "st_ready", docs=st.documents, chunks=st.chunks)
            if st.error:
                text += " " + t(ui_lang, "error", msg=esc(st.error))
        elif st.state == "error":
            text = t(ui_lang, "st_error", msg=esc(st.error))
        else:
            text = t(ui_lang, "st_starting")
        return text

    def docs_table(self, ui_lang: str) -> Any:
        import pandas as pd

        cols = [
            t(ui_lang, k)
            for k in ("col_title", "col_file", "col_lang", "col_chunks", "col_date", "col_origin")
        ]
        rows = [
            [
                d["title"],
                d["file"],
                d["lang"],
                d["chunks"],
                d["date"],
                t(ui_lang, "origin_upload" if d["upload"] else "origin_config"),
            ]
            for d in self.backend.documents()
        ]
        return pd.DataFrame(rows, columns=cols)

    def remove_choices(self, ui_lang: str) -> list[tuple[str, str]]:
        return [
            (
                f"{d['file']} ({t(ui_lang, 'origin_upload' if d['upload'] else 'origin_config')})",
                d["source"],
            )
            for d in self.backend.documents()
        ]

    def refresh(self, ui_lang: str) -> tuple:
        """Status line, table and remove list; the timer stops once the index is ready."""
        busy = self.backend.status.state in ("starting", "indexing")
        return (
            self.status_md(ui_lang),
            self.docs_table(ui_lang),
            gr.Dropdown(choices=self.remove_choices(ui_lang), value=None),
            gr.Timer(active=busy),
        )

    def upload(self, files: list | None, ui_lang: str, progress: Any = None) -> tuple:
        """Save the files into the uploads folder, re-index, report in the page."""
        messages, saved = [], []
        for f in files or []:
            path = Path(f if isinstance(f, str | os.PathLike) else getattr(f, "name", str(f)))
            try:
                saved.append(self.backend.save_upload(path, path.name).name)
            except UploadError as exc:
                messages.append(t(ui_lang, exc.key, **exc.values))
            except OSError as exc:
                messages.append(t(ui_lang, "unreadable", name=path.name, msg=exc.strerror))
        if not files:
            messages.append(t(ui_lang, "no_files"))
        for msg in messages:
            gr.Warning(msg)
        if saved:
            try:
                report = self._reindex(progress, ui_lang)
                messages.insert(
                    0,
                    t(
                        ui_lang,
                        "added",
                        names=", ".join(saved),
                        docs=report.documents,
                        chunks=report.chunks,
                    ),
                )
            except JauapError as exc:
                messages.append(t(ui_lang, "error", msg=str(exc)))
            except Exception as exc:  # noqa: BLE001
                log.exception("re-indexing failed")
                messages.append(t(ui_lang, "internal", kind=type(exc).__name__))
        return ("\n\n".join(esc(m) for m in messages), None, *self.refresh(ui_lang)[:3])

    def remove(self, source: str | None, ui_lang: str, progress: Any = None) -> tuple:
        if not source:
            msg = t(ui_lang, "pick_first")
        else:
            try:
                name = self.backend.remove_upload(source, self._progress(progress, ui_lang))
                st = self.backend.status
                msg = t(ui_lang, "removed", name=name, docs=st.documents, chunks=st.chunks)
            except UploadError as exc:
                msg = t(ui_lang, exc.key, **exc.values)
                gr.Warning(msg)
            except JauapError as exc:
                msg = t(ui_lang, "error", msg=str(exc))
                gr.Warning(msg)
            except Exception as exc:  # noqa: BLE001
                log.exception("removing failed")
                msg = t(ui_lang, "internal", kind=type(exc).__name__)
        return (esc(msg), *self.refresh(ui_lang)[:3])

    def _progress(self, progress: Any, ui_lang: str) -> Any:
        if progress is None:
            return None
        return lambda fraction, message: progress(fraction, desc=message)

    def _reindex(self, progress: Any, ui_lang: str) -> Any:
        if progress is not None:
            progress(0.0, desc=t(ui_lang, "upload_btn"))
        return self.backend.reindex(self._progress(progress, ui_lang))


def launch_kwargs() -> dict[str, Any]:
    """Theme, CSS, the [n]-link script and the upload cap for `Blocks.launch`."""
    theme = gr.themes.Default(
        font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )  # no web fonts: offline
    return {
        "theme": theme,
        "css": CSS,
        "head": HEAD,
        "max_file_size": f"{UPLOAD_LIMIT_MB * 2}mb",
    }  # bigger files get Gradio's refusal


def build_app(settings: Settings, backend: Backend | None = None, start: bool = True) -> gr.Blocks:
    """The page. Starts indexing in the background unless `start` is False (or a
    `backend` is passed); the status line follows it."""
    from rag.web.layout import layout

    if backend is None:
        backend = Backend(settings)
        if start:
            backend.start()
    app = WebApp(backend)
    generators = available_generators(settings)
    with gr.Blocks(title="jauap", delete_cache=(3600, 3600)) as demo:  # uploads' temp copies
        layout(
            demo,
            app,
            generators,
            DEFAULT_UI_LANG,
            public_url(settings.openai_base_url),
            settings.openai_model or "",
            min(settings.k, 10),
        )

        def ask(question, generator="extractive", k=5):  # noqa: ANN001, ANN202
            return app.api_ask(question, generator, k)

        ask.__annotations__ = {"question": str, "generator": str, "k": int, "return": dict}
        ask.__doc__ = "Answer a question from the documents: the `jauap ask --json` record."

        def status():  # noqa: ANN202
            return app.api_status()

        status.__annotations__ = {"return": dict}
        status.__doc__ = "Index state: ready, documents, chunks, progress."
        gr.api(ask, api_name="ask", concurrency_limit=CONCURRENCY, concurrency_id="answer")
        gr.api(status, api_name="status", concurrency_limit=None)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=128)
    demo.jauap = app  # type: ignore[attr-defined]  # for tests and embedding
    return demo


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    docs: list[Path] | None = None,
    open_browser: bool = False,
) -> None:
    """Index (in the background, with progress on the console and the page) and serve."""
    if docs:
        settings = settings.with_(docs=tuple(Path(p) for p in docs))
    for path in settings.docs:
        if not Path(path).exists():
            raise JauapError(f"no such file or folder: {path}")
    _check_port(host, port)
    demo = build_app(settings)
    print(f"jauap: serving on http://{host}:{port} (index: {settings.index_dir})", flush=True)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            inbrowser=open_browser,
            show_error=False,
            ssr_mode=False,
            quiet=False,
            footer_links=["api"],
            **launch_kwargs(),
        )
    except OSError as exc:  # the port was taken in between
        raise JauapError(f"cannot serve on {host}:{port}: {exc}") from None


def _check_port(host: str, port: int) -> None:
    """Fail before indexing when the port is taken."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise JauapError(
                f"cannot serve on {host}:{port} ({exc.strerror}): choose another --port"
            ) from None
