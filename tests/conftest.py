"""Shared test setup: no network except loopback, and a `fake_env` that selects the
deterministic fake embedder and a private embedding cache."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from rag.index import store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import index_paths
from rag.ingest.chunking import ChunkSettings
from rag.search.hybrid import HybridRetriever
from rag.settings import SAMPLE_CORPUS

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class NetworkBlockedError(ConnectionRefusedError):
    """Raised instead of opening a connection to anything but the loopback interface."""


def _check_address(address: object) -> None:
    # AF_UNIX addresses are paths (str/bytes), not network hosts: leave them alone.
    if not isinstance(address, tuple) or not address:
        return
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if str(host).lower() not in LOOPBACK:
        raise NetworkBlockedError(f"tests must not use the network: connection to {address!r}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails fast inside tests."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection

    def connect(self: socket.socket, address: object) -> None:
        _check_address(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        _check_address(address)
        return real_connect_ex(self, address)

    def create_connection(address: tuple, *args: object, **kwargs: object) -> socket.socket:
        _check_address(address)
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """JAUAP_EMBEDDER=fake, no span reader (its model builds from the real e5 weights) and
    a private JAUAP_CACHE_DIR; returns the variables set."""
    cache_dir = tmp_path / "jauap-cache"
    cache_dir.mkdir()
    env = {"JAUAP_EMBEDDER": "fake", "JAUAP_ANSWER_READER": "none", "JAUAP_CACHE_DIR": str(cache_dir)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def clean_env(fake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`fake_env` and nothing else from the caller's shell: no other JAUAP_* or OPENAI_*."""
    for name in list(os.environ):
        if (name.startswith("JAUAP_") and name not in fake_env) or name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    return fake_env


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """Where a test's index goes (not created)."""
    return tmp_path / "index"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the sample corpus, safe to modify."""
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE_CORPUS, docs)
    return docs


@pytest.fixture(scope="session")
def fake_sample_retriever(tmp_path_factory: pytest.TempPathFactory) -> HybridRetriever:
    """The sample corpus indexed with the fake embedder, read-only, shared by answer tests."""
    index_dir = tmp_path_factory.mktemp("fake-sample-index")
    embedder = FakeEmbedder()
    index_paths([SAMPLE_CORPUS], index_dir, embedder, ChunkSettings())
    return HybridRetriever(store.load(index_dir), embedder)
