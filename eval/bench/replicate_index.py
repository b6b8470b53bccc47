"""Make a large bench index (e.g. 1M chunks) from a smaller one by replication, for
memory.py and query_latency.py --index-dir at sizes the real indexer can't build here in
reasonable time (the 100k synthetic index takes ~14 min on the 2 shared cores).

    python eval/bench/replicate_index.py SOURCE_INDEX OUT_INDEX [--copies 10] [--noise 0.3]

The method (what is real and what is synthetic): the source is a bench index (common.py's
method: real dev-pool sentences with their real model vectors, chunk vectors the mean of
their sentences'). Copy 0 is the source; copy c of every document gets the id
`<doc_id>~c`, the same text, sentences and sentence vectors (the rows are shared, so the
sentence-vector file is the source's), and a chunk vector that is the source's plus
Gaussian noise of norm ~`--noise` (per dimension noise/sqrt(dim)), normalised: cosine
~.96 to the original, so copies are near-duplicates, not ties (SYNTHETIC vectors derived
from real ones). BM25 postings are the source's repeated with shifted rows, scores kept:
document lengths and term statistics scale together, so a real index of the copies would
score the same up to the +0.5 smoothing of Lucene's idf. The dense index is built by `store.build_ann` as the indexer
builds it at that size (HNSW above `store.HNSW_THRESHOLD`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rag.index import docstore, store  # noqa: E402
from rag.index import generations as gens  # noqa: E402
from rag.records import Chunk  # noqa: E402


def copy_name(name: str, c: int) -> str:
    return name if c == 0 else f"{name}~{c}"


def replicate_vectors(vectors: np.ndarray, copies: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, dim = vectors.shape
    out = np.empty((n * copies, dim), dtype=np.float32)
    out[:n] = vectors
    for c in range(1, copies):
        part = vectors + rng.standard_normal((n, dim), dtype=np.float32) * (noise / np.sqrt(dim))
        out[c * n : (c + 1) * n] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def replicate_bm25(src: Path, dst: Path, n: int, copies: int) -> None:
    """bm25s' CSC arrays with every term's postings repeated, rows shifted per copy."""
    dst.mkdir(parents=True)
    data = np.load(src / "data.csc.index.npy")
    indices = np.load(src / "indices.csc.index.npy")
    indptr = np.load(src / "indptr.csc.index.npy")
    counts = np.diff(indptr)
    new_ptr = np.concatenate([[0], np.cumsum(counts * copies)]).astype(indptr.dtype)
    term_of = np.repeat(np.arange(len(counts)), counts)  # each posting's term
    within = np.arange(len(indices)) - indptr[term_of]  # its place in the term's list
    new_data = np.empty(len(data) * copies, dtype=data.dtype)
    new_idx = np.empty(len(indices) * copies, dtype=indices.dtype)
    for c in range(copies):
        at = new_ptr[term_of] + c * counts[term_of] + within
        new_data[at] = data
        new_idx[at] = indices + c * n
    np.save(dst / "data.csc.index.npy", new_data)
    np.save(dst / "indices.csc.index.npy", new_idx)
    np.save(dst / "indptr.csc.index.npy", new_ptr)
    shutil.copy(src / "vocab.index.json", dst / "vocab.index.json")
    for name, key in (("params.index.json", "num_docs"), ("jauap_bm25.json", "n_docs")):
        raw = json.loads((src / name).read_text("utf-8"))
        raw[key] = n * copies
        (dst / name).write_text(json.dumps(raw, indent=1), "utf-8")


def replicate(source: Path, out: Path, copies: int, noise: float) -> None:
    import faiss

    data = store.load(source)
    m = data.manifest
    src_gen = source / (source / "CURRENT").read_text().strip()
    n = m.chunks
    out.mkdir(parents=True)
    gen = Path(tempfile.mkdtemp(prefix="gen-", dir=out))
    (gen / store.READERS_LOCK).touch()
    started = time.perf_counter()
    docs = {copy_name(d, c): replace(doc, doc_id=copy_name(d, c)) for c in range(copies)
            for d, doc in ((d, data.docs[d]) for d in data.docs)}
    chunks: list[Chunk] = []
    for c in range(copies):
        chunks.extend(replace(ch, chunk_id=copy_name(ch.chunk_id, c), doc_id=copy_name(ch.doc_id, c))
                      for ch in data.chunks)
    rows = list(data.sentence_rows) * copies
    keys = [copy_name(k, c) for c in range(copies) for k in data.chunk_keys]
    docstore.write(gen / docstore.FILE, docs, chunks, keys, rows, list(data.sentence_keys))
    del docs, chunks, rows, keys
    print(f"  docstore: {time.perf_counter() - started:.0f} s", flush=True)
    vectors = replicate_vectors(np.asarray(data.vectors), copies, noise)
    np.save(gen / "vectors.npy", vectors)
    os.link(src_gen / "sentence_vectors.npy", gen / "sentence_vectors.npy")
    replicate_bm25(src_gen / "bm25", gen / "bm25", n, copies)
    print(f"  vectors + BM25: {time.perf_counter() - started:.0f} s", flush=True)
    t0 = time.perf_counter()
    ann, kind = store.build_ann(vectors)
    faiss.write_index(ann, str(gen / "faiss.index"))
    print(f"  {kind} over {len(vectors)} vectors built in {time.perf_counter() - t0:.0f} s", flush=True)
    manifest = replace(m, ann=kind, documents=m.documents * copies, chunks=n * copies)
    (gen / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2), "utf-8")
    os.chmod(gen, 0o755)
    gens.point_current_at(out, gen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.3, help="norm of the noise added per copy")
    args = ap.parse_args()
    started = time.perf_counter()
    replicate(args.source, args.out, args.copies, args.noise)
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
