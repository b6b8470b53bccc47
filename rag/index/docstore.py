"""Documents, chunks and content keys of one index generation in SQLite, read when asked.

Serving used to parse every document and chunk into Python objects at load (chunks.jsonl
and docs.jsonl): at 100k chunks that was most of the resident memory left once vectors
were memory-mapped, and seconds of a cold start, while a question touches the ~60
candidates it re-ranks. Now a load reads one small column (each chunk's language, for
fusion) and checks the store; chunks and documents are read by row or id, the last few
thousand kept (`CACHE`). Loaded indexes hand out `Sequence`/`Mapping` views, so the
retriever and the indexer use them as they used the lists and dicts.

Damage read later than the load (a page that fails SQLite's checks) is an
IndexCorruptError with the same one-line fix as at load.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence, ValuesView
from pathlib import Path
from typing import Any, overload
from urllib.parse import quote

from rag.errors import IndexCorruptError
from rag.index import store_check as check
from rag.records import Chunk, Document

FILE = "docstore.sqlite"
CACHE = 4096  # chunks and documents kept parsed (a question reads ~60; the page re-asks)

_SCHEMA = """
CREATE TABLE docs (doc_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, lang TEXT NOT NULL,
                     key TEXT NOT NULL, srow_min INTEGER, srow_max INTEGER);
CREATE TABLE chunk_bodies (row INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE sentence_keys (row INTEGER PRIMARY KEY, key TEXT NOT NULL);
"""


def write(
    path: Path,
    docs: Mapping[str, Document],
    chunks: Sequence[Chunk],
    chunk_keys: Sequence[str],
    sentence_rows: Sequence[Sequence[int]],
    sentence_keys: Sequence[str],
) -> None:
    """Write a new store at `path` (the caller fsyncs it with the generation)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT INTO docs VALUES (?, ?)",
            ((d.doc_id, json.dumps(d.to_dict(), ensure_ascii=False)) for d in docs.values()),
        )
        rows_of = list(zip(chunks, chunk_keys, sentence_rows, strict=True))
        con.executemany(  # the small columns a load checks, apart from the texts
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            (
                (i, c.doc_id, docs[c.doc_id].lang, key, min(rows, default=None),
                 max(rows, default=None))
                for i, (c, key, rows) in enumerate(rows_of)
            ),
        )
        con.executemany(
            "INSERT INTO chunk_bodies VALUES (?, ?)",
            (
                (i, json.dumps({**c.to_dict(), "sentence_rows": list(rows)}, ensure_ascii=False))
                for i, (c, _, rows) in enumerate(rows_of)
            ),
        )
        con.executemany("INSERT INTO sentence_keys VALUES (?, ?)", enumerate(sentence_keys))
        con.commit()
    finally:
        con.close()


class DocStore:
    """A read-only store of one generation; thread-safe (the page serves sessions at once).
    `corrupt(problem)` makes the IndexCorruptError for damage found after the load."""

    def __init__(self, path: Path, corrupt: Callable[[str], IndexCorruptError]) -> None:
        self.path, self._corrupt = path, corrupt
        if not path.is_file():
            raise check.Damage(f"{FILE} is missing")
        uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
        self._con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._chunks: OrderedDict[int, tuple[Chunk, list[int]]] = OrderedDict()
        self._docs: OrderedDict[str, Document] = OrderedDict()

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def check(self, documents: int, chunks: int, sentences: int) -> list[str]:
        """Check the store against the manifest's counts; each chunk's language, by row.
        Raises Damage. Cheap: no text is read (the texts' tables are only asked for their
        first and last row; a row missing inside is damage found when it is read)."""
        try:
            (page_size,), = self._query("PRAGMA page_size")
            (pages,), = self._query("PRAGMA page_count")
            if os.path.getsize(self.path) < page_size * pages:
                raise check.Damage(f"{FILE} is cut short")
            (n_docs,), = self._query("SELECT count(*) FROM docs")
            (n_chunks, lo, hi, smin, smax), = self._query(
                "SELECT count(*), min(row), max(row), min(srow_min), max(srow_max) FROM chunks")
            # one min() or max() per query: SQLite then reads one end of the b-tree only
            k_lo, k_hi, b_lo, b_hi = (
                self._query(f"SELECT {f}(row) FROM {t}")[0][0]
                for t in ("sentence_keys", "chunk_bodies") for f in ("min", "max"))
            (orphans,), = self._query(
                "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM docs)")
            langs = [r[0] for r in self._query("SELECT lang FROM chunks ORDER BY row")]
        except sqlite3.DatabaseError as exc:
            raise check.Damage(f"{FILE} is unreadable ({exc})") from None
        n_keys = 0 if k_hi is None else k_hi + 1
        if (n_docs, n_chunks, n_keys) != (documents, chunks, sentences):
            raise check.Damage(
                f"{FILE} holds {n_docs} documents, {n_chunks} chunks and {n_keys} sentences, "
                f"the manifest says {documents}, {chunks} and {sentences}")
        last = None if not n_chunks else n_chunks - 1
        if (lo, hi) != (b_lo, b_hi) or (n_chunks and (lo, hi) != (0, last)) or k_lo not in (0, None):
            raise check.Damage(f"{FILE} rows are not numbered 0..{last}")
        if orphans:
            raise check.Damage(f"{FILE} has {orphans} chunks of unknown documents")
        if smin is not None and (smin < 0 or smax >= sentences):
            raise check.Damage(f"{FILE} points at sentence vectors that don't exist")
        if not all(isinstance(lang, str) for lang in langs):
            raise check.Damage(f"{FILE} has a chunk without a language")
        return langs

    def _damaged(self, what: str, exc: Exception) -> IndexCorruptError:
        return self._corrupt(f"{FILE} {what} is unreadable ({type(exc).__name__}: {exc})")

    def damaged(self, problem: str) -> IndexCorruptError:
        return self._corrupt(f"{FILE} {problem}")

    def chunk(self, row: int) -> tuple[Chunk, list[int]]:
        """Chunk `row` and the rows of its sentences' vectors."""
        with self._lock:
            hit = self._chunks.get(row)
            if hit is not None:
                self._chunks.move_to_end(row)
                return hit
            found = self._con.execute(
                "SELECT body FROM chunk_bodies WHERE row = ?", (row,)).fetchone()
        if found is None:  # the views only ask for rows the check counted
            raise self._corrupt(f"{FILE} chunk {row} is missing")
        try:
            raw = json.loads(found[0])
            value = (Chunk.from_dict(raw), [int(r) for r in raw["sentence_rows"]])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._damaged(f"chunk {row}", exc) from None
        self._remember(self._chunks, row, value)
        return value

    def doc(self, doc_id: str) -> Document | None:
        with self._lock:
            hit = self._docs.get(doc_id)
            if hit is not None:
                return hit
            found = self._con.execute("SELECT body FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        if found is None:
            return None
        try:
            value = Document(**json.loads(found[0]))
        except (ValueError, TypeError) as exc:
            raise self._damaged(f"document {doc_id!r}", exc) from None
        self._remember(self._docs, doc_id, value)
        return value

    def _remember(self, cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        """Keep a parsed row, dropping the oldest beyond `CACHE`."""
        with self._lock:
            cache[key] = value
            while len(cache) > CACHE:
                cache.popitem(last=False)

    def documents(self) -> Iterator[Document]:
        """Every document, by id, in one pass over the table (not a query each)."""
        for body in self.column("SELECT body FROM docs ORDER BY doc_id"):
            try:
                yield Document(**json.loads(body))
            except (ValueError, TypeError) as exc:
                raise self._damaged("a document", exc) from None

    def chunk_counts(self) -> dict[str, int]:
        """How many chunks each document has: one query over the small chunk columns."""
        try:
            return dict(self._query("SELECT doc_id, count(*) FROM chunks GROUP BY doc_id"))
        except sqlite3.DatabaseError as exc:
            raise self._damaged("the chunk table", exc) from None

    def column(self, sql: str) -> list[Any]:
        try:
            return [r[0] for r in self._query(sql)]
        except sqlite3.DatabaseError as exc:
            raise self._damaged("a column", exc) from None


class _Rows(Sequence):
    """Base of the row views: indexes and slices like a list."""

    def __init__(self, store: DocStore, n: int) -> None:
        self._store, self._n = store, n

    def __len__(self) -> int:
        return self._n

    def __eq__(self, other: object) -> bool:  # compares like the list it stands for
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def _one(self, row: int) -> Any:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self._one(r) for r in range(*i.indices(self._n))]
        row = int(i) + (self._n if i < 0 else 0)
        if not 0 <= row < self._n:
            raise IndexError(i)
        return self._one(row)


class Chunks(_Rows):
    def _one(self, row: int) -> Chunk:
        return self._store.chunk(row)[0]

    def __iter__(self) -> Iterator[Chunk]:  # one pass over the table, not a query per row
        for body in self._store.column("SELECT body FROM chunk_bodies ORDER BY row"):
            yield Chunk.from_dict(json.loads(body))


class Column(_Rows):
    """One text column read in full when first used (content keys: the indexer's)."""

    def __init__(self, store: DocStore, n: int, sql: str) -> None:
        super().__init__(store, n)
        self._sql = sql
        self._values: list[Any] | None = None

    def _all(self) -> list[Any]:
        if self._values is None:
            values = self._store.column(self._sql)
            if len(values) != self._n:
                raise self._store.damaged(f"has {len(values)} of {self._n} keys")
            self._values = values
        return self._values

    def _one(self, row: int) -> Any:
        return self._all()[row]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all())


class Docs(Mapping[str, Document]):
    """Documents by id, read when asked for."""

    def __init__(self, store: DocStore, n: int) -> None:
        self._store, self._n = store, n

    def __getitem__(self, doc_id: str) -> Document:
        doc = self._store.doc(doc_id)
        if doc is None:
            raise KeyError(doc_id)
        return doc

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.column("SELECT doc_id FROM docs ORDER BY doc_id"))

    def values(self) -> ValuesView[Document]:
        return _Values(self)

    def chunk_counts(self) -> dict[str, int]:
        return self._store.chunk_counts()


class _Values(ValuesView[Document]):
    """The documents in one pass over their table (the page lists them all)."""

    _mapping: Docs

    def __iter__(self) -> Iterator[Document]:
        return self._mapping._store.documents()
