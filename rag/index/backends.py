"""Where the index lives, chosen by `JAUAP_STORE`: unset → the FAISS folder index
(`index_dir`), a path ending in `.db` → Milvus Lite embedded, `http(s)://host:19530` → a
Milvus server or cluster. Backends come from a plain table keyed by that scheme.

Both backends index the same way (rag.index.indexer: incremental by file hash, removed
files dropped, vectors reused by content key, the embedder's fingerprint checked) and hand
`HybridRetriever` the same `IndexData`; only where it is kept and searched differs.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from rag.errors import IndexCorruptError, InputError
from rag.index import indexer, milvus_client, milvus_store, pooled, store
from rag.index.indexer import IndexReport, Progress
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings
from rag.ingest.documents import doc_id_for, file_hash
from rag.ingest.readers import DEFAULT_LIMITS
from rag.protocols import Embedder
from rag.records import Document
from rag.settings import Settings
from rag.table import choose


class StoreBackend(Protocol):
    """An index location: builds, updates and opens the index kept there."""

    where: str  # for messages
    name: str  # a short name (the OpenAI-compatible API's model id)

    def exists(self) -> bool: ...

    def manifest(self) -> store.Manifest:
        """What built the index (IndexMissingError when there is none)."""
        ...

    def open(self, embedder: Embedder) -> store.IndexData:
        """The index, checked against `embedder` (IndexMismatchError otherwise)."""
        ...

    def index_paths(
        self, paths: Sequence[Path], embedder: Embedder, chunking: ChunkSettings,
        rebuild: bool = False, progress: Progress | None = None, cache: VectorCache | None = None,
    ) -> IndexReport: ...

    def index_documents(
        self, documents: Sequence[Document], embedder: Embedder, chunking: ChunkSettings,
        cache: VectorCache | None = None, progress: Progress | None = None,
    ) -> IndexReport: ...

    def drop(self) -> None:
        """Delete the index (scratch indexes of `jauap eval`)."""
        ...


class FaissBackend:
    """The folder index (rag.index.store): FAISS + BM25 files in generation folders."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.where = str(self.index_dir)
        self.name = self.index_dir.resolve().name or "jauap"

    def exists(self) -> bool:
        return store.exists(self.index_dir)

    def manifest(self) -> store.Manifest:
        return store.load_manifest(self.index_dir)

    def open(self, embedder: Embedder) -> store.IndexData:
        manifest = store.load_manifest(self.index_dir)
        store.check_compatible(manifest, embedder.name, embedder.fingerprint(), self.index_dir)
        return store.load(self.index_dir)

    def index_paths(
        self, paths: Sequence[Path], embedder: Embedder, chunking: ChunkSettings,
        rebuild: bool = False, progress: Progress | None = None, cache: VectorCache | None = None,
    ) -> IndexReport:
        return indexer.index_paths(
            paths, self.index_dir, embedder, chunking, rebuild=rebuild, progress=progress,
            cache=cache,
        )

    def index_documents(
        self, documents: Sequence[Document], embedder: Embedder, chunking: ChunkSettings,
        cache: VectorCache | None = None, progress: Progress | None = None,
    ) -> IndexReport:
        return indexer.index_documents(
            documents, self.index_dir, embedder, chunking, cache=cache, progress=progress
        )

    def drop(self) -> None:
        import shutil

        shutil.rmtree(self.index_dir, ignore_errors=True)


_writing: dict[str, threading.Lock] = {}


class MilvusBackend:
    """The index in Milvus (rag.index.milvus_store): Lite for a `.db` path, else a server.
    One writer at a time per process; Milvus Lite itself admits one process per file, and
    against a server run one `jauap index` at a time (the catalog row is last-writer-wins)."""

    def __init__(self, uri: str, prefix: str, token: str | None = None) -> None:
        self.uri = uri
        self.prefix = prefix
        self.where = f"{uri} ({prefix})"
        # Milvus Lite: the file's stem; a server: the collection prefix
        self.name = prefix if "://" in uri else (Path(uri).stem or prefix)
        milvus_client.use_token(uri, token)

    def exists(self) -> bool:
        return milvus_store.exists(self.uri, self.prefix)

    def manifest(self) -> store.Manifest:
        return milvus_store.load_manifest(self.uri, self.prefix)

    def open(self, embedder: Embedder) -> store.IndexData:
        manifest = milvus_store.load_manifest(self.uri, self.prefix)
        milvus_store.check_compatible(manifest, embedder.name, embedder.fingerprint(), self.uri)
        return milvus_store.load(self.uri, self.prefix)

    def _lock(self) -> threading.Lock:
        return _writing.setdefault(f"{self.uri}#{self.prefix}", threading.Lock())

    def index_paths(
        self, paths: Sequence[Path], embedder: Embedder, chunking: ChunkSettings,
        rebuild: bool = False, progress: Progress | None = None, cache: VectorCache | None = None,
    ) -> IndexReport:
        """Mirror the supported files under `paths`: unchanged files are skipped (known from
        the stored documents alone, without reading the vectors), changed ones replaced,
        removed ones dropped."""
        started = time.perf_counter()
        report = IndexReport()
        files = indexer._scan(paths, report)
        if not files:
            raise InputError("no supported documents in " + ", ".join(map(str, paths)))
        with self._lock():
            old = None
            if not rebuild and self.exists():
                manifest, docs = milvus_store.load_docs(self.uri, self.prefix)
                milvus_store.check_compatible(
                    manifest, embedder.name, embedder.fingerprint(), self.uri
                )
                mode = pooled.effective_mode(embedder, None)
                if manifest.sentence_vectors != mode:
                    report.rebuilt_because = (
                        f"the index in {self.where} has {manifest.sentence_vectors} sentence "
                        f"vectors, {mode} are asked for (JAUAP_SENTENCE_VECTORS)"
                    )
                elif manifest.chunking == asdict(chunking):
                    if _unchanged(files, docs):
                        report.documents = report.unchanged = len(docs)
                        report.chunks = manifest.chunks
                        report.seconds = time.perf_counter() - started
                        return report
                    old = self._load_old(report)
            docs, fresh = indexer._read_files(files, old, report, DEFAULT_LIMITS)
            self._write(docs, fresh, old, embedder, chunking, report, progress, cache)
        report.seconds = time.perf_counter() - started
        return report

    def _load_old(self, report: IndexReport) -> store.IndexData | None:
        try:
            return milvus_store.load(self.uri, self.prefix, vectors="eager")
        except IndexCorruptError as exc:
            report.rebuilt_because = str(exc).split(": rebuild it")[0]
            return None

    def index_documents(
        self, documents: Sequence[Document], embedder: Embedder, chunking: ChunkSettings,
        cache: VectorCache | None = None, progress: Progress | None = None,
    ) -> IndexReport:
        """Index documents that are not files (e.g. an eval set's passages), from scratch."""
        started = time.perf_counter()
        report = IndexReport(new=len(documents))
        docs = {d.doc_id: d for d in documents}
        with self._lock():
            self._write(docs, list(docs.values()), None, embedder, chunking, report, progress, cache)
        report.seconds = time.perf_counter() - started
        return report

    def _write(
        self, docs: dict[str, Document], fresh: list[Document], old: store.IndexData | None,
        embedder: Embedder, chunking: ChunkSettings, report: IndexReport,
        progress: Progress | None, cache: VectorCache | None,
    ) -> None:
        """The indexer's own chunk/embed/build step, into a scratch folder, then copied to
        Milvus as one new generation (nothing when nothing changed)."""
        with tempfile.TemporaryDirectory(prefix="jauap-milvus-") as tmp:
            indexer.write_index(
                docs, fresh, old, Path(tmp), embedder, chunking, report, progress, cache,
                pooled.effective_mode(embedder, None),
            )
            if store.exists(Path(tmp)):
                milvus_store.save(store.load(Path(tmp)), self.uri, self.prefix)

    def drop(self) -> None:
        milvus_store.drop(self.uri, self.prefix)


def _unchanged(files: list[Path], docs: dict[str, Document]) -> bool:
    """Whether `files` are exactly the stored documents, each with the same content hash."""
    if len(files) != len(docs):
        return False
    try:
        return all(
            (d := docs.get(doc_id_for(p))) is not None and d.content_hash == file_hash(p)
            for p in files
        )
    except OSError:
        return False  # let the full run report the unreadable file


def _faiss(settings: Settings) -> StoreBackend:
    return FaissBackend(settings.index_dir)


def _milvus(settings: Settings) -> StoreBackend:
    return MilvusBackend(settings.store, settings.store_collection, settings.store_token)


# Keyed by `store_scheme`; Milvus Lite and a Milvus server share one client code path.
BACKENDS: dict[str, Callable[[Settings], StoreBackend]] = {
    "faiss": _faiss, "milvus-lite": _milvus, "http": _milvus, "https": _milvus,
}


def store_scheme(location: str) -> str:
    """The table key for a `JAUAP_STORE` value."""
    if not location:
        return "faiss"
    if "://" not in location:
        return "milvus-lite"  # a local path (Settings checks it ends in .db)
    return urlsplit(location).scheme.lower()


def open_store(settings: Settings) -> StoreBackend:
    """The configured index location."""
    make = choose(
        BACKENDS, store_scheme(settings.store), "store backend",
        " (JAUAP_STORE: unset for the FAISS folder index, a path ending in .db for Milvus "
        "Lite, or a Milvus server URL such as http://localhost:19530)",
    )
    return make(settings)


@contextmanager
def scratch_store(settings: Settings, folder: Path) -> Iterator[StoreBackend]:
    """A throwaway index for `jauap eval`: a FAISS folder in `folder` (the caller removes
    it), or, with a Milvus store configured, its own collections there, dropped after."""
    if not settings.store:
        yield FaissBackend(folder)
        return
    scratch = open_store(settings.with_(store_collection=f"{settings.store_collection}_eval"))
    try:
        yield scratch
    finally:
        scratch.drop()
