"""A persistent embedding cache keyed by embedder fingerprint and text hash (SQLite),
so re-indexing or re-running an eval never embeds the same text twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np


class VectorCache:
    """key → float32 vector for one embedder fingerprint."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (fp TEXT, key TEXT, vec BLOB, PRIMARY KEY (fp, key))"
        )
        self._fp = fingerprint

    def get_many(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(keys)
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, vec FROM vectors WHERE fp = ? AND key IN ({marks})", [self._fp, *part]
            )
            for key, blob in rows:
                out[key] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [
                    (self._fp, k, np.asarray(v, dtype=np.float32).tobytes())
                    for k, v in items.items()
                ],
            )

    def close(self) -> None:
        self._db.close()
