"""The index in Milvus: Milvus Lite embedded in the process for a `.db` path, a Milvus
server or cluster for an `http(s)://host:19530` URL, with the same client code (pymilvus).

Layout, per collection prefix (default `jauap`): each write makes a generation of four
collections, `<prefix>_<gen>_chunks` (dense vector, BM25 sparse vector, language, record),
`_sentences` (vector), `_docs` (document records, text in pieces) and `_terms` (the BM25
vocabulary), then upserts the one row of `<prefix>_catalog` that names the current
generation and holds its manifest. The
catalog row is written last, so a run killed halfway leaves the previous generation
current; the next write drops the leftovers. The generation before the current one is kept
for readers that read the catalog just before the switch (as the FAISS store keeps its
previous generation folder).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from typing import Any, cast

import numpy as np

from rag.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    InputError,
)
from rag.index import store
from rag.index.milvus_client import BATCH, connect, read_rows
from rag.index.milvus_search import LazyMatrix, MilvusBM25, MilvusDense, VectorRows, chunk_weights
from rag.records import Chunk, Document

TEXT_PIECE = 16_000  # characters of document text per row: at most 64 KB of UTF-8
MAX_VARCHAR = 65_535  # Milvus's VARCHAR limit, in bytes
MAX_TERM = 512  # bytes; longer tokens are not kept in the stored vocabulary
DUMMY_DIM = 2  # Milvus wants a vector field in every collection, also in record-only ones
# Dense index by size, the FAISS path's policy (store.HNSW_THRESHOLD): exact search below,
# HNSW (M=32, efConstruction 80, ef 128 as FAISS) above.
HNSW_PARAMS = {"M": 32, "efConstruction": 80}
HNSW_SEARCH = {"metric_type": "IP", "params": {"ef": 128}}
FLAT_SEARCH: dict[str, Any] = {"metric_type": "IP", "params": {}}


def _names(prefix: str, gen: str) -> dict[str, str]:
    return {part: f"{prefix}_{gen}_{part}" for part in ("chunks", "sentences", "docs", "terms")}


def _catalog(prefix: str) -> str:
    return f"{prefix}_catalog"


def _schema(client: Any, kind: str, dim: int) -> Any:
    from pymilvus import DataType

    s = client.create_schema(auto_id=False)
    if kind == "catalog":
        s.add_field("name", DataType.VARCHAR, is_primary=True, max_length=64)
        s.add_field("record", DataType.VARCHAR, max_length=MAX_VARCHAR)
    else:
        s.add_field("row", DataType.INT64, is_primary=True)
    if kind in ("chunks", "sentences"):
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("key", DataType.VARCHAR, max_length=64)
    else:
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=DUMMY_DIM)
    if kind == "chunks":
        s.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("lang", DataType.VARCHAR, max_length=16)
    if kind in ("chunks", "docs"):
        s.add_field("record", DataType.VARCHAR, max_length=MAX_VARCHAR)
    if kind == "docs":
        s.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    if kind == "terms":  # the BM25 vocabulary (ids are the terms' hashes)
        s.add_field("term", DataType.VARCHAR, max_length=MAX_TERM)
    return s


def _create(client: Any, name: str, kind: str, dim: int, dense_index: str = "FLAT") -> None:
    params = client.prepare_index_params()
    if kind == "chunks":
        extra = HNSW_PARAMS if dense_index == "HNSW" else {}
        params.add_index("vector", index_type=dense_index, metric_type="IP", params=extra)
        params.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    else:
        params.add_index("vector", index_type="FLAT", metric_type="IP")
    client.create_collection(
        name, schema=_schema(client, kind, dim), index_params=params, consistency_level="Strong"
    )


def _insert(client: Any, name: str, rows: Iterable[dict]) -> None:
    """Insert a page at a time (rows are made as they go: peak memory stays one page)."""
    for page in _pages(rows):
        client.insert(name, page)
    client.flush(name)


def _pages(rows: Iterable[dict]) -> Iterator[list[dict]]:
    page: list[dict] = []
    for row in rows:
        page.append(row)
        if len(page) == BATCH:
            yield page
            page = []
    if page:
        yield page


def _fits(text: str, what: str) -> str:
    if len(text.encode("utf-8")) > MAX_VARCHAR:
        raise InputError(f"{what} is over Milvus's {MAX_VARCHAR}-byte field limit")
    return text


def _chunk_rows(data: store.IndexData) -> Iterator[dict]:
    weights = chunk_weights(data.bm25)
    for row, chunk in enumerate(data.chunks):
        doc = data.docs[chunk.doc_id]
        rec = {**chunk.to_dict(), "sentence_rows": data.sentence_rows[row]}
        if doc.text[chunk.start : chunk.end] == chunk.text:
            del rec["text"]  # rebuilt from the document's text at load
        yield {
            "row": row, "vector": data.vectors[row].tolist(), "key": data.chunk_keys[row],
            "bm25": weights[row], "lang": doc.lang,
            "record": _fits(json.dumps(rec, ensure_ascii=False), f"chunk {chunk.chunk_id}"),
        }


def _doc_rows(docs: Mapping[str, Document]) -> list[dict]:
    rows: list[dict] = []
    for doc in docs.values():
        meta = {k: v for k, v in doc.to_dict().items() if k != "text"}
        record = _fits(json.dumps(meta, ensure_ascii=False), f"document {doc.doc_id}")
        pieces = [doc.text[i : i + TEXT_PIECE] for i in range(0, len(doc.text), TEXT_PIECE)]
        for part, piece in enumerate(pieces or [""]):
            rows.append({"row": len(rows), "vector": [0.0] * DUMMY_DIM, "text": piece,
                         "record": record if part == 0 else json.dumps({"part": part})})
    return rows


def read_catalog(client: Any, prefix: str) -> dict | None:
    """{"gen", "previous", "manifest", "bm25"} of the current generation, or None."""
    if not client.has_collection(_catalog(prefix)):
        return None
    client.load_collection(_catalog(prefix))  # a fresh process (or server restart) finds it released
    found = client.get(_catalog(prefix), ids=["current"], output_fields=["record"])
    if not found:
        return None
    try:
        entry = json.loads(found[0]["record"])
        store.Manifest(**entry["manifest"])
        int(entry["doc_parts"]), int(entry["terms"]), str(entry["gen"]), str(entry["previous"])
        dict(entry["bm25"]["stemmers"])
        return entry
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(
            f"the Milvus catalog {_catalog(prefix)} is damaged ({exc}): rebuild it with "
            "`jauap index --rebuild`"
        ) from None


def save(data: store.IndexData, uri: str, prefix: str) -> str:
    """Write `data` as a new generation, switch the catalog row to it, drop the leftovers
    of older runs. Returns the generation's name."""
    client = connect(uri)
    before = read_catalog(client, prefix)
    gen = f"g{time.time_ns():x}"
    names = _names(prefix, gen)
    dim = data.manifest.dim
    dense_index = "HNSW" if len(data.chunks) >= store.HNSW_THRESHOLD else "FLAT"
    _create(client, names["chunks"], "chunks", dim, dense_index)
    _create(client, names["sentences"], "sentences", dim)
    _create(client, names["docs"], "docs", dim)
    _create(client, names["terms"], "terms", dim)
    _insert(client, names["chunks"], _chunk_rows(data))
    _insert(client, names["sentences"], (
        {"row": r, "vector": v.tolist(), "key": k}
        for r, (v, k) in enumerate(zip(data.sentence_vectors, data.sentence_keys, strict=True))
    ))
    doc_rows = _doc_rows(data.docs)
    _insert(client, names["docs"], doc_rows)
    vocabulary = [t for t in data.bm25._vocab if len(t.encode("utf-8")) <= MAX_TERM]
    _insert(client, names["terms"], ({"row": i, "term": t, "vector": [0.0] * DUMMY_DIM}
                                     for i, t in enumerate(vocabulary)))
    for name in names.values():
        client.load_collection(name)
    data.manifest.ann = f"milvus-{dense_index.lower()}"
    data.manifest.updated = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    entry = {
        "gen": gen, "previous": before["gen"] if before else "", "doc_parts": len(doc_rows),
        "terms": len(vocabulary),
        "manifest": asdict(data.manifest),
        "bm25": {"stemmers": data.bm25.stemmers, "stopwords": data.bm25.stopwords},
    }
    if not client.has_collection(_catalog(prefix)):
        _create(client, _catalog(prefix), "catalog", dim)
        client.load_collection(_catalog(prefix))
    record = _fits(json.dumps(entry, ensure_ascii=False), "the index manifest")
    client.upsert(_catalog(prefix), [{"name": "current", "record": record,
                                      "vector": [0.0] * DUMMY_DIM}])
    client.flush(_catalog(prefix))
    prune(client, prefix, keep={gen, str(entry["previous"])})
    return gen


def prune(client: Any, prefix: str, keep: set[str]) -> None:
    """Drop the collections of generations not in `keep` (older or half-written)."""
    start = f"{prefix}_g"
    for name in client.list_collections():
        if name.startswith(start) and name[len(prefix) + 1 :].split("_")[0] not in keep:
            client.drop_collection(name)


def drop(uri: str, prefix: str) -> None:
    """Remove the whole index under `prefix` (catalog and every generation)."""
    client = connect(uri)
    prune(client, prefix, keep=set())
    if client.has_collection(_catalog(prefix)):
        client.drop_collection(_catalog(prefix))


def _read_docs(client: Any, name: str, parts: int) -> dict[str, Document]:
    meta: dict[str, dict] = {}
    texts: dict[str, list[str]] = {}
    current = ""
    for r in read_rows(client, name, ["row", "record", "text"], parts):
        rec = json.loads(r["record"])
        if "doc_id" in rec:
            current = rec["doc_id"]
            meta[current], texts[current] = rec, []
        texts[current].append(r["text"])
    return {d: Document(**m, text="".join(texts[d])) for d, m in meta.items()}


def _current(client: Any, uri: str, prefix: str) -> dict:
    entry = read_catalog(client, prefix)
    if entry is None:
        raise IndexMissingError(
            f"no index {prefix!r} in the Milvus store {uri}: build one with "
            f"`JAUAP_STORE={uri} jauap index [PATH ...]`"
        )
    return entry


def check_compatible(manifest: store.Manifest, name: str, fingerprint: str, uri: str) -> None:
    """Refuse to mix vectors from two different embedders."""
    if manifest.fingerprint != fingerprint:
        raise IndexMismatchError(
            f"the index in {uri} was built with embedder {manifest.embedder!r} "
            f"({manifest.fingerprint}), but {name!r} ({fingerprint}) is in use: rebuild it "
            f"with `JAUAP_STORE={uri} jauap index --rebuild` or select "
            f"JAUAP_EMBEDDER={manifest.embedder}"
        )


def load_manifest(uri: str, prefix: str) -> store.Manifest:
    return store.Manifest(**_current(connect(uri), uri, prefix)["manifest"])


def exists(uri: str, prefix: str) -> bool:
    return read_catalog(connect(uri), prefix) is not None


def load_docs(uri: str, prefix: str) -> tuple[store.Manifest, dict[str, Document]]:
    """The manifest and documents only: enough to tell whether a re-index has work."""
    client = connect(uri)
    entry = _current(client, uri, prefix)
    client.load_collection(_names(prefix, entry["gen"])["docs"])
    return store.Manifest(**entry["manifest"]), _read_docs(
        client, _names(prefix, entry["gen"])["docs"], int(entry["doc_parts"])
    )


def load(uri: str, prefix: str, vectors: str = "lazy") -> store.IndexData:
    """The current generation, searched through Milvus (dense and BM25). Documents and
    chunk records are read into memory; vectors (`vectors="lazy"`) are read when a search
    re-scores its candidates (rag.index.milvus_search.VectorRows), or all at once
    (`"eager"`: what re-indexing needs to reuse them; also `sentence_keys`, empty when lazy)."""
    client = connect(uri)
    entry = _current(client, uri, prefix)
    m = store.Manifest(**entry["manifest"])
    names = _names(prefix, entry["gen"])
    eager = vectors == "eager"
    try:
        for name in names.values():
            client.load_collection(name)
        docs = _read_docs(client, names["docs"], int(entry["doc_parts"]))
        fields = ["row", "key", "record"] + (["vector"] if eager else [])
        rows = read_rows(client, names["chunks"], fields, m.chunks)
        sents = read_rows(client, names["sentences"], ["row", "vector", "key"], m.sentences) if eager else []
        if len(docs) != m.documents or len(rows) != m.chunks or (eager and len(sents) != m.sentences):
            raise ValueError(f"{len(docs)} documents, {len(rows)} chunks and {len(sents)} "
                             f"sentences stored, the manifest says {m.documents}, {m.chunks} "
                             f"and {m.sentences}")
        chunks, sentence_rows = [], []
        for r in rows:
            rec = json.loads(r["record"])
            doc = docs[rec["doc_id"]]
            rec.setdefault("text", doc.text[rec["start"] : rec["end"]])
            sentence_rows.append(rec.pop("sentence_rows"))
            chunks.append(Chunk.from_dict(rec))
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexCorruptError(
            f"the index in {uri} ({prefix}, generation {entry['gen']}) is damaged ({exc}): "
            f"rebuild it with `JAUAP_STORE={uri} jauap index --rebuild`"
        ) from None
    if eager:
        chunk_vectors = _matrix([r["vector"] for r in rows], m.dim)
        sentence_vectors = _matrix([r["vector"] for r in sents], m.dim)
    else:
        source = VectorRows(client, names["chunks"], names["sentences"], m.dim, sentence_rows)
        # typed as arrays: HybridRetriever only indexes them (m[rows], m[row])
        chunk_vectors = cast(np.ndarray, LazyMatrix(source, "chunks", m.chunks))
        sentence_vectors = cast(np.ndarray, LazyMatrix(source, "sentences", m.sentences))
    search = HNSW_SEARCH if m.ann == "milvus-hnsw" else FLAT_SEARCH
    bm25 = entry["bm25"]
    return store.IndexData(
        manifest=m, docs=docs, chunks=chunks, chunk_keys=[r["key"] for r in rows],
        vectors=chunk_vectors, sentence_keys=[r["key"] for r in sents],
        sentence_vectors=sentence_vectors, sentence_rows=sentence_rows,
        bm25=MilvusBM25(client, names["chunks"], m.chunks, dict(bm25["stemmers"]),
                        bool(bm25["stopwords"]), (names["terms"], int(entry["terms"]))),
        ann=MilvusDense(client, names["chunks"], m.chunks, search),
    )


def _matrix(rows: list, dim: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
