"""`jauap index`'s code path (rag.pipeline.build_index with Settings from the environment)
with the fake embedder slowed down, so a test can kill it halfway:

    JAUAP_EMBEDDER=fake JAUAP_CACHE_DIR=... python tests/reliability/slow_index.py DOCS INDEX
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class SlowFake:
    """FakeEmbedder (same name and fingerprint, so the same cache keys) that takes 50 ms
    per batch and embeds 8 texts per call at most: a run lasts seconds, not milliseconds."""

    def __init__(self) -> None:
        from rag.index.embedders import FakeEmbedder

        self.inner = FakeEmbedder()
        self.name, self.dim = self.inner.name, self.inner.dim

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), 8):
            time.sleep(0.05)
            out.append(self.inner.embed_passages(texts[i : i + 8]))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def main() -> None:
    from rag.pipeline import build_index
    from rag.settings import Settings

    docs, index_dir = Path(sys.argv[1]), Path(sys.argv[2])
    settings = Settings.from_env().with_(index_dir=index_dir, docs=(docs,))
    report = build_index(settings, embedder=SlowFake())
    print(report.embedded_chunks, report.embedded_sentences, flush=True)


if __name__ == "__main__":
    main()
