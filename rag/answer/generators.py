"""Generators chosen by name from one table, like embedders (rag.index.embedders).

Each entry builds a Generator from Settings; LLM entries wrap a ChatModel in LLMGenerator."""

from __future__ import annotations

from collections.abc import Callable

from rag.answer.extractive import ExtractiveGenerator
from rag.answer.fake_chat import EchoChatModel
from rag.answer.llm_answer import LLMGenerator
from rag.errors import ConfigError
from rag.protocols import Generator
from rag.settings import Settings
from rag.table import choose


def _llama_cpp(settings: Settings) -> Generator:
    from rag.answer.llm import LlamaCppGenerator, bundled_gguf

    path = settings.llama_model_path or bundled_gguf("smollm2")
    return LLMGenerator(LlamaCppGenerator(path))


def _openai(settings: Settings) -> Generator:
    from rag.answer.llm import OpenAIGenerator

    if not settings.openai_base_url or not settings.openai_model:
        raise ConfigError(
            "the openai generator needs a base URL and a model: set OPENAI_BASE_URL and "
            "JAUAP_OPENAI_MODEL (or OPENAI_MODEL)"
        )
    return LLMGenerator(
        OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key,
            timeout=settings.llm_timeout,
        )
    )


GENERATORS: dict[str, Callable[[Settings], Generator]] = {
    "extractive": lambda settings: ExtractiveGenerator(),
    "llama-cpp": _llama_cpp,
    "openai": _openai,
    "fake": lambda settings: LLMGenerator(EchoChatModel()),
}
GENERATOR_NAMES = tuple(GENERATORS)


def make_generator(name: str, settings: Settings) -> Generator:
    """The generator called `name`; unknown names are a ConfigError listing the known ones."""
    return choose(GENERATORS, name, "generator")(settings)
