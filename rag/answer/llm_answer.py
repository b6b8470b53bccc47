"""An LLM as a Generator: numbered sources in, a cited answer out, through any ChatModel."""

from __future__ import annotations

from collections.abc import Iterator

from rag.answer.prompts import PromptSource, build_messages, condense_messages
from rag.errors import GeneratorError
from rag.protocols import ChatModel, History
from rag.records import Retrieval


class LLMGenerator:
    """Prompts `model` with the retrieved passages as numbered sources."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.name = model.name

    def standalone(self, question: str, history: History, lang: str) -> str:
        """The model's rewrite of a follow-up; the question itself if the rewrite is unusable."""
        if not history:
            return question
        messages = condense_messages(question, list(history), lang)
        rewritten = "".join(self.model.stream(messages)).strip().split("\n")[0].strip()
        if not 3 <= len(rewritten) <= 500:
            raise GeneratorError("the model did not rewrite the follow-up question")
        return rewritten

    def stream(self, retrieval: Retrieval, history: History = ()) -> Iterator[str]:
        sources = [
            PromptSource(n, h.doc.title, h.doc.date, h.doc.lang, h.chunk.text)
            for n, h in enumerate(retrieval.hits, 1)
        ]
        messages = build_messages(
            retrieval.question, retrieval.lang, sources, list(history),
            context_window=self.model.context_window, count_tokens=self.model.count_tokens,
        )
        yield from self.model.stream(messages)
