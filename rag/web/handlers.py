"""The chat page's event handlers (`WebApp`): one object serves every session; each
session's own conversation lives in a `gr.State` passed in and out.

Imported by rag.web.layout (which wires the handlers to components) and rag.web.app (which
builds the page); it imports neither, so there is no cycle."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from rag.answer.assistant import Answer, Assistant
from rag.answer.extractive import ExtractiveGenerator
from rag.errors import JauapError
from rag.i18n.page import t
from rag.web.backend import Backend, NotReadyError, UploadError, hide_paths, safe_filename
from rag.web.render import esc, render_messages, render_panel

log = logging.getLogger("jauap.web")
REVEAL_SECONDS = 0.6  # an answer that arrives whole is shown word by word over about this long
_REVEAL_STEP = 0.04  # seconds between reveal frames
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


def _answers_whole(assistant: Assistant) -> bool:
    """True when the generator writes its answer in one piece (the extractive one), so the
    page reveals it gradually instead of streaming it."""
    return isinstance(assistant.generator, ExtractiveGenerator)


class WebApp:
    """The page's event handlers over one shared Backend."""

    def __init__(
        self,
        backend: Backend,
        generators: Sequence[str] = ("extractive",),
        reveal_seconds: float = REVEAL_SECONDS,
    ) -> None:
        self.backend = backend
        self.generators = list(generators)
        self.reveal_seconds = reveal_seconds

    # --- chat ------------------------------------------------------------------------

    def respond(
        self,
        question: str,
        turns: list[dict] | None,
        generator: str = "extractive",
        k: int | float = 5,
        ui_lang: str = "en",
    ) -> Iterator[tuple[Any, Any, list[dict], Any]]:
        """Yield (chat messages, sources panel, session turns, question box) while the
        answer streams. The whole conversation goes to the assistant; the prompt module
        decides how much of it a model sees."""
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
            if generator not in self.generators:
                raise JauapError(t(ui_lang, "no_generator", name=generator))
            assistant = self.backend.assistant(generator, int(k))
            answer = None
            for answer in self._answer(assistant, question, history):  # noqa: B007
                turn["partial"] = answer.answer
                yield render_messages(turns, ui_lang), gr.skip(), turns, gr.skip()
            assert answer is not None  # the assistant always yields a final answer
            turn["answer"] = answer.to_dict()
        except NotReadyError:
            turn["error"] = t(ui_lang, "not_ready", pct=int(self.backend.status.fraction * 100))
        except JauapError as exc:
            turn["error"] = t(ui_lang, "error", msg=hide_paths(str(exc)))
        except Exception as exc:  # noqa: BLE001 - never a traceback on the page
            log.exception("answering failed")
            turn["error"] = t(ui_lang, "internal", kind=type(exc).__name__)
        if turn["error"]:
            gr.Warning(turn["error"])
        panel = render_panel(turns, ui_lang, self.backend.docs)
        yield render_messages(turns, ui_lang), panel, turns, gr.skip()

    def _answer(
        self, assistant: Assistant, question: str, history: list[tuple[str, str]]
    ) -> Iterator[Answer]:
        """Partial answers, then the final one; a whole answer is revealed word by word."""
        if not _answers_whole(assistant):
            yield from assistant.stream(question, history)
            return
        answer = assistant.ask(question, history)
        words = _WORDS.findall(answer.answer)
        step = max(2, len(words) // max(1, int(self.reveal_seconds / _REVEAL_STEP)))
        for i in range(step, len(words) if self.reveal_seconds > 0 else 0, step):
            yield Answer(question, "".join(words[:i]), answer.language, False, [],
                         answer.generator, {})
            time.sleep(_REVEAL_STEP)
        yield answer

    def api_ask(self, question: str, generator: str = "extractive", k: int = 5) -> dict:
        """The `jauap ask --json` record for `question` (no history), with sources shown
        relative to their folder: visitors never see absolute server paths."""
        generator = generator or "extractive"
        try:
            if generator not in self.generators:
                raise JauapError(
                    f"unknown generator {generator!r}: use one of " + ", ".join(self.generators)
                )
            record = self.backend.assistant(generator, int(k)).ask(question).to_dict()
            for item in record["citations"] + record["sources"]:
                item["source"] = self.backend.display_source(item["source"])
            return record
        except JauapError as exc:
            raise gr.Error(hide_paths(str(exc)), print_exception=False) from None
        except Exception as exc:
            log.exception("api ask failed")
            raise gr.Error(f"internal error ({type(exc).__name__})", print_exception=False) from None

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
            msg = esc(_stage(st.message, ui_lang))
            return t(ui_lang, "st_indexing", pct=int(st.fraction * 100), msg=msg)
        if st.state == "ready":
            text = t(ui_lang, "st_ready", docs=st.documents, chunks=st.chunks)
            return text + (" " + t(ui_lang, "error", msg=esc(st.error)) if st.error else "")
        if st.state == "error":
            return t(ui_lang, "st_error", msg=esc(st.error))
        return t(ui_lang, "st_starting")

    def docs_table(self, ui_lang: str) -> Any:
        import pandas as pd

        keys = ("col_title", "col_file", "col_lang", "col_chunks", "col_date", "col_origin")
        rows = [
            [d["title"], d["file"], d["lang"], d["chunks"], d["date"],
             t(ui_lang, "origin_upload" if d["upload"] else "origin_config")]
            for d in self.backend.documents()
        ]
        return pd.DataFrame(rows, columns=[t(ui_lang, k) for k in keys])

    def remove_choices(self, ui_lang: str) -> list[tuple[str, str]]:
        """(label, value) for the remove list: uploaded files only, by name (no paths)."""
        return [(d["file"], d["file"]) for d in self.backend.documents() if d["upload"]]

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
                dest = self.backend.save_upload(path, path.name)
                saved.append(dest.name)
                if dest.name != safe_filename(path.name):
                    messages.append(t(ui_lang, "renamed", name=safe_filename(path.name), new=dest.name))
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
                added = t(ui_lang, "added", names=", ".join(saved), docs=report.documents,
                          chunks=report.chunks)
                messages.insert(0, added)
            except JauapError as exc:
                messages.append(t(ui_lang, "error", msg=hide_paths(str(exc))))
            except Exception as exc:  # noqa: BLE001
                log.exception("re-indexing failed")
                messages.append(t(ui_lang, "internal", kind=type(exc).__name__))
        return ("\n\n".join(esc(m) for m in messages), None, *self.refresh(ui_lang)[:3])

    def remove(self, name: str | None, ui_lang: str, progress: Any = None) -> tuple:
        """Remove an uploaded file (by name) and re-index."""
        if not name:
            msg = t(ui_lang, "pick_first")
        else:
            try:
                removed = self.backend.remove_upload(name, self._progress(progress))
                st = self.backend.status
                msg = t(ui_lang, "removed", name=removed, docs=st.documents, chunks=st.chunks)
            except UploadError as exc:
                msg = t(ui_lang, exc.key, **exc.values)
                gr.Warning(msg)
            except JauapError as exc:
                msg = t(ui_lang, "error", msg=hide_paths(str(exc)))
                gr.Warning(msg)
            except Exception as exc:  # noqa: BLE001
                log.exception("removing failed")
                msg = t(ui_lang, "internal", kind=type(exc).__name__)
        return (esc(msg), *self.refresh(ui_lang)[:3])

    def _progress(self, progress: Any) -> Any:
        if progress is None:
            return None
        return lambda fraction, message: progress(fraction, desc=message)

    def _reindex(self, progress: Any, ui_lang: str) -> Any:
        if progress is not None:
            progress(0.0, desc=t(ui_lang, "upload_btn"))
        return self.backend.reindex(self._progress(progress))
