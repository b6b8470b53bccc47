"""Each chunk's sentences as two small int arrays, held in memory by a loaded index.

The re-rank scores ~80 candidate chunks per question by their best sentence: it needs
each candidate's sentence spans and sentence-vector rows, not its text. Read from the
docstore (a SQLite query and a JSON parse per candidate) that was half of retrieval's CPU
at 100k chunks. Here they are `offsets` (chunks + 1, int64) into `table` (one row per
sentence of each chunk: start, end, sentence-vector row; int32), written with the
generation (`FILE`) and checked at load. At 100k chunks (459,390 sentence entries): 6.0 MB
in memory, 4 ms to load and check, 0.35 s to build when the index is written. CPU time of
`HybridRetriever.retrieve` on the 100k bench index, 200 dev questions, query vectors
memoised, FAISS on 1 thread: 11.7-12.2 -> 10.3-11.2 ms, of which outside the FAISS search
4.1-4.6 -> 2.5-3.5 ms; the re-rank under cProfile 5.2 -> 2.3 ms; the same hits and scores.
eval/bench/memory.py --index-dir: resident after 200 answers 865 -> 861 MiB.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from rag.index import store_check as check
from rag.records import Chunk

FILE = "sentence_spans.npz"


class SentenceSpans:
    """`of(row)`: chunk `row`'s sentences as an (m, 3) array of start, end, vector row."""

    def __init__(self, offsets: np.ndarray, table: np.ndarray) -> None:
        self.offsets, self.table = offsets, table

    @classmethod
    def from_chunks(
        cls, chunks: Sequence[Chunk], sentence_rows: Sequence[Sequence[int]]
    ) -> SentenceSpans:
        offsets: list[int] = [0]
        flat: list[tuple[int, int, int]] = []
        for chunk, rows in zip(chunks, sentence_rows, strict=True):
            if len(chunk.sentences) != len(rows):
                raise ValueError(f"chunk {chunk.chunk_id} has {len(chunk.sentences)} "
                                 f"sentences and {len(rows)} sentence rows")
            flat.extend((int(s), int(e), int(r)) for (s, e), r in zip(chunk.sentences, rows, strict=True))
            offsets.append(len(flat))
        table = np.asarray(flat, dtype=np.int32).reshape(len(flat), 3)
        return cls(np.asarray(offsets, dtype=np.int64), table)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def of(self, row: int) -> np.ndarray:
        return self.table[self.offsets[row] : self.offsets[row + 1]]

    def rows(self, row: int) -> list[int]:
        """The sentence-vector rows of chunk `row`."""
        return self.of(row)[:, 2].tolist()

    def save(self, path: Path) -> None:
        with path.open("wb") as f:
            np.savez(f, offsets=self.offsets, table=self.table)

    @classmethod
    def load(cls, path: Path, chunks: int, sentences: int) -> SentenceSpans:
        """Read and check `path` against the manifest's counts; Damage naming the file."""
        name = path.name
        try:
            with np.load(path, allow_pickle=False) as z:
                offsets, table = z["offsets"], z["table"]
        except FileNotFoundError:
            raise check.Damage(f"{name} is missing") from None
        except Exception as exc:  # noqa: BLE001 - zip and npy readers raise many kinds
            raise check.Damage(f"{name} is unreadable or cut short ({type(exc).__name__})") from None
        if offsets.dtype != np.int64 or table.dtype != np.int32:
            raise check.Damage(f"{name} holds {offsets.dtype}/{table.dtype}, not int64/int32")
        if offsets.shape != (chunks + 1,) or table.ndim != 2 or table.shape[1] != 3:
            raise check.Damage(f"{name} has shapes {offsets.shape} and {table.shape}, "
                               f"expected ({chunks + 1},) and (n, 3)")
        if offsets[0] != 0 or offsets[-1] != len(table) or np.any(np.diff(offsets) < 0):
            raise check.Damage(f"{name} offsets are out of order")
        if len(table):
            starts, ends, rows = table[:, 0], table[:, 1], table[:, 2]
            if starts.min() < 0 or np.any(ends < starts):
                raise check.Damage(f"{name} has a sentence that ends before it starts")
            if rows.min() < 0 or rows.max() >= sentences:
                raise check.Damage(f"{name} points at sentence vectors that don't exist")
        return cls(offsets, table)


class SentenceRows(Sequence):
    """Each chunk's sentence-vector rows as lists, read from `SentenceSpans`."""

    def __init__(self, spans: SentenceSpans) -> None:
        self._spans = spans

    def __len__(self) -> int:
        return len(self._spans)

    def __eq__(self, other: object) -> bool:  # compares like the list it stands for
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, i: int) -> list[int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[int]]: ...
    def __getitem__(self, i: int | slice) -> list[int] | list[list[int]]:
        n = len(self)
        if isinstance(i, slice):
            return [self._spans.rows(r) for r in range(*i.indices(n))]
        row = int(i) + (n if i < 0 else 0)
        if not 0 <= row < n:
            raise IndexError(i)
        return self._spans.rows(row)

    def __iter__(self) -> Iterator[list[int]]:
        table, offsets = self._spans.table[:, 2].tolist(), self._spans.offsets.tolist()
        for a, b in zip(offsets[:-1], offsets[1:], strict=True):
            yield table[a:b]
