"""The roles of the pipeline as structural types; backends need not inherit.

Embedder (text → vectors), Retriever (question → ranked hits), Reader (question +
passages → answer-span scores, for the extractive answerer), Generator (hits → answer text
with [n] markers) and ChatModel (chat messages → text, what an LLM generator runs on)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from rag.records import Reading, Retrieval

History = Sequence[tuple[str, str]]  # (question, answer) pairs, oldest first
Messages = list[dict[str, str]]  # chat messages: {"role": ..., "content": ...}


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
class SpanEmbedder(Embedder, Protocol):
    """An embedder that also pools sentence vectors out of a passage's own forward pass,
    so the indexer need not encode every sentence again (issue 14)."""

    # "pooled" (the indexer uses embed_passages_with_spans) or "separate" (it does not)
    sentence_vectors: str

    def embed_passages_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors as `embed_passages`, and per text one unit row for each
        (start, end) character span of `spans[i]`, pooled over the tokens of that span;
        an all-zero row where the span could not be pooled (e.g. cut by truncation)."""
        ...


@runtime_checkable
class Retriever(Protocol):
    """Ranks indexed chunks for a question and hands over what answering needs."""

    def retrieve(self, question: str, k: int = 5, lang: str | None = None) -> Retrieval:
        """The k best hits, best first, with the question's language and embedding."""
        ...


@runtime_checkable
class Reader(Protocol):
    """Marks where in each passage the answer to a question is, against "no answer"."""

    fingerprint: str  # changes whenever its scores would

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        """One Reading (token spans with start/end scores, per-window no-answer score) per passage."""
        ...


@runtime_checkable
class Generator(Protocol):
    """Writes the answer to a retrieved question: text with [n] markers numbered as
    `retrieval.hits`, or a refusal sentence (rag.i18n.answers). Raises GeneratorError when
    its backend fails, so the assistant can fall back to the extractive answer."""

    name: str

    def standalone(self, question: str, history: History, lang: str) -> str:
        """`question` rewritten to stand without the conversation (for retrieval)."""
        ...

    def stream(self, retrieval: Retrieval, history: History) -> Iterator[str]:
        """The answer so far, growing, in the question's language; each draft replaces
        the one before (a generator that retries starts over)."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    """A language model behind a chat interface (llama.cpp in-process, an OpenAI-compatible
    server, or a fake); LLM generators build prompts for it."""

    name: str

    @property
    def context_window(self) -> int:
        """Tokens the prompt and the answer share."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's tokenizer (an estimate where there is none)."""
        ...

    def stream(self, messages: Messages, schema: dict[str, Any] | None = None) -> Iterator[str]:
        """The reply in pieces; GeneratorError on any backend failure. With `schema` (a
        JSON schema) the reply is JSON, constrained by it where the backend supports that."""
        ...
