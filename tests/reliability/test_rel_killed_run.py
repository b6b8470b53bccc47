"""A killed indexing run keeps its embedding work (issue 11, section 4): every batch goes
into the embedding cache (Settings.cache_dir) as soon as it is embedded, and the next
`jauap index` embeds only what the killed run had not. Before: the CLI did not use the
cache and a killed run lost everything."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.index import store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import index_paths
from rag.index.vector_cache import VectorCache
from rag.ingest.chunking import ChunkSettings
from tests.reliability.index_worker import ROOT
from tests.reliability.ingest_helpers import (
    cli_env,  # noqa: F401 - a fixture
    invoke,
)

SMALL = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)
_EMBEDDED = re.compile(r"(\d+) chunks and (\d+) sentences embedded")


def _many_docs(folder: Path, n: int = 12) -> Path:
    """Documents with distinct sentences: a few hundred texts to embed."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sentences = [f"Құжат {i} сөйлем {j}: қала {i * 31 + j} тұрғыны жаңалық айтты." for j in range(25)]
        (folder / f"doc{i:02d}.txt").write_text(" ".join(sentences), encoding="utf-8")
    return folder


def _cached(cache_dir: Path) -> int:
    path = cache_dir / "embeddings.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(str(path), timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
    except sqlite3.OperationalError:  # table not made yet, or busy
        return 0


def _embedded(output: str) -> int:
    found = _EMBEDDED.search(output)
    assert found, output
    return int(found.group(1)) + int(found.group(2))


def test_kill_9_during_jauap_index_keeps_the_embedded_batches(
    tmp_path: Path, cli_env: dict[str, str]  # noqa: F811
) -> None:
    docs = _many_docs(tmp_path / "docs")
    cache_dir = Path(cli_env["JAUAP_CACHE_DIR"])
    # what a run from nothing embeds (own cache, own index)
    full_env = {**cli_env, "JAUAP_CACHE_DIR": str(tmp_path / "other-cache")}
    full = invoke(full_env, "index", str(docs), "--index-dir", str(tmp_path / "full"))
    assert full.exit_code == 0, full.output
    total = _embedded(full.output)

    env = {**os.environ, **cli_env, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/reliability/slow_index.py"), str(docs), str(tmp_path / "index")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while _cached(cache_dir) < total // 3 and time.monotonic() < deadline:
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    kept = _cached(cache_dir)
    assert total // 3 <= kept < total
    assert not store.exists(tmp_path / "index")  # killed before its first save

    again = invoke(cli_env, "index", str(docs), "--index-dir", str(tmp_path / "index"))
    assert again.exit_code == 0, again.output
    assert _embedded(again.output) == total - kept
    assert len(store.load(tmp_path / "index").chunks) == len(store.load(tmp_path / "full").chunks)


class DyingFake(FakeEmbedder):
    """Dies after `budget` texts, like a model crashing or a run being interrupted."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget
        self.done = 0  # texts embedded before dying

    def embed_passages(self, texts):  # noqa: ANN001, ANN201 - FakeEmbedder's signature
        if self.budget < len(texts):
            raise KeyboardInterrupt
        self.budget -= len(texts)
        self.done += len(texts)
        return super().embed_passages(texts)


def test_interrupted_run_keeps_every_finished_batch(tmp_path: Path) -> None:
    docs = _many_docs(tmp_path / "docs")
    cache = VectorCache(tmp_path / "cache.sqlite", FakeEmbedder().fingerprint())
    dying = DyingFake(budget=150)
    with pytest.raises(KeyboardInterrupt):
        index_paths([docs], tmp_path / "index", dying, SMALL, cache=cache)
    assert 0 < dying.done <= 150
    assert _cached_in(tmp_path) == dying.done  # every finished batch, nothing else
    report = index_paths([docs], tmp_path / "index", FakeEmbedder(), SMALL, cache=cache)
    fresh = index_paths([docs], tmp_path / "fresh", FakeEmbedder(), SMALL)
    cache.close()
    total = fresh.embedded_chunks + fresh.embedded_sentences
    assert report.embedded_chunks + report.embedded_sentences == total - dying.done


def _cached_in(tmp_path: Path) -> int:
    with sqlite3.connect(str(tmp_path / "cache.sqlite")) as db:
        return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
