"""Rows of a float32 matrix in an .npy file, read from the file when asked for.

Serving re-ranks ~60 candidate chunks per question by their vectors and their sentences'
vectors: a few rows of big matrices (705 MB of sentence vectors at 100k chunks). Reading
them whole cost 1.2 GB resident; memory-mapping them was no better after a while, because
the kernel maps 64 KB around every touched page from the page cache ("fault-around",
which MADV_RANDOM does not turn off): 509 of the 705 MB were resident after 100 questions
(/tmp profiling of eval/bench/memory.py's process). `os.pread` copies just the rows, so the
page cache stays the kernel's and out of this process's resident set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_BLOCK = 8192  # rows per read when iterating


class RowFile:
    """A read-only (rows, dim) float32 matrix; indexing by an int, a slice or a list of
    rows returns a new ndarray, `np.asarray` reads it all. The open descriptor keeps the
    file readable after its generation is deleted."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int]) -> None:
        self.path, self._offset = path, offset
        self.shape = shape
        self.dtype = np.dtype(np.float32)
        self.ndim = 2
        self._row_bytes = shape[1] * 4
        self._fd = os.open(path, os.O_RDONLY)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, start: int, count: int) -> np.ndarray:
        size = count * self._row_bytes
        data = os.pread(self._fd, size, self._offset + start * self._row_bytes)
        if len(data) != size:
            raise OSError(f"{self.path.name} is shorter than its header says")
        return np.frombuffer(data, dtype=np.float32).reshape(count, self.shape[1])

    def _rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows by index, in order; plain Python on the index list (a question asks for
        ~60 short lists: numpy's per-call overhead cost more than the reads)."""
        n = self.shape[0]
        raw = rows.reshape(-1).tolist() if isinstance(rows, np.ndarray) else list(rows)
        idx = [int(r) + n if r < 0 else int(r) for r in raw]
        if any(not 0 <= r < n for r in idx):
            raise IndexError(f"row out of range 0..{n - 1}")
        if not idx:
            return np.empty((0, self.shape[1]), dtype=np.float32)
        first = idx[0]
        if idx == list(range(first, first + len(idx))):  # a chunk's sentences: one read
            return self._read(first, len(idx)).copy()
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        order = sorted(range(len(idx)), key=idx.__getitem__)
        a = 0
        for b in range(1, len(order) + 1):  # one read per run of consecutive rows
            if b < len(order) and idx[order[b]] == idx[order[b - 1]] + 1:
                continue
            out[order[a:b]] = self._read(idx[order[a]], b - a)
            a = b
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, int | np.integer):
            row = int(key) + (self.shape[0] if key < 0 else 0)
            if not 0 <= row < self.shape[0]:
                raise IndexError(key)
            return self._read(row, 1)[0].copy()
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                return self._read(start, max(0, stop - start)).copy()
            return self._rows(range(start, stop, step))
        return self._rows(key)

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, self.shape[0], _BLOCK):
            yield from self._read(start, min(_BLOCK, self.shape[0] - start))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self._read(0, self.shape[0]).copy()
        return whole if dtype is None else whole.astype(dtype)
