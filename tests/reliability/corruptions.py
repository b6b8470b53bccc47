"""Ways to damage an index on disk, each with the words the error about it must contain.
Shared by tests/reliability/test_rel_corrupt_index.py and eval/bench/corrupt_index.py (which
also runs them against older code, so this imports nothing from rag)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _gen(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def _cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _edit_manifest(index_dir: Path, change: Callable[[dict], None]) -> None:
    path = _gen(index_dir) / "manifest.json"
    raw = json.loads(path.read_text("utf-8"))
    change(raw)
    path.write_text(json.dumps(raw), "utf-8")


def _bm25_npy(index_dir: Path) -> Path:
    return sorted((_gen(index_dir) / "bm25").glob("*.npy"))[0]


def _resave(name: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def apply(index_dir: Path) -> None:
        path = _gen(index_dir) / name
        np.save(path, change(np.load(path)))

    return apply


def _sql(index_dir: Path, statement: str) -> None:
    con = sqlite3.connect(_gen(index_dir) / "docstore.sqlite")
    con.execute(statement)
    con.commit()
    con.close()


def _edit_spans(index_dir: Path) -> None:
    """A sentence row past the sentence vectors in sentence_spans.npz (a valid archive)."""
    path = _gen(index_dir) / "sentence_spans.npz"
    with np.load(path) as z:
        offsets, table = z["offsets"], z["table"].copy()
    table[-1, 2] = 10**6
    with path.open("wb") as f:
        np.savez(f, offsets=offsets, table=table)


# name -> (damage it, words the one-line error must contain)
CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "manifest junk": (
        lambda d: (_gen(d) / "manifest.json").write_text("{junk", "utf-8"),
        "manifest.json is not valid JSON",
    ),
    "manifest extra field": (
        lambda d: _edit_manifest(d, lambda m: m.update(extra=1)),
        "manifest.json has unknown field(s) extra",
    ),
    "manifest missing field": (
        lambda d: _edit_manifest(d, lambda m: m.pop("dim")),
        "manifest.json lacks field(s) dim",
    ),
    "manifest wrong type": (
        lambda d: _edit_manifest(d, lambda m: m.update(chunks="many")),
        "manifest.json field 'chunks' is not of type int",
    ),
    "vectors.npy truncated": (lambda d: _cut(_gen(d) / "vectors.npy"), "vectors.npy"),
    "docstore truncated": (lambda d: _cut(_gen(d) / "docstore.sqlite"), "docstore.sqlite"),
    "faiss.index truncated": (lambda d: _cut(_gen(d) / "faiss.index"), "faiss.index"),
    "bm25 npy truncated": (lambda d: _cut(_bm25_npy(d), 0.6), "BM25 index"),
    "bm25 meta missing": (
        lambda d: (_gen(d) / "bm25" / "jauap_bm25.json").unlink(),
        "BM25 index is missing",
    ),
    "sentence_vectors.npy missing": (
        lambda d: (_gen(d) / "sentence_vectors.npy").unlink(),
        "sentence_vectors.npy is missing",
    ),
    "fewer vectors than chunks": (
        _resave("vectors.npy", lambda a: a[:-1]),
        "vectors.npy has shape",
    ),
    "vectors of another dtype": (
        _resave("sentence_vectors.npy", lambda a: a.astype(np.float64)),
        "sentence_vectors.npy holds float64",
    ),
    "sentence spans truncated": (
        lambda d: _cut(_gen(d) / "sentence_spans.npz"),
        "sentence_spans.npz is unreadable or cut short",
    ),
    "sentence spans missing": (
        lambda d: (_gen(d) / "sentence_spans.npz").unlink(),
        "sentence_spans.npz is missing",
    ),
    "sentence spans past the sentence vectors": (
        _edit_spans,
        "sentence_spans.npz points at sentence vectors that don't exist",
    ),
    "docstore junk": (
        lambda d: (_gen(d) / "docstore.sqlite").write_bytes(b"not a database\n" * 512),
        "docstore.sqlite is unreadable",
    ),
    "docstore missing a sentence key": (
        lambda d: _sql(d, "DELETE FROM sentence_keys WHERE row = (SELECT max(row) FROM sentence_keys)"),
        "docstore.sqlite holds",
    ),
    "docstore chunk of an unknown document": (
        lambda d: _sql(d, "UPDATE chunks SET doc_id = 'gone' WHERE row = 0"),
        "chunks of unknown documents",
    ),
    "CURRENT names a missing generation": (
        lambda d: (d / "CURRENT").write_text("gen-gone", "utf-8"),
        "CURRENT names gen-gone, which does not exist",
    ),
    "CURRENT is junk": (
        lambda d: (d / "CURRENT").write_bytes(b"\x00\xff junk"),
        "CURRENT",
    ),
    "generation without manifest": (
        lambda d: (_gen(d) / "manifest.json").unlink(),
        "manifest.json is missing",
    ),
}
