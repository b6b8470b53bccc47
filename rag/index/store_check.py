"""Checks run while an index is loaded: each raises `Damage` naming what is wrong (a field,
a file, a count), which the store turns into one IndexCorruptError line with the fix.

A damaged index must fail at load with that line, not later with a traceback in search."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.index.rowfile import RowFile

T = TypeVar("T")


class Damage(Exception):
    """What is wrong with one generation of an index, in a few words."""


def read_json(path: Path) -> Any:
    """A JSON file's value; Damage when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Damage(f"{path.name} is missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Damage(f"{path.name} is not valid JSON ({exc})") from None


def check_fields(name: str, raw: Any, types: dict[str, type], optional: set[str]) -> None:
    """`raw` is an object with exactly the fields in `types`, each of its type."""
    if not isinstance(raw, dict):
        raise Damage(f"{name} is not a JSON object")
    unknown = sorted(set(raw) - set(types))
    if unknown:
        raise Damage(f"{name} has unknown field(s) {', '.join(unknown)}")
    missing = sorted(set(types) - set(raw) - optional)
    if missing:
        raise Damage(f"{name} lacks field(s) {', '.join(missing)}")
    for key, value in raw.items():
        kind = types[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok and not (value is None and key in optional):
            raise Damage(f"{name} field {key!r} is not of type {kind.__name__}")


def load_npy(path: Path, rows: int, dim: int, lazy: bool = False) -> Any:
    """A float32 matrix of shape (rows, dim) from an .npy file: read whole, or with `lazy`
    a `RowFile` reading rows when asked. Either way the header, dtype, shape and the file's
    length are checked here (numpy checks the length when it maps the file)."""
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r" if lazy else None)
    except FileNotFoundError:
        raise Damage(f"{path.name} is missing") from None
    except (ValueError, EOFError, OSError) as exc:
        raise Damage(f"{path.name} is unreadable or cut short ({exc})") from None
    if array.dtype != np.float32:
        raise Damage(f"{path.name} holds {array.dtype}, not float32")
    if array.shape != (rows, dim):
        raise Damage(f"{path.name} has shape {array.shape}, expected {(rows, dim)}")
    if not lazy:
        return array
    if rows and not array.flags.c_contiguous:
        raise Damage(f"{path.name} is not in row order")
    return RowFile(path, int(getattr(array, "offset", 0)), (rows, dim))


def guarded(what: str, load: Callable[[], T]) -> T:
    """Run a third-party loader (faiss, bm25s); any failure becomes Damage about `what`."""
    try:
        return load()
    except Damage:
        raise
    except FileNotFoundError as exc:
        raise Damage(f"{what} is missing ({Path(str(exc.filename)).name})") from None
    except Exception as exc:  # noqa: BLE001 - third-party loaders raise anything on junk
        # faiss puts its C++ function signature first: keep the part after "Error: "
        detail = str(exc).strip().rsplit("Error: ", 1)[-1].replace("\n", " ")[:160]
        raise Damage(f"{what} is unreadable or cut short ({type(exc).__name__}: {detail})") from None


def check_ann(ann: Any, rows: int, dim: int) -> None:
    """The FAISS index holds one vector per chunk, of the manifest's dimension."""
    if ann.ntotal != rows or ann.d != dim:
        raise Damage(f"faiss.index holds {ann.ntotal} vectors of {ann.d}, expected {rows} of {dim}")


def check_bm25_postings(scores: dict[str, np.ndarray], vocab_size: int, rows: int) -> None:
    """bm25s' CSC arrays agree with each other, the vocabulary and the chunk count."""
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    if len(indptr) != vocab_size + 1:
        raise Damage(f"BM25 index has {len(indptr) - 1} term rows for {vocab_size} terms")
    if len(data) != len(indices) or (len(indptr) and int(indptr[-1]) != len(indices)):
        raise Damage("BM25 postings arrays disagree in length")
    if len(indptr) and (int(indptr[0]) != 0 or np.any(np.diff(indptr) < 0)):
        raise Damage("BM25 postings offsets are out of order")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= rows):
        raise Damage(f"BM25 postings point past the {rows} chunks")
