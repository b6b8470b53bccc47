"""`ask`: question → retrieval → generator → checked citations → one answer record.

The CLI (`jauap ask --json`), the chat page and the eval suite all call `Assistant.ask`
(or `Assistant.stream` for the page), so they get the same answers."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.answer import cite, extractive
from rag.errors import ConfigError, GeneratorError, JauapError
from rag.records import Hit
from rag.search.hybrid import HybridRetriever
from rag.text.lang import detect

History = Sequence[tuple[str, str]]  # (question, answer) pairs, oldest first
GENERATOR_NAMES = ("extractive", "llama-cpp", "openai")
_FOLLOWUP_WORDS = {
    "en": {"it", "its", "he", "she", "they", "them", "their", "his", "her", "this", "that",
           "there", "and", "also"},
    "ru": {"он", "она", "оно", "они", "его", "её", "ее", "их", "ему", "ей", "им", "это", "этот",
           "там", "а", "и", "тоже", "также"},
    "kk": {"ол", "оның", "оны", "оған", "олар", "олардың", "бұл", "сол", "осы", "ал", "және",
           "мұнда", "онда"},
}


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
        }


def carry_entities(question: str, history: History, lang: str) -> str:
    """For the extractive path: a follow-up that leans on the previous turn ("and who
    organised it?") gets the previous question's names and numbers appended."""
    if not history:
        return question
    words = re.findall(r"\w+", question.lower())
    pronouns = _FOLLOWUP_WORDS.get(lang, set())
    refers_back = len(words) <= 3 or any(w in pronouns for w in words)
    if not refers_back:
        return question
    prev_q = history[-1][0]
    tokens = re.findall(r"\w[\w\-.]*", prev_q)
    entities = [t for i, t in enumerate(tokens) if (t[:1].isupper() and i > 0) or t[:1].isdigit()]
    content = [t for t in tokens if len(t) > 4 and t.lower() not in _FOLLOWUP_WORDS.get(lang, set())]
    extra = " ".join(dict.fromkeys(entities + content))
    return f"{question} ({extra})" if extra else question


class Assistant:
    """Answers questions over one index with one generator (LLM or extractive)."""

    def __init__(
        self,
        retriever: HybridRetriever,
        generator: object | None = None,
        k: int = 5,
        settings: extractive.ExtractiveSettings | None = None,
    ) -> None:
        if not 1 <= k <= 50:
            raise ConfigError(f"k must be between 1 and 50, got {k}")
        self.retriever = retriever
        self.generator = generator  # None = extractive
        self.k = k
        self.settings = settings or extractive.ExtractiveSettings()

    @property
    def generator_name(self) -> str:
        return getattr(self.generator, "name", "extractive") if self.generator else "extractive"

    def ask(self, question: str, history: History = ()) -> Answer:
        """Answer one question; never raises for backend failures (falls back instead)."""
        return deque(self.stream(question, history), maxlen=1)[0]

    def stream(self, question: str, history: History = ()) -> Iterator[Answer]:
        """Yield partial answers while the generator writes, then the checked answer."""
        question = question.strip()
        if not question:
            raise JauapError("the question is empty")
        lang = detect(question)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        standalone = self._standalone(question, history, lang, timings)
        hits = self.retriever.search(standalone, k=self.k, lang=lang)
        timings["retrieval"] = time.perf_counter() - started - timings.get("condense", 0.0)
        started = time.perf_counter()
        fallback = None
        if self.generator is None:
            text, refused = self._extractive(standalone, lang, hits)
        else:
            text, refused, fallback = "", False, None
            try:
                for piece in self._llm_stream(question, lang, hits, history):
                    text += piece
                    yield self._partial(question, lang, text, timings)
                refused = self._is_refusal(text, lang)
                if not refused and not cite.parse_markers(text):
                    raise GeneratorError("the model's answer cites no source")
            except GeneratorError as exc:
                fallback = f"{self.generator_name} failed ({exc}); showing the extractive answer"
                text, refused = self._extractive(standalone, lang, hits)
        timings["generation"] = time.perf_counter() - started
        yield self._finish(question, standalone, lang, hits, text, refused, timings, fallback)

    # --- pieces ---------------------------------------------------------------------

    def _standalone(self, question: str, history: History, lang: str, timings: dict) -> str:
        if not history:
            return question
        if self.generator is None:
            return carry_entities(question, history, lang)
        from rag.answer.prompts import condense_messages

        started = time.perf_counter()
        try:
            rewritten = "".join(self.generator.stream(condense_messages(question, list(history[-2:]), lang)))
            rewritten = rewritten.strip().split("\n")[0].strip()
        except GeneratorError:
            rewritten = ""
        timings["condense"] = time.perf_counter() - started
        return rewritten if 3 <= len(rewritten) <= 500 else carry_entities(question, history, lang)

    def _extractive(self, question: str, lang: str, hits: list[Hit]) -> tuple[str, bool]:
        qvec = self.retriever.query_vector(question)
        picks = extractive.score_sentences(
            question, qvec, lang, hits, self.retriever.sentences, self.settings
        )
        return extractive.compose(question, lang, hits, picks, self.settings)

    def _llm_stream(self, question: str, lang: str, hits: list[Hit], history: History) -> Iterator[str]:
        from rag.answer.prompts import PromptSource, build_messages

        sources = [
            PromptSource(n, h.doc.title, h.doc.date, h.doc.lang, h.chunk.text)
            for n, h in enumerate(hits, 1)
        ]
        messages = build_messages(
            question, lang, sources, list(history[-2:]),
            context_window=self.generator.context_window,
            count_tokens=self.generator.count_tokens,
        )
        yield from self.generator.stream(messages)

    @staticmethod
    def _is_refusal(text: str, lang: str) -> bool:
        from rag.answer.prompts import REFUSAL

        body = cite._MARKER.sub("", text).strip().lower()
        return any(body.startswith(r.lower().rstrip(".")) for r in REFUSAL.values()) or not body

    def _partial(self, question: str, lang: str, text: str, timings: dict) -> Answer:
        return Answer(question, text, lang, False, [], self.generator_name, dict(timings))

    def _finish(
        self, question: str, standalone: str, lang: str, hits: list[Hit], text: str,
        refused: bool, timings: dict, fallback: str | None,
    ) -> Answer:
        sources = [h.to_dict() for h in hits]
        name = self.generator_name if fallback is None else "extractive"
        if refused:
            refusal = extractive.REFUSAL.get(lang, extractive.REFUSAL["en"])
            closest = extractive.CLOSEST.get(lang, extractive.CLOSEST["en"])
            return Answer(
                question, f"{refusal} {closest}", lang, True, [], name, timings,
                sources=sources, standalone_question=standalone, fallback=fallback,
            )
        started = time.perf_counter()
        checked = cite.check(
            text, hits, self.retriever.sentences, self.retriever.query_vector, lang,
        )
        timings["citation_check"] = time.perf_counter() - started
        return Answer(
            question=question,
            answer=checked.text,
            language=lang,
            refused=False,
            citations=checked.citations,
            generator=name,
            timings=timings,
            supported_share=checked.supported_share,
            unsupported=[c.text for c in checked.claims if not c.supported],
            sources=sources,
            standalone_question=standalone if standalone != question else None,
            fallback=fallback,
        )


def make_generator(name: str, settings: Any) -> object | None:
    """The generator called `name` (None for extractive); unknown names are an error."""
    if name == "extractive":
        return None
    if name == "llama-cpp":
        from rag.answer.llm import LlamaCppGenerator, bundled_gguf

        path = settings.llama_model_path or bundled_gguf("smollm2")
        return LlamaCppGenerator(path)
    if name == "openai":
        from rag.answer.llm import OpenAIGenerator

        if not settings.openai_base_url or not settings.openai_model:
            raise ConfigError(
                "the openai generator needs a base URL and a model: set OPENAI_BASE_URL and "
                "JAUAP_OPENAI_MODEL (or OPENAI_MODEL)"
            )
        return OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key,
            timeout=settings.llm_timeout,
        )
    raise ConfigError(f"unknown generator {name!r}: use one of {', '.join(GENERATOR_NAMES)}")
