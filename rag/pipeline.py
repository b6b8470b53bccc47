"""Wiring: settings → embedder → index → retriever → assistant, shared by the CLI, the page
and eval, so all three answer the same way."""

from __future__ import annotations

from pathlib import Path

from rag.answer.assistant import Assistant
from rag.answer.generators import make_generator
from rag.index import store
from rag.index.embedders import make_embedder
from rag.index.indexer import IndexReport, Progress, index_paths
from rag.index.vector_cache import VectorCache
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
    """Index `paths` (default: the configured folders) into the configured index; vectors
    already in the embedding cache (e.g. from a killed run) are not computed again."""
    embedder = embedder or make_embedder(settings)
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    try:
        return index_paths(
            list(paths or settings.docs),
            settings.index_dir,
            embedder,
            settings.chunking,
            rebuild=rebuild,
            progress=progress,
            cache=cache,
        )
    finally:
        cache.close()


def open_retriever(
    settings: Settings,
    embedder: Embedder | None = None,
    retrieval: RetrievalSettings | None = None,
) -> HybridRetriever:
    """Load the index and check it was built by the embedder in use."""
    manifest = store.load_manifest(settings.index_dir)
    embedder = embedder or make_embedder(settings)
    store.check_compatible(manifest, embedder.name, embedder.fingerprint(), settings.index_dir)
    return HybridRetriever(store.load(settings.index_dir), embedder, retrieval)


def open_assistant(settings: Settings, retriever: HybridRetriever | None = None) -> Assistant:
    """The configured generator over the configured index (or over `retriever`)."""
    retriever = retriever or open_retriever(settings)
    return Assistant(
        retriever, make_generator(settings.generator, settings), k=settings.k,
        embedder=retriever.embedder,
    )
