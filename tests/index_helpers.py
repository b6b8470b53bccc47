"""Shared by the index tests: small chunk settings, the sample files' names, a counting
fake embedder, and building into / reading the current generation of an index folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.index.embedders import FakeEmbedder
from rag.index.indexer import IndexReport, index_paths
from rag.ingest.chunking import ChunkSettings

SMALL = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)
RU_NAME = "000_1a1ef730ee62db7a.txt"
KK_NAME = "004_a5a20995b4c71b1a.txt"


class CountingEmbedder:
    """A fake that delegates to FakeEmbedder, records every passage it embeds and can be
    told to fail after a number of texts (a model crashing halfway through a run)."""

    def __init__(
        self,
        inner: FakeEmbedder | None = None,
        fail_after: int | None = None,
        name: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.inner = inner or FakeEmbedder()
        self.name = name or self.inner.name
        self.dim = self.inner.dim
        self._fingerprint = fingerprint
        self.fail_after = fail_after
        self.texts: list[str] = []

    def fingerprint(self) -> str:
        return self._fingerprint or self.inner.fingerprint()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.texts) + len(texts) > self.fail_after:
            raise RuntimeError(f"embedder died after {len(self.texts)} texts")
        self.texts.extend(texts)
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def build(
    corpus: Path, index_dir: Path, embedder: CountingEmbedder | None = None, **kwargs: object
) -> tuple[IndexReport, CountingEmbedder]:
    embedder = embedder or CountingEmbedder()
    report = index_paths([corpus], index_dir, embedder, SMALL, **kwargs)  # type: ignore[arg-type]
    return report, embedder


def current(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text().strip()
