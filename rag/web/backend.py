"""The chat page's backend: one index and retriever shared by all sessions, uploads and
re-indexing. Built only on the library's public functions (store backends, ingest): the
index is wherever `JAUAP_STORE` says (the FAISS folder, Milvus Lite, a Milvus server).

Sessions read `Backend.retriever()` once per question; re-indexing builds the new
retriever aside under a lock and swaps the reference, so a question in flight finishes
on the index it started with."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer.assistant import Assistant
from rag.answer.generators import make_generator
from rag.answer.openai_chat import split_base_url
from rag.errors import ConfigError, IndexMismatchError, IndexMissingError, InputError, JauapError
from rag.i18n.page import UPLOAD_LIMIT_MB
from rag.index.backends import open_store
from rag.index.embedders import make_embedder
from rag.index.indexer import IndexReport
from rag.ingest.documents import SUPPORTED, load_document
from rag.pipeline import build_index
from rag.protocols import Embedder
from rag.search.hybrid import HybridRetriever
from rag.settings import Settings
from rag.web.uploads import UploadError, free_name, hide_paths, safe_filename, same_bytes

log = logging.getLogger("jauap.web")
Progress = Callable[[float, str], None]
# Answers computed at once, for the page (Gradio's queue) and the API/MCP (a semaphore):
# they mostly wait on the gradual reveal or a remote LLM; 2 cores.
ANSWER_CONCURRENCY = 4
SLOT_WAIT_S = 60.0  # an API/MCP request waits this long for a slot, then gets "busy"
__all__ = ["ANSWER_CONCURRENCY", "Backend", "BusyError", "NotReadyError", "UploadError", "available_generators",
           "hide_paths", "public_url", "safe_filename"]


class NotReadyError(JauapError):
    """The index is still being built."""


class BusyError(JauapError):
    """Every answer slot stayed taken for the whole wait."""


def public_url(url: str | None) -> str:
    """A base URL without any user:password@ part (what the page may show); "" for none
    or an unusable one."""
    if not url:
        return ""
    try:
        return split_base_url(url)[0]
    except ConfigError:
        return ""


def available_generators(settings: Settings) -> list[str]:
    """extractive always; llama-cpp when llama_cpp imports and a GGUF is configured or
    bundled; openai when a base URL is configured."""
    names = ["extractive"]
    try:
        make_generator("llama-cpp", settings)  # cheap: the model loads on first use
        names.append("llama-cpp")
    except Exception:  # noqa: BLE001 - missing package, missing model: just not offered
        pass
    if settings.openai_base_url:
        names.append("openai")
    return names


@dataclass
class Status:
    state: str = "starting"  # starting | indexing | ready | error
    fraction: float = 0.0
    message: str = ""
    documents: int = 0
    chunks: int = 0
    error: str = ""


class _ConsoleProgress:
    """Indexer progress → a few lines on stderr and the page's status."""

    def __init__(self, status: Status, extra: Progress | None) -> None:
        self.status, self.extra, self.last = status, extra, ("", -1)

    def __call__(self, fraction: float, message: str) -> None:
        self.status.fraction, self.status.message = fraction, message
        key = (message.split(" ")[0], int(fraction * 10))
        if key != self.last:
            self.last = key
            print(f"jauap: embedding {message} ({fraction:.0%})", file=sys.stderr, flush=True)
        if self.extra is not None:
            self.extra(fraction, message)


class Backend:
    """Index, retriever and generators shared by every session of one page."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        upload_limit_mb: float = UPLOAD_LIMIT_MB,
        concurrency: int = ANSWER_CONCURRENCY,
        slot_wait_s: float = SLOT_WAIT_S,
    ) -> None:
        self.settings = settings
        # where the index lives (JAUAP_STORE); uploads stay in a local folder either way
        self.store = open_store(settings)
        self.status = Status()
        self.upload_limit_mb = upload_limit_mb
        # API and MCP answers at once (the page's own limit is its queue's)
        self._slots = threading.BoundedSemaphore(concurrency)
        self.slot_wait_s = slot_wait_s
        self._embedder = embedder
        self._retriever: HybridRetriever | None = None
        self._index_lock = threading.Lock()
        self._embedder_lock = threading.Lock()
        self._generators: dict[str, Any] = {}
        self._generators_lock = threading.Lock()
        self._uploads_lock = threading.Lock()

    # --- index -----------------------------------------------------------------------

    @property
    def where(self) -> str:
        """The index's location, for messages (a folder, a .db, a server and prefix)."""
        return self.store.where

    @property
    def index_name(self) -> str:
        """The index's short name (the API's model id): the folder's name, the Milvus Lite
        file's stem, or a Milvus server's collection prefix."""
        return self.store.name

    @property
    def uploads_dir(self) -> Path:
        return self.settings.index_dir / "uploads"

    def embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                self.status.message = "loading the embedding model"
                self._embedder = make_embedder(self.settings)
            return self._embedder

    def doc_paths(self) -> list[Path]:
        """The configured documents plus the uploads folder (when it holds files)."""
        paths = list(self.settings.docs)
        up = self.uploads_dir
        if up.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in up.iterdir()):
            paths.append(up)
        return paths

    def reindex(self, progress: Progress | None = None, rebuild: bool = False) -> IndexReport:
        """Bring the index up to date with the documents, then swap in a new retriever."""
        with self._index_lock:
            st = self.status
            st.state, st.fraction, st.error = "indexing", 0.0, ""
            try:
                embedder = self.embedder()
                st.message = "reading documents"
                paths = self.doc_paths()
                print(
                    f"jauap: indexing {', '.join(map(str, paths))} → {self.where}",
                    file=sys.stderr,
                    flush=True,
                )
                report = build_index(
                    self.settings,
                    paths,
                    rebuild=rebuild,
                    embedder=embedder,
                    progress=_ConsoleProgress(st, progress),
                )
                self._load(embedder)
            except JauapError as exc:
                st.error = hide_paths(str(exc))
                st.state = "ready" if self._retriever is not None else "error"
                raise
            except Exception as exc:
                st.error = hide_paths(f"{type(exc).__name__}: {exc}")
                st.state = "ready" if self._retriever is not None else "error"
                raise
            for line in report.skipped:
                print(f"jauap: skipped {line}", file=sys.stderr, flush=True)
            print(
                f"jauap: index ready: {report.documents} documents, {report.chunks} chunks "
                f"({report.new} new, {report.changed} changed, {report.removed} removed) "
                f"in {report.seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            return report

    def _load(self, embedder: Embedder) -> None:
        data = self.store.open(embedder)  # IndexMismatchError for another embedder's index
        self._retriever = HybridRetriever(data, embedder)  # the atomic swap
        st = self.status
        st.documents, st.chunks = len(data.docs), len(data.chunks)
        st.state, st.fraction, st.message = "ready", 1.0, ""

    def index_on_start(self) -> None:
        """What the server does first: index (incrementally), rebuilding an index made
        by another embedder; on failure keep an older usable index if there is one."""
        started = time.perf_counter()
        try:
            try:
                self.reindex()
            except IndexMismatchError as exc:
                print(f"jauap: {exc}\njauap: rebuilding the index", file=sys.stderr, flush=True)
                self.reindex(rebuild=True)
        except Exception as exc:  # noqa: BLE001 - reported on the page and the console
            print(f"jauap: indexing failed: {exc}", file=sys.stderr, flush=True)
            if not isinstance(exc, JauapError):
                log.exception("indexing failed")
            if self._retriever is None and self.store.exists():
                try:
                    self._load(self.embedder())
                    self.status.error = hide_paths(str(exc))
                except Exception:  # noqa: BLE001
                    self.status.state = "error"
            return
        print(f"jauap: ready in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    def load_existing(self) -> None:
        """Serve the existing index (folder or JAUAP_STORE) as it is: `jauap mcp`."""
        if not self.store.exists():
            how = (f"JAUAP_STORE={self.settings.store} jauap index PATH ..." if self.settings.store
                   else f"jauap index --index-dir {self.settings.index_dir} PATH ...")
            raise IndexMissingError(f"no index in {self.where}: run `{how}` first")
        with self._index_lock:
            self._load(self.embedder())

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.index_on_start, name="jauap-index", daemon=True)
        thread.start()
        return thread

    def retriever(self) -> HybridRetriever:
        retriever = self._retriever
        if retriever is None:
            if self.status.state == "error":
                raise JauapError(f"no index: {self.status.error}")
            raise NotReadyError(f"the index is still being built ({self.status.fraction:.0%})")
        return retriever

    @property
    def ready(self) -> bool:
        return self._retriever is not None

    @property
    def docs(self) -> Mapping[str, Any]:
        retriever = self._retriever
        return retriever.data.docs if retriever is not None else {}

    def is_upload(self, source: str | Path) -> bool:
        try:
            return Path(source).resolve().parent == self.uploads_dir.resolve()
        except OSError:
            return False

    @staticmethod
    def _in_folder(source: str, folder: str, parents: dict[str, str]) -> bool:
        """`is_upload` for many files: each folder resolved once (`parents`), a file on
        its own only when it is a link (100k documents: two resolutions each took 3 s)."""
        try:
            head, name = os.path.split(source)
            if name in ("", ".", "..") or os.path.islink(source):
                return os.path.dirname(os.path.realpath(source)) == folder
            if head not in parents:
                parents[head] = os.path.realpath(head or ".")
            return parents[head] == folder
        except OSError:
            return False

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents for the page's table."""
        retriever = self._retriever
        if retriever is None:
            return []
        counts = retriever.data.chunk_counts()
        uploads = str(self.uploads_dir.resolve())
        parents: dict[str, str] = {}
        rows = []
        for d in retriever.data.docs.values():
            rows.append({
                "title": d.title,
                "file": Path(d.source).name,
                "lang": d.lang,
                "chunks": counts.get(d.doc_id, 0),
                "date": d.date or "",
                "source": d.source,
                "upload": self._in_folder(d.source, uploads, parents),
            })
        return sorted(rows, key=lambda r: (r["upload"], r["file"].lower()))

    # --- answering -------------------------------------------------------------------

    def generator(self, name: str) -> Any:
        """The generator called `name` (empty = extractive), built once: a GGUF loads once.

        An LLM endpoint is only ever the configured one (OPENAI_BASE_URL): nothing a page
        visitor or API caller sends chooses where the server makes requests."""
        name = name or "extractive"
        with self._generators_lock:
            if name not in self._generators:
                self._generators[name] = make_generator(name, self.settings)
            return self._generators[name]

    def assistant(self, generator: str = "extractive", k: int = 5) -> Assistant:
        try:
            k = int(k)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"k must be a whole number, got {k!r}") from exc
        retriever = self.retriever()
        return Assistant(retriever, self.generator(generator), k=k, embedder=retriever.embedder)

    def display_source(self, source: str) -> str:
        """A document's source as callers outside the server see it: relative to its
        configured folder (or `uploads/NAME`), never an absolute server path."""
        path = Path(source)
        for root in [self.uploads_dir, *self.settings.docs]:
            try:
                rel = path.resolve().relative_to(Path(root).resolve())
            except (OSError, ValueError):
                continue
            name = rel.as_posix() if str(rel) != "." else path.name
            return f"uploads/{name}" if root == self.uploads_dir else name
        return path.name

    @contextlib.contextmanager
    def answer_slot(self) -> Iterator[None]:
        """Hold one of the API/MCP answer slots; BusyError when none frees up in time."""
        wait_s = self.slot_wait_s
        if not self._slots.acquire(timeout=wait_s):
            raise BusyError(f"the server is busy: no answer slot for {wait_s:g} s, retry later")
        try:
            yield
        finally:
            self._slots.release()

    # --- uploads ---------------------------------------------------------------------

    def save_upload(self, src: Path, original_name: str) -> Path:
        """Check one uploaded file and copy it into the uploads folder. A name already
        taken gets a free one ("a (2).txt"); the same content again is refused."""
        name = safe_filename(original_name)
        if Path(name).suffix.lower() not in SUPPORTED:
            raise UploadError("bad_type", f"{name}: unsupported file type", name=name)
        size = os.path.getsize(src)
        limit = self.upload_limit_mb
        if size > limit * 1024 * 1024:
            raise UploadError("too_large", f"{name} is larger than {limit:g} MB", name=name, mb=f"{limit:g}")
        up = self.uploads_dir
        up.mkdir(parents=True, exist_ok=True)
        if (up / name).resolve().parent != up.resolve():  # belt and braces after safe_filename
            raise UploadError("bad_type", f"{name!r} is not a usable file name", name=name)
        tmp = up / f".part-{os.getpid()}-{threading.get_ident()}{Path(name).suffix}"
        shutil.copyfile(src, tmp)
        try:
            load_document(tmp)  # unreadable or empty files are refused now, not skipped later
        except InputError as exc:
            tmp.unlink(missing_ok=True)
            msg = hide_paths(str(exc).replace(str(tmp), name))
            raise UploadError("unreadable", msg, name=name, msg=msg) from exc
        with self._uploads_lock:
            same = next((p for p in up.iterdir() if p.is_file() and same_bytes(p, tmp)), None)
            if same is not None and same != tmp:
                tmp.unlink(missing_ok=True)
                raise UploadError("duplicate", f"{name} is already uploaded as {same.name}",
                                  name=name, existing=same.name)
            dest = free_name(up, name)
            os.replace(tmp, dest)
        return dest

    def remove_upload(self, name: str, progress: Progress | None = None) -> str:
        """Delete an uploaded file (by its name in the uploads folder) and re-index;
        anything else is refused."""
        shown = Path(str(name)).name
        path = self.uploads_dir / shown
        if shown != str(name) or not self.is_upload(path) or not path.is_file():
            raise UploadError("cannot_remove", f"{shown} can't be removed here", name=shown)
        path.unlink()
        self.reindex(progress)
        return shown
