"""The in-process llama.cpp ChatModel (xllamacpp) and the openai ChatModel against a real
OpenAI-compatible llama.cpp server on 127.0.0.1. Tests marked `llm` run the tiny
SmolLM2-135M (`jauap models fetch smollm2`, 98 MB) and skip without it or xllamacpp."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.answer import gguf
from rag.answer.llama_cpp import LlamaCppChat
from rag.answer.reader import ANSWER_CHARS, schema
from rag.errors import ConfigError, GeneratorError, MissingDependencyError
from rag.search.hybrid import HybridRetriever
from rag.settings import Settings

SECRET = "sk-local-test-key-7777"
ASK = [
    {"role": "system", "content": "Answer from the sources and cite them as [1]."},
    {"role": "user", "content": "Sources:\n[1] Paris is the capital of France.\n\n"
                                "Question: What is the capital of France?"},
]
LONG = [{"role": "user", "content": "Write the numbers from 1 to 500, separated by commas."}]

needs_xllamacpp = pytest.mark.skipif(
    importlib.util.find_spec("xllamacpp") is None,
    reason="xllamacpp is not installed: pip install 'jauap[llama]'",
)


def test_missing_runtime_says_which_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'jauap\[llama\]'"):
        LlamaCppChat(tmp_path / "x.gguf")


@needs_xllamacpp
def test_missing_model_file_and_bad_limits_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing-here.gguf"):
        LlamaCppChat(tmp_path / "nothing-here.gguf")
    for bad in ({"deadline_s": 0}, {"max_tokens": 0}, {"n_ctx": 16}, {"n_threads": 0}):
        with pytest.raises(ConfigError, match="bad llama-cpp settings"):
            LlamaCppChat(tmp_path / "x.gguf", **bad)


@pytest.fixture(scope="module")
def smollm2() -> Path:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed: pip install 'jauap[llama]'")
    try:
        return gguf.bundled_gguf("smollm2", Settings.from_env().cache_dir)
    except ConfigError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def chat(smollm2: Path) -> LlamaCppChat:
    return LlamaCppChat(smollm2, n_ctx=2048, max_tokens=24, deadline_s=60)


@pytest.mark.llm
def test_streams_smollm2_with_its_tokenizer(chat: LlamaCppChat) -> None:
    assert chat.context_window == 2048
    assert 0 < chat.count_tokens("Paris is the capital of France.") < 20
    assert chat.count_tokens("Париж — столица Франции.") > chat.count_tokens("Paris")
    pieces = list(chat.stream(ASK))
    assert len(pieces) > 1 and "".join(pieces).strip()


@pytest.mark.llm
def test_closing_the_stream_cancels_the_generation(smollm2: Path) -> None:
    long = LlamaCppChat(smollm2, n_ctx=2048, max_tokens=1500, deadline_s=120)
    list(long.stream(ASK))  # loaded and warm
    stream = long.stream(LONG)
    assert len([next(stream) for _ in range(3)]) == 3
    stream.close()
    started = time.monotonic()
    short = list(long.stream(ASK))  # waits for the model lock: free at once if cancelled
    assert short and time.monotonic() - started < 4.0


@pytest.mark.llm
def test_deadline_stops_a_long_generation(smollm2: Path) -> None:
    slow = LlamaCppChat(smollm2, n_ctx=2048, max_tokens=1500, deadline_s=0.8)
    list(slow.stream(ASK))  # load outside the measured part
    started = time.monotonic()
    with pytest.raises(GeneratorError, match="no complete answer within 0.8 s"):
        list(slow.stream(LONG))
    assert time.monotonic() - started < 2.0
    assert list(slow.stream(ASK))  # the model is usable again


@pytest.mark.llm
def test_one_generation_at_a_time(chat: LlamaCppChat) -> None:
    spans: list[tuple[float, float]] = []
    errors: list[Exception] = []

    def ask() -> None:
        try:
            stamps = [time.monotonic() for _ in chat.stream(ASK)]
            spans.append((stamps[0], stamps[-1]))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(spans) == 3
    spans.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))


@pytest.fixture(scope="module")
def llama_server(smollm2: Path) -> Iterator[tuple[str, str]]:
    """llama.cpp's OpenAI-compatible server (xllamacpp's) on a free 127.0.0.1 port with
    an API key: (base_url, model id)."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(smollm2)
    params.n_ctx, params.n_parallel = 2048, 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.hostnames, params.port, params.api_keys = ["127.0.0.1"], 0, [SECRET]
    params.verbosity = -1
    server = xlc.Server(params)
    base = server.listening_address.rstrip("/") + "/v1"
    req = urllib.request.Request(f"{base}/models", headers={"Authorization": f"Bearer {SECRET}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        model_id = json.load(resp)["data"][0]["id"]
    yield base, model_id
    del server


@pytest.mark.llm
def test_openai_streams_from_a_real_llama_cpp_server(llama_server: tuple[str, str]) -> None:
    from rag.answer.openai_chat import OpenAIChat

    base, model_id = llama_server
    gen = OpenAIChat(base, model_id, api_key=SECRET, timeout=30, max_tokens=24, deadline_s=60)
    pieces = list(gen.stream(ASK))
    assert len(pieces) > 1 and "".join(pieces).strip()
    wrong_key = OpenAIChat(base, model_id, api_key="sk-wrong", timeout=30, max_retries=0)
    with pytest.raises(GeneratorError, match="HTTP 401"):
        list(wrong_key.stream(ASK))


@pytest.mark.llm
def test_openai_closing_the_stream_frees_the_real_server(llama_server: tuple[str, str]) -> None:
    from rag.answer.openai_chat import OpenAIChat

    base, model_id = llama_server
    long = OpenAIChat(base, model_id, api_key=SECRET, timeout=30, max_tokens=1500)
    stream = long.stream(LONG)
    assert len([next(stream) for _ in range(3)]) == 3
    stream.close()
    started = time.monotonic()  # one slot: the next answer waits unless the first stopped
    quick = OpenAIChat(base, model_id, api_key=SECRET, timeout=30, max_tokens=8)
    assert list(quick.stream(ASK)) and time.monotonic() - started < 4.0


@pytest.mark.llm
def test_runtime_benchmark_prints_its_figures(smollm2: Path) -> None:
    """eval/bench/llm_runtime.py end to end on the tiny model (plumbing, not speed)."""
    import subprocess

    script = Path(__file__).resolve().parents[1] / "eval" / "bench" / "llm_runtime.py"
    done = subprocess.run(
        [sys.executable, str(script), "xllamacpp", str(smollm2), "--reps", "1", "--chars", "200",
         "--max-tokens", "8"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-800:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["runtime"] == "xllamacpp" and row["prompt_tokens"] > 50
    assert row["ttft_s"] > 0 and row["pieces"] >= 1 and row["after_cancel_first_piece_s"] >= 0


READ = [
    {"role": "system", "content": "Reply in JSON with the number of the sentence that answers and the answer."},
    {"role": "user", "content": "Sentences:\n1. Paris is the capital of France.\n\n"
                                "Question: What is the capital of France?"},
]


def _reading(reply: str) -> dict[str, Any]:
    """The reply as the reader style parses it: one JSON object with both fields."""
    data = json.loads(reply)
    assert set(data) == {"sentence", "answer"} and isinstance(data["sentence"], int)
    assert isinstance(data["answer"], str) and len(data["answer"]) <= ANSWER_CHARS
    return data


@pytest.mark.llm
def test_a_schema_constrains_the_local_models_reply_to_a_reading(smollm2: Path) -> None:

    chat = LlamaCppChat(smollm2, n_ctx=2048, max_tokens=96, deadline_s=60)
    _reading("".join(chat.stream(READ, schema=schema(1))))


@pytest.mark.llm
def test_a_schema_reaches_a_real_openai_compatible_server(llama_server: tuple[str, str]) -> None:
    from rag.answer.openai_chat import OpenAIChat

    base, model_id = llama_server
    gen = OpenAIChat(base, model_id, api_key=SECRET, timeout=30, max_tokens=96, deadline_s=60)
    _reading("".join(gen.stream(READ, schema=schema(1))))


@pytest.mark.llm
@pytest.mark.parametrize("question", ["Кто открыл медиафорум в Алматы?", "Who organised the media forum in Almaty?",
                                      "Орталық Азия медиафорумы қашан өтті?"])
def test_the_reader_style_end_to_end_never_shows_an_unchecked_answer(
    smollm2: Path, fake_sample_retriever: HybridRetriever, question: str
) -> None:
    """A real (tiny) model through the whole reader path: whatever it replies, the answer
    is a refusal, the extractive fallback, or quotes that are verbatim and supported."""
    from rag.answer.assistant import Assistant
    from rag.answer.extractive import ExtractiveGenerator, ExtractiveSettings
    from rag.answer.llm_answer import LLMGenerator

    chat = LlamaCppChat(smollm2, n_ctx=2048, max_tokens=96, deadline_s=60)
    open_selector = ExtractiveGenerator(ExtractiveSettings(refuse_below=0.0))
    assistant = Assistant(fake_sample_retriever, LLMGenerator(chat, open_selector),
                          embedder=fake_sample_retriever.embedder, fallback=open_selector)
    answer = assistant.ask(question)
    assert answer.generator in (chat.name, "extractive")
    if answer.generator == "extractive":
        assert answer.fallback
    if not answer.refused:
        docs = fake_sample_retriever.data.docs
        assert answer.citations and all(docs[c.doc_id].text[c.start : c.end] == c.quote for c in answer.citations)
        assert all(f"«{c.quote}»".replace("\n", " ") in answer.answer for c in answer.citations)
