"""Wiring: settings → embedder → index → retriever → assistant, shared by the CLI, the page
and eval, so all three answer the same way."""

from __future__ import annotations

from pathlib import Path

from rag.answer.assistant import Assistant
from rag.answer.generators import make_generator
from rag.index.backends import open_store
from rag.index.embedders import make_embedder
from rag.index.indexer import IndexReport, Progress
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
    """Index `paths` (default: the configured folders) into the configured index (the
    FAISS folder or JAUAP_STORE); vectors already in the embedding cache (e.g. from a
    killed run) are not computed again."""
    where = open_store(settings)
    embedder = embedder or make_embedder(settings)
    cache = VectorCache(settings.vector_cache_path, embedder.fingerprint())
    try:
        return where.index_paths(
            list(paths or settings.docs),
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
    """Load the index (the FAISS folder or JAUAP_STORE) and check it was built by the
    embedder in use."""
    where = open_store(settings)
    where.manifest()  # no index: say so before loading the embedder
    embedder = embedder or make_embedder(settings)
    return HybridRetriever(where.open(embedder), embedder, retrieval)


def open_assistant(settings: Settings, retriever: HybridRetriever | None = None) -> Assistant:
    """The configured generator over the configured index (or over `retriever`)."""
    retriever = retriever or open_retriever(settings)
    return Assistant(
        retriever, make_generator(settings.generator, settings), k=settings.k,
        embedder=retriever.embedder,
    )
