"""Generators chosen by name from one table, like embedders (rag.index.embedders).

Each entry builds a Generator from Settings; LLM entries wrap a ChatModel in LLMGenerator."""

from __future__ import annotations

from collections.abc import Callable

from rag.answer.extractive import ExtractiveGenerator
from rag.answer.fake_chat import EchoChatModel
from rag.answer.llm_answer import LLMGenerator
from rag.answer.span_reader import SpanReader
from rag.protocols import Generator
from rag.settings import Settings
from rag.table import choose


def extractive(settings: Settings) -> ExtractiveGenerator:
    """The offline answerer, with the span reader unless `answer_reader` is "none"."""
    reader = SpanReader(settings.models_dir) if settings.answer_reader == "span" else None
    return ExtractiveGenerator(reader=reader)


def _llama_cpp(settings: Settings) -> Generator:
    from rag.answer import llama_cpp

    return LLMGenerator(llama_cpp.from_settings(settings), extractive(settings), style=settings.llm_style)


def _openai(settings: Settings) -> Generator:
    from rag.answer import openai_chat

    return LLMGenerator(openai_chat.from_settings(settings), extractive(settings), style=settings.llm_style)


GENERATORS: dict[str, Callable[[Settings], Generator]] = {
    "extractive": extractive,
    "llama-cpp": _llama_cpp,
    "openai": _openai,
    "fake": lambda settings: LLMGenerator(EchoChatModel(), extractive(settings), style=settings.llm_style),
}
GENERATOR_NAMES = tuple(GENERATORS)


def make_generator(name: str, settings: Settings) -> Generator:
    """The generator called `name`; unknown names are a ConfigError listing the known ones."""
    return choose(GENERATORS, name, "generator")(settings)
