"""Wiring: settings → embedder → index → retriever, shared by the CLI, the page and eval."""

from __future__ import annotations

from pathlib import Path

from rag.index import store
from rag.index.embedders import get_embedder
from rag.index.indexer import IndexReport, Progress, index_paths
from rag.protocols import Embedder
from rag.search.hybrid import HybridRetriever, RetrievalSettings
from rag.settings import Settings


def build_index(
    settings: Settings,
    paths: list[Path] | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> IndexReport:
    """Index `paths` (default: the configured folders) into the configured index."""
    embedder = embedder or get_embedder(settings.embedder)
    return index_paths(
        list(paths or settings.docs),
        settings.index_dir,
        embedder,
        settings.chunking,
        rebuild=rebuild,
        progress=progress,
    )


def open_retriever(
    settings: Settings,
    embedder: Embedder | None = None,
    retrieval: RetrievalSettings | None = None,
) -> HybridRetriever:
    """Load the index and check it was built by the embedder in use."""
    manifest = store.load_manifest(settings.index_dir)
    embedder = embedder or get_embedder(settings.embedder)
    store.check_compatible(manifest, embedder.name, embedder.fingerprint(), settings.index_dir)
    return HybridRetriever(store.load(settings.index_dir), embedder, retrieval)
