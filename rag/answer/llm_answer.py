"""An LLM as a Generator: numbered sources in, a cited answer out, through any ChatModel.

Grounding for small local models: each source is cut down to its sentences closest to the
question (with their neighbours), which keeps prompts short enough for 2 cores and keeps
the model on the evidence; an answer in the wrong language is asked for once more."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rag.answer.prompts import PromptSource, build_messages, condense_messages, language_retry
from rag.errors import GeneratorError
from rag.i18n.answers import is_refusal
from rag.protocols import ChatModel, History
from rag.records import Hit, Retrieval
from rag.text.lang import detect
from rag.text.markers import parse_markers, strip_markers

# Per source: the best sentences by cosine to the question, each with this many neighbours
# on either side, in document order. Whole chunks (120-250 e5 tokens each, five of them)
# cost a 1.5B model on 2 cores 30-50 s of prompt processing at 25-39 tokens/s.
BEST_SENTENCES = 2
NEIGHBOURS = 1


def focus(hit: Hit, query_vector: np.ndarray | None) -> str:
    """The part of `hit` the model needs: its best sentences and their neighbours."""
    sentences = hit.sentences
    if query_vector is None or len(sentences) <= BEST_SENTENCES * (1 + 2 * NEIGHBOURS):
        return hit.chunk.text
    sims = np.array([float(s.vector @ query_vector) for s in sentences])
    keep: set[int] = set()
    for i in np.argsort(-sims)[:BEST_SENTENCES]:
        keep.update(range(max(0, i - NEIGHBOURS), min(len(sentences), i + NEIGHBOURS + 1)))
    parts: list[str] = []
    last = -2
    for i in sorted(keep):
        if parts and i != last + 1:
            parts.append("…")
        parts.append(hit.sentence_text(sentences[i]))
        last = i
    return " ".join(parts)


def in_language(text: str, lang: str) -> bool:
    """Whether an answer (markers removed) reads as `lang`; short answers (names, numbers)
    give the detector too little to go on and count as matching."""
    body = strip_markers(text).strip()
    return len(body.split()) < 4 or detect(body) == lang


class LLMGenerator:
    """Prompts `model` with the retrieved passages as numbered sources."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.name = model.name

    def standalone(self, question: str, history: History, lang: str) -> str:
        """The model's rewrite of a follow-up; GeneratorError if the rewrite is unusable."""
        if not history:
            return question
        messages = condense_messages(question, list(history), lang)
        rewritten = "".join(self.model.stream(messages)).strip().split("\n")[0].strip()
        if not 3 <= len(rewritten) <= 500:
            raise GeneratorError("the model did not rewrite the follow-up question")
        return rewritten

    def stream(self, retrieval: Retrieval, history: History = ()) -> Iterator[str]:
        """The answer so far, growing. When the whole answer came in another language than
        the question's, the model is asked once more with the language named, and the
        drafts start over. GeneratorError when the final answer cites nothing or is still
        in the wrong language (the assistant then shows the extractive answer)."""
        sources = [
            PromptSource(n, h.doc.title, h.doc.date, h.doc.lang, focus(h, retrieval.query_vector))
            for n, h in enumerate(retrieval.hits, 1)
        ]
        messages = build_messages(
            retrieval.question, retrieval.lang, sources, list(history),
            context_window=self.model.context_window, count_tokens=self.model.count_tokens,
        )
        text = ""
        for piece in self.model.stream(messages):
            text += piece
            yield text
        if not is_refusal(text) and not in_language(text, retrieval.lang):
            first, text = text, ""
            for piece in self.model.stream(language_retry(messages, first, retrieval.lang)):
                text += piece
                yield text
        if is_refusal(text):
            return
        if not parse_markers(text):
            raise GeneratorError("the model's answer cites no source")
        if not in_language(text, retrieval.lang):
            raise GeneratorError(f"the model did not answer in the question's language ({retrieval.lang})")
