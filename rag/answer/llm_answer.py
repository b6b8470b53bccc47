"""An LLM as a Generator: numbered sources in, a cited answer out, through any ChatModel.

Grounding for small local models: the model sees only the sentences the extractive scorer
ranks highest (with their neighbours), which keeps prompts short enough for 2 cores and the
model on the evidence; the scorer's refusal decision holds for the LLM too; an answer in the
wrong language is asked for once more. Two styles: `reader` (rag.answer.reader: the model
names the short answer in the sentences the extractive answer quotes; jauap keeps those
quotes) and `writer` (the model writes the cited answer itself, for models that can)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rag.answer.extractive import ExtractiveGenerator, Pick, quote_of
from rag.answer.prompts import PromptSource, build_messages, condense_messages, language_retry
from rag.answer.reader import (
    NO_CHOICE,
    compose_reading,
    copied,
    in_language,
    parse_reading,
    reader_messages,
    reader_retry,
    schema,
    speaks,
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
        """The answer so far, growing (the reader style: the quotes, then the quotes under the
        model's short answer). When the whole answer came in another language than
        the question's, the model is asked once more with the language named, and the
        drafts start over. GeneratorError when the final answer cites nothing or is still
        in the wrong language (the assistant then shows the extractive answer)."""
        picks = self.selector.rank(retrieval)
        chosen = self.selector.chosen(retrieval, picks)
        if not chosen:
            yield refusal_text(retrieval.lang)
            return
        if self.style == "reader":
            # Evidence first: the verified quotes (the extractive answer) show at once, and the
            # model's short answer goes on top of them when it comes. Qwen2.5 1.5B on 2 cores
            # takes 2-9 s (p50-p95 over the bench groups) to read them (eval/README.md, Local
            # LLM, 2026-12-08): a blank answer until then.
            yield compose_reading(retrieval.question, retrieval.lang, retrieval.hits, chosen, NO_CHOICE)
            yield self._read(retrieval, chosen)
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

    def _read(self, retrieval: Retrieval, chosen: Sequence[Pick]) -> str:
        """The reader style's whole answer: the model reads the sentences the extractive
        answer quotes and names the short answer; a short answer in another language than
        the question's is asked for once more; one still wrong, or not grounded in its
        sentence, gives way to the extractive rule's (or none), as when the model finds no
        answer there. GeneratorError when it replies with no reading."""
        lang, hits = retrieval.lang, retrieval.hits
        messages, shape = reader_messages(retrieval.question, lang, hits, chosen), schema(len(chosen))
        reply = "".join(self.model.stream(messages, schema=shape))
        reading = parse_reading(reply, chosen)
        # The model finding no answer in the chosen sentences (pick None) is not a refusal:
        # on dev ru it refused 6 of 200 answerable questions to catch 3 of 200 unanswerable
        # ones (false refusals .125 -> .155, refusals .895 -> .910), and changed nothing in
        # kk, en, en->kk (eval/README.md, Local LLM). The extractive quotes stand alone.
        pick, answer = reading.pick, reading.answer
        if pick and answer and not copied(answer, quote_of(hits, pick)) and not speaks(answer, lang):
            retry = reader_retry(messages, reply, lang)
            again = parse_reading("".join(self.model.stream(retry, schema=shape)), chosen)
            if again.pick is not None:
                reading = again
        return compose_reading(retrieval.question, lang, hits, chosen, reading)
