"""The three roles of the pipeline as structural types; backends need not inherit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from rag.records import Hit


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors; handles model prefixes itself."""

    name: str
    dim: int

    def fingerprint(self) -> str:
        """A string that changes whenever the vectors this embedder produces would change."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit rows, for search queries."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit rows, for indexed passages."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for a passage (used to size chunks)."""
        ...


@runtime_checkable
class Retriever(Protocol):
    """Ranks indexed chunks for a question."""

    def search(self, question: str, k: int = 5) -> list[Hit]: ...


@runtime_checkable
class Generator(Protocol):
    """Writes an answer from numbered sources; `stream` yields text pieces."""

    name: str

    def stream(self, prompt_messages: list[dict[str, str]]) -> Iterator[str]: ...
