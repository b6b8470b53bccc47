"""A deterministic stand-in for a language model, reachable as the `fake` generator so the
LLM path (prompting, streaming, citation checks, fallback) runs end to end without a model:
it answers with the first sentence of source [1], cited; asked for JSON (a reader prompt),
it names sentence 1 and gives its first three words as the short answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from rag.i18n.answers import REFUSAL
from rag.protocols import Messages
from rag.text.sentences import split_spans

_FIRST_SENTENCE = re.compile(r"^1\. (.+)$", re.M)
_FIRST_SOURCE = re.compile(r"^\[1\][^\n]*\n(.+?)(?:\n\n\[\d+\]|\n</sources>)", re.S | re.M)


class EchoChatModel:
    """Quotes the first sentence of the first source with [1], word by word; refuses in
    English when the prompt has no sources."""

    name = "fake"
    context_window = 4096

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(self, messages: Messages, schema: dict[str, Any] | None = None) -> Iterator[str]:
        if schema is not None:
            line = _FIRST_SENTENCE.search(messages[-1]["content"])
            words = " ".join(line.group(1).split()[:3]) if line else ""
            yield json.dumps({"sentence": 1 if line else 0, "answer": words}, ensure_ascii=False)
            return
        match = _FIRST_SOURCE.search(messages[-1]["content"])
        if match is None:
            yield REFUSAL["en"]
            return
        text = match.group(1).strip()
        spans = split_spans(text)
        first = text[spans[0][0] : spans[0][1]] if spans else text
        for word in f"{first} [1]".split(" "):
            yield word + " "
