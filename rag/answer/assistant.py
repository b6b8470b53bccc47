"""`ask`: question → retrieval → generator → checked citations → one answer record.

The CLI (`jauap ask --json`), the chat page and the eval suite all call `Assistant.ask`
(or `Assistant.stream` for the page), so they get the same answers."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.answer import cite
from rag.answer.extractive import ExtractiveGenerator
from rag.errors import ConfigError, GeneratorError, InputError
from rag.i18n.answers import is_refusal, refusal_text
from rag.protocols import Embedder, Generator, History, Retriever
from rag.records import Retrieval
from rag.settings import MAX_K
from rag.text.lang import detect

log = logging.getLogger(__name__)


@dataclass
class Answer:
    """What `jauap ask --json` prints."""

    question: str
    answer: str
    language: str
    refused: bool
    citations: list[cite.Citation]
    generator: str
    timings: dict[str, float]
    supported_share: float | None = None
    unsupported: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    standalone_question: str | None = None
    fallback: str | None = None
    scorer: str | None = None  # fingerprint of the extractive answerer's learned scorer

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "language": self.language,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "generator": self.generator,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "supported_share": self.supported_share,
            "unsupported": self.unsupported,
            "sources": self.sources,
            "standalone_question": self.standalone_question,
            "fallback": self.fallback,
            "scorer": self.scorer,
        }


class Assistant:
    """Answers questions over one retriever with one generator; when an LLM generator fails
    its answer falls back to the extractive one, with a note."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator | None = None,
        k: int = 5,
        embedder: Embedder | None = None,
        fallback: ExtractiveGenerator | None = None,
    ) -> None:
        """`generator` defaults to `fallback`, the extractive answerer (by default the
        generator itself when it is one, else its `selector` if it has one, as the LLM
        generators do, so a fallback answers as the configured extractive answerer would).
        `embedder` (the retriever's) lets the citation check compare meaning, not only
        words; without it only word overlap supports a claim."""
        if not 1 <= k <= MAX_K:
            raise ConfigError(f"k must be between 1 and {MAX_K}, got {k}")
        self.retriever = retriever
        if fallback is None and isinstance(generator, ExtractiveGenerator):
            fallback = generator
        selector = getattr(generator, "selector", None)
        if fallback is None and isinstance(selector, ExtractiveGenerator):
            fallback = selector
        self.fallback = fallback or ExtractiveGenerator()
        self.generator: Generator = generator or self.fallback
        self.k = k
        self.embedder = embedder

    def ask(self, question: str, history: History = ()) -> Answer:
        """Answer one question; never raises for backend failures (falls back instead)."""
        return deque(self.stream(question, history), maxlen=1)[0]

    def stream(self, question: str, history: History = ()) -> Iterator[Answer]:
        """Yield partial answers while the generator writes, then the checked answer."""
        question = question.strip()
        if not question:
            raise InputError("the question is empty")
        lang = detect(question)
        if not any(c.isalnum() for c in question):
            # punctuation or symbols only: nothing to look for, so nothing to quote
            yield Answer(question, refusal_text(lang), lang, True, [], self.generator.name, {})
            return
        timings: dict[str, float] = {}
        asked = started = time.perf_counter()
        standalone = self._standalone(question, history, lang)
        timings["condense"] = time.perf_counter() - started
        started = time.perf_counter()
        retrieval = self.retriever.retrieve(standalone, k=self.k, lang=lang)
        timings["retrieval"] = time.perf_counter() - started
        started = time.perf_counter()
        text, fallback = "", None
        try:
            for draft in self.generator.stream(retrieval, history):
                text = draft
                # from the question to the first words the asker sees
                timings.setdefault("first_token", time.perf_counter() - asked)
                yield Answer(question, text, lang, False, [], self.generator.name, dict(timings))
        except GeneratorError as exc:
            log.warning("%s failed, falling back to the extractive answer: %s", self.generator.name, exc)
            fallback = f"{self.generator.name} could not answer; showing the extractive answer"
            text = self.fallback.answer(retrieval)
        timings["generation"] = time.perf_counter() - started
        name = self.generator.name if fallback is None else self.fallback.name
        answer = self._finish(question, standalone, retrieval, text, name, timings, fallback)
        if name == self.fallback.name:
            answer.scorer = self.fallback.fingerprint
        yield answer

    def _standalone(self, question: str, history: History, lang: str) -> str:
        if not history:
            return question
        try:
            return self.generator.standalone(question, history, lang)
        except GeneratorError as exc:
            log.warning("condensing the follow-up failed: %s", exc)
            return self.fallback.standalone(question, history, lang)

    def _finish(
        self, question: str, standalone: str, retrieval: Retrieval, text: str, name: str,
        timings: dict[str, float], fallback: str | None,
    ) -> Answer:
        sources = [h.to_dict() for h in retrieval.hits]
        shown_standalone = standalone if standalone != question else None
        def refused(**extra: Any) -> Answer:
            return Answer(
                question, refusal_text(retrieval.lang), retrieval.lang, True, [], name, timings,
                sources=sources, standalone_question=shown_standalone, fallback=fallback, **extra,
            )

        if is_refusal(text):
            return refused()
        started = time.perf_counter()
        checked = cite.check(text, retrieval.hits, retrieval.lang, self.embedder)
        timings["citation_check"] = time.perf_counter() - started
        if checked.supported_share == 0.0:
            # Not one sentence holds up against its source: say so rather than show an
            # unsupported answer as if it were supported.
            log.info("%s answer refused: no sentence supported by its citation", name)
            return refused(
                supported_share=0.0, unsupported=[c.text for c in checked.claims if not c.supported]
            )
        return Answer(
            question=question,
            answer=checked.text,
            language=retrieval.lang,
            refused=False,
            citations=checked.citations,
            generator=name,
            timings=timings,
            supported_share=checked.supported_share,
            unsupported=[c.text for c in checked.claims if not c.supported],
            sources=sources,
            standalone_question=shown_standalone,
            fallback=fallback,
        )
