"""An LLM as a Generator: numbered sources in, a cited answer out, through any ChatModel.

Grounding for small local models: the model sees only the sentences the extractive scorer
ranks highest (with their neighbours), which keeps prompts short enough for 2 cores and the
model on the evidence; the scorer's refusal decision holds for the LLM too; an answer in the
wrong language is asked for once more. Two styles: `reader` (rag.answer.reader: the model
picks the answering sentence and names the short answer; jauap quotes it) and `writer` (the
model writes the cited answer itself, for models that can)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rag.answer.extractive import ExtractiveGenerator, Pick, quote_of
from rag.answer.prompts import PromptSource, build_messages, condense_messages, language_retry
from rag.answer.reader import (
    LANGUAGE_NAMES,
    READER_SENTENCES,
    SCHEMA,
    compose_reading,
    in_language,
    parse_reading,
    reader_messages,
    short_answer,
)
from rag.errors import ConfigError, GeneratorError
from rag.i18n.answers import is_refusal, refusal_text
from rag.protocols import ChatModel, History
from rag.records import Retrieval
from rag.settings import LLM_STYLES
from rag.text.markers import parse_markers

# The evidence an LLM sees: the sentences the extractive scorer ranks highest, each with
# its neighbours, grouped by source in document order. Whole chunks (5 x 120-250 e5 tokens)
# made a ~1,700-token prompt: 47-51 s to the first token for Qwen2.5 1.5B on 2 loaded cores
# (eval/README.md, Local LLM); the cosine-best sentence alone often missed the answer.
EVIDENCE_SENTENCES = 4
NEIGHBOURS = 1


def evidence(retrieval: Retrieval, picks: Sequence[Pick]) -> list[PromptSource]:
    """Numbered sources holding only the top picks' sentences and their neighbours; hits
    with no top pick are left out (their numbers simply don't appear)."""
    keep: dict[int, set[int]] = {}
    for pick in picks[:EVIDENCE_SENTENCES]:
        hit = retrieval.hits[pick.n - 1]
        i = next(j for j, s in enumerate(hit.sentences) if s.span == pick.span)
        lo, hi = max(0, i - NEIGHBOURS), min(len(hit.sentences), i + NEIGHBOURS + 1)
        keep.setdefault(pick.n, set()).update(range(lo, hi))
    sources = []
    for n in sorted(keep):
        hit = retrieval.hits[n - 1]
        parts: list[str] = []
        last = -2
        for i in sorted(keep[n]):
            if parts and i != last + 1:
                parts.append("…")
            parts.append(hit.sentence_text(hit.sentences[i]))
            last = i
        sources.append(PromptSource(n, hit.doc.title, hit.doc.date, hit.doc.lang, " ".join(parts)))
    return sources


class LLMGenerator:
    """Prompts `model` with the evidence the extractive scorer picks from the retrieved
    passages; when the scorer finds nothing that answers, refuses without asking the model
    (the calibrated answerability decision holds for both generators)."""

    def __init__(
        self, model: ChatModel, selector: ExtractiveGenerator | None = None, style: str = "reader"
    ) -> None:
        if style not in LLM_STYLES:
            raise ConfigError(f"unknown LLM answer style {style!r}; known: {', '.join(LLM_STYLES)}")
        self.model = model
        self.name = model.name
        self.selector = selector or ExtractiveGenerator()
        self.style = style

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
        picks = self.selector.rank(retrieval)
        if is_refusal(self.selector.answer(retrieval, picks)):
            yield refusal_text(retrieval.lang)
            return
        if self.style == "reader":
            yield self._read(retrieval, picks[:READER_SENTENCES])
            return
        sources = evidence(retrieval, picks)
        messages = build_messages(
            retrieval.question, retrieval.lang, sources, list(history),
            context_window=self.model.context_window, count_tokens=self.model.count_tokens,
            refusal_rule=False,  # the scorer judged the question answerable already
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

    def _read(self, retrieval: Retrieval, picks: Sequence[Pick]) -> str:
        """The reader style's whole answer. A short answer in another language than the
        question's is asked for once more; a short answer that is still wrong, or not
        grounded in the sentence, is replaced by the extractive rule's (or left out).
        GeneratorError when the model finds no answering sentence (the scorer found one,
        so the assistant shows the extractive answer) or replies with no reading."""
        lang = retrieval.lang
        messages = reader_messages(retrieval.question, lang, retrieval.hits, picks)
        reply = "".join(self.model.stream(messages, schema=SCHEMA))
        reading = parse_reading(reply, retrieval.hits, picks)
        pick, answer = reading.pick, reading.answer
        if pick is None:
            raise GeneratorError("the model found no sentence that answers")
        if answer and not in_language(answer, lang):
            retry = [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": (
                f"Write the answer in {LANGUAGE_NAMES.get(lang, 'English')}.")}]
            again = parse_reading("".join(self.model.stream(retry, schema=SCHEMA)), retrieval.hits, picks)
            if again.pick is not None:
                pick, answer = again.pick, again.answer
        sentence = quote_of(retrieval.hits, pick)
        short = short_answer(retrieval.question, lang, sentence, retrieval.hits[pick.n - 1].doc.lang, answer)
        return compose_reading(lang, retrieval.hits, pick, short)
