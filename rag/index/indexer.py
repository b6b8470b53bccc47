"""Incremental indexing: only new or changed files are read, chunked and embedded."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import IndexCorruptError, IndexFormatError, InputError
from rag.index import pooled, sources, store
from rag.index.bm25 import BM25Channel
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings, chunk_document
from rag.ingest.documents import SUPPORTED, discover, doc_id_for, file_hash, load_document
from rag.ingest.readers import DEFAULT_LIMITS, IngestLimits
from rag.protocols import Embedder, SpanEmbedder
from rag.records import Chunk, Document

Progress = Callable[[float, str], None]


@dataclass
class IndexReport:
    """What an indexing run did; printed by the CLI and shown by the page."""

    documents: int = 0
    chunks: int = 0
    new: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded_chunks: int = 0
    embedded_sentences: int = 0
    embedded_tokens: int = 0
    # Sentences whose vector could not be pooled from their chunk's pass (mode "pooled"):
    # encoded on their own (rag.index.pooled).
    sentences_alone: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)
    # Set when the existing index was damaged and so rebuilt from scratch: the problem.
    rebuilt_because: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def embed_text(doc: Document, text: str) -> str:
    """What the embedder and BM25 see for a chunk or sentence: the title gives context."""
    return f"{doc.title}\n{text}" if doc.title and not text.startswith(doc.title) else text


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _tqdm_progress(total: int, desc: str):  # noqa: ANN202 - tqdm type
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="text", file=sys.stderr, disable=None, leave=False)


def embed_missing(
    embedder: Embedder,
    texts: Sequence[str],
    keys: Sequence[str],
    known: dict[str, np.ndarray],
    report: IndexReport,
    progress: Progress | None,
    label: str,
    batch: int = 64,
    cache: VectorCache | None = None,
) -> np.ndarray:
    """Vectors for `texts`, reusing `known` by content key and embedding the rest. Each
    batch goes into `cache` as soon as it is embedded, so a run killed halfway keeps it."""
    # Length order keeps texts of similar size in one batch: far less padding.
    todo = sorted(
        {k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items(),
        key=lambda kv: (len(kv[1]), kv[0]),
    )
    bar = _tqdm_progress(len(todo), label) if todo and progress is None else None
    started = time.perf_counter()
    for i in range(0, len(todo), batch):
        part = todo[i : i + batch]
        vectors = embedder.embed_passages([t for _, t in part])
        for (key, _), vec in zip(part, vectors, strict=True):
            known[key] = vec
        if cache is not None:
            cache.put_many({key: known[key] for key, _ in part})
        if bar is not None:
            bar.update(len(part))
        if progress is not None:
            progress(min(1.0, (i + len(part)) / len(todo)), f"{label} {i + len(part)}/{len(todo)}")
    if bar is not None:
        bar.close()
    report.embed_seconds += time.perf_counter() - started
    return _stack(known, keys, embedder.dim)


def _stack(known: dict[str, np.ndarray], keys: Sequence[str], dim: int) -> np.ndarray:
    if not keys:
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def _scan(paths: Iterable[Path], report: IndexReport) -> list[Path]:
    files = []
    for path in discover(paths, report.skipped):
        if path.suffix.lower() in SUPPORTED:
            files.append(path)
        else:
            report.skipped.append(f"{path}: unsupported file type {path.suffix or '(none)'}")
    return files


def index_paths(
    paths: Sequence[Path],
    index_dir: Path,
    embedder: Embedder,
    chunking: ChunkSettings,
    rebuild: bool = False,
    progress: Progress | None = None,
    cache: VectorCache | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
    sentence_vectors: str | None = None,
) -> IndexReport:
    """Make the index at `index_dir` mirror the supported files under `paths`. Files that
    can't be read or break `limits` are listed with the reason in `report.skipped`.
    `sentence_vectors`: "pooled" from each chunk's pass or "separate" (rag.index.pooled),
    by default the embedder's own setting; an index built the other way is rebuilt."""
    mode = pooled.effective_mode(embedder, sentence_vectors)
    started = time.perf_counter()
    report = IndexReport()
    states = sources.snapshot(paths, SUPPORTED)  # before anything is read
    with store.writer_lock(index_dir, on_wait=lambda: _say_waiting(index_dir, progress)):
        same = None if rebuild else sources.unchanged(
            index_dir, states, embedder.fingerprint(), asdict(chunking))
        if same is not None and same.sentence_vectors == mode:  # nothing changed: not loaded
            report.documents = report.unchanged = same.documents
            report.chunks = same.chunks
            report.seconds = time.perf_counter() - started
            return report
    files = _scan(paths, report)
    if not files:
        raise InputError(
            f"no supported documents ({', '.join(sorted(SUPPORTED))}) in "
            + ", ".join(map(str, paths))
        )
    with store.writer_lock(index_dir, on_wait=lambda: _say_waiting(index_dir, progress)):
        old = _load_previous(index_dir, embedder, chunking, rebuild, report, mode)
        if report.rebuilt_because:
            _note(f"{report.rebuilt_because}; rebuilding it from scratch", progress)
        docs, fresh = _read_files(files, old, report, limits)
        write_index(docs, fresh, old, index_dir, embedder, chunking, report, progress, cache,
                    mode)
        sources.record(index_dir, states, docs)
    report.seconds = time.perf_counter() - started
    return report


def _note(message: str, progress: Progress | None) -> None:
    """Tell the user something about the run: through `progress`, or on stderr."""
    if progress is not None:
        progress(0.0, message)
    else:
        print(f"jauap: {message}", file=sys.stderr, flush=True)


def _say_waiting(index_dir: Path, progress: Progress | None) -> None:
    _note(f"waiting for another indexing run on {index_dir} to finish", progress)


def _read_files(
    files: list[Path], old: store.IndexData | None, report: IndexReport, limits: IngestLimits
) -> tuple[dict[str, Document], list[Document]]:
    """Documents for `files`: unchanged ones from the old index, the rest read anew."""
    old_docs = old.docs if old else {}
    docs: dict[str, Document] = {}
    fresh: list[Document] = []
    for path in files:
        doc_id = doc_id_for(path)
        previous = old_docs.get(doc_id)
        try:
            same = previous is not None and previous.content_hash == file_hash(path)
        except OSError as exc:  # gone or unreadable since the scan
            report.skipped.append(f"{path}: cannot read it ({exc.strerror or exc})")
            continue
        if same and previous is not None:
            docs[doc_id] = previous
            report.unchanged += 1
            continue
        try:
            doc = load_document(path, limits)
        except InputError as exc:
            report.skipped.append(str(exc))
            continue
        docs[doc.doc_id] = doc
        fresh.append(doc)
        if previous is None:
            report.new += 1
        else:
            report.changed += 1
    if not docs:
        raise InputError("none of the documents could be read: " + "; ".join(report.skipped))
    return docs, fresh


def index_documents(
    documents: Sequence[Document],
    index_dir: Path,
    embedder: Embedder,
    chunking: ChunkSettings,
    cache: VectorCache | None = None,
    progress: Progress | None = None,
    sentence_vectors: str | None = None,
) -> IndexReport:
    """Index documents that are not files (e.g. the passages of an eval set), from scratch."""
    mode = pooled.effective_mode(embedder, sentence_vectors)
    started = time.perf_counter()
    report = IndexReport(new=len(documents))
    docs = {d.doc_id: d for d in documents}
    with store.writer_lock(index_dir, on_wait=lambda: _say_waiting(index_dir, progress)):
        write_index(
            docs, list(docs.values()), None, index_dir, embedder, chunking, report, progress, cache,
            mode,
        )
    report.seconds = time.perf_counter() - started
    return report


def _load_previous(
    index_dir: Path, embedder: Embedder, chunking: ChunkSettings, rebuild: bool,
    report: IndexReport, mode: str,
) -> store.IndexData | None:
    """The index to update, or None to build from scratch (asked to, none yet, other chunk
    sizes, or damaged: then `report.rebuilt_because` says what was wrong)."""
    if rebuild:
        return None
    try:
        if not store.exists(index_dir):
            return None
        manifest = store.load_manifest(index_dir)
        store.check_compatible(manifest, embedder.name, embedder.fingerprint(), index_dir)
        if manifest.chunking != asdict(chunking):
            return None  # different chunk sizes: every chunk changes
        if manifest.sentence_vectors != mode:
            report.rebuilt_because = (
                f"the index in {index_dir} has {manifest.sentence_vectors} sentence vectors, "
                f"{mode} are asked for (JAUAP_SENTENCE_VECTORS)"
            )
            return None
        return store.load(index_dir)
    except IndexFormatError as exc:  # written by an older jauap: nothing in it is reusable
        report.rebuilt_because = str(exc).split(": ")[0]
        return None
    except IndexCorruptError as exc:
        report.rebuilt_because = str(exc).split("; rebuild it with")[0]
        return None


def _sentence_texts(
    chunks: list[Chunk], docs: dict[str, Document]
) -> tuple[list[str], list[str], list[list[int]]]:
    """Each distinct sentence text once (overlapping chunks share sentences), its key, and
    for every chunk the rows of its sentences."""
    texts: list[str] = []
    keys: list[str] = []
    rows_of: list[list[int]] = []
    seen: dict[str, int] = {}
    for chunk in chunks:
        doc = docs[chunk.doc_id]
        rows = []
        for s, e in chunk.sentences:
            text = embed_text(doc, doc.text[s:e])
            key = text_key(text)
            if key not in seen:
                seen[key] = len(keys)
                keys.append(key)
                texts.append(text)
            rows.append(seen[key])
        rows_of.append(rows)
    return texts, keys, rows_of


def write_index(
    docs: dict[str, Document],
    fresh: list[Document],
    old: store.IndexData | None,
    index_dir: Path,
    embedder: Embedder,
    chunking: ChunkSettings,
    report: IndexReport,
    progress: Progress | None,
    cache: VectorCache | None,
    mode: str = "separate",
) -> None:
    """Chunk fresh documents, embed what no earlier run embedded, write a new generation.
    `mode`: how sentence vectors are made, "pooled" or "separate" (rag.index.pooled)."""
    old_docs = old.docs if old else {}
    report.removed = len(set(old_docs) - set(docs))
    report.documents = len(docs)
    if old is not None and not fresh and not report.removed:
        report.chunks = len(old.chunks)
        return

    # Chunks of unchanged documents are kept; fresh documents are chunked anew.
    fresh_ids = {d.doc_id for d in fresh}
    chunks: list[Chunk] = []
    if old is not None:
        chunks = [c for c in old.chunks if c.doc_id in docs and c.doc_id not in fresh_ids]
    for doc in fresh:
        chunks.extend(chunk_document(doc, embedder.count_tokens, chunking))
    chunks.sort(key=lambda c: (c.doc_id, c.ordinal))
    report.chunks = len(chunks)

    chunk_texts = [embed_text(docs[c.doc_id], c.text) for c in chunks]
    chunk_keys = [text_key(t) for t in chunk_texts]
    pool, sent_texts = None, list[str]()
    if mode == "pooled":
        pool = pooled.plan(chunks, docs, chunk_texts, embed_text, text_key)
        sent_keys, sentence_rows = pool.keys, pool.rows_of
    else:
        sent_texts, sent_keys, sentence_rows = _sentence_texts(chunks, docs)

    known: dict[str, np.ndarray] = {}
    if old is not None:
        known.update(zip(old.chunk_keys, old.vectors, strict=True))
        known.update(zip(old.sentence_keys, old.sentence_vectors, strict=True))
    if cache is not None:
        known.update(cache.get_many(k for k in set(chunk_keys) | set(sent_keys) if k not in known))
    before = set(known)
    if pool is not None and isinstance(embedder, SpanEmbedder):
        started = time.perf_counter()
        ran, report.sentences_alone = pooled.embed_pooled(
            embedder, chunk_texts, chunk_keys, pool, known, progress, cache
        )
        report.embed_seconds += time.perf_counter() - started
        report.embedded_chunks = len(set(chunk_keys) - before)
        report.embedded_sentences = len(set(sent_keys) - before)
        report.embedded_tokens = sum(embedder.count_tokens(t) for t in ran)
    else:
        embed_missing(embedder, chunk_texts, chunk_keys, known, report, progress, "chunks", cache=cache)
        report.embedded_chunks = len(known) - len(before)
        n_after_chunks = len(known)
        embed_missing(embedder, sent_texts, sent_keys, known, report, progress, "sentences", cache=cache)
        report.embedded_sentences = len(known) - n_after_chunks
        new_keys = set(known) - before
        report.embedded_tokens = sum(
            embedder.count_tokens(t)
            for t, k in zip(chunk_texts + sent_texts, chunk_keys + sent_keys, strict=True)
            if k in new_keys
        )
    vectors = _stack(known, chunk_keys, embedder.dim)
    sentence_vectors = _stack(known, sent_keys, embedder.dim)

    ann, kind = store.build_ann(vectors)
    data = store.IndexData(
        manifest=store.Manifest(
            embedder=embedder.name,
            fingerprint=embedder.fingerprint(),
            dim=embedder.dim,
            chunking=asdict(chunking),
            ann=kind,
            documents=len(docs),
            chunks=len(chunks),
            sentences=len(sent_keys),
            versions=store.package_versions(),
            sentence_vectors=mode,
        ),
        docs=docs,
        chunks=chunks,
        chunk_keys=chunk_keys,
        vectors=vectors,
        sentence_keys=sent_keys,
        sentence_vectors=sentence_vectors,
        sentence_rows=sentence_rows,
        bm25=BM25Channel.build(chunk_texts, [docs[c.doc_id].lang for c in chunks]),
        ann=ann,
    )
    store.save(data, index_dir)
