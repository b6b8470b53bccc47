"""The OpenAI-compatible API (`/v1`) as a client sees it: the official `openai` package
against the real server (uvicorn on 127.0.0.1, fake embedder, extractive and fake
generators): plain and streamed answers with checked citations, a Kazakh question, a
follow-up, a refusal, bad requests as OpenAI-style errors, the API key on and off."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("mcp")

from rag.errors import ConfigError  # noqa: E402
from rag.settings import Settings  # noqa: E402
from tests.servers import QUESTIONS, UNANSWERABLE, indexed_backend, running  # noqa: E402

KEY = "test-key-0123456789"
CITATION_FIELDS = {"n", "title", "source", "date", "lang", "quote", "start", "end", "doc_id",
                   "chunk_id"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("api")
    backend = indexed_backend(tmp)
    with running(backend) as url:
        yield url, tmp / "docs"


@pytest.fixture(scope="module")
def client(server: tuple[str, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0, timeout=30)


def ask(client: openai.OpenAI, *messages: dict, **extra: object) -> object:
    return client.chat.completions.create(model="index", messages=list(messages), **extra)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_models_lists_the_index(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["index"]


def test_kazakh_question_gets_a_cited_answer(client: openai.OpenAI, server: tuple) -> None:
    reply = ask(client, user(QUESTIONS["kk"]))
    message = reply.choices[0].message
    assert "[1]" in message.content and "2024" in message.content
    extra = message.model_extra
    assert extra["refused"] is False
    citation = extra["citations"][0]
    assert set(citation) == CITATION_FIELDS
    assert citation["source"] == "festival_kk.txt" and citation["lang"] == "kk"
    text = (server[1] / "festival_kk.txt").read_text(encoding="utf-8")
    assert text[citation["start"] : citation["end"]] == citation["quote"]  # offsets hold
    assert reply.choices[0].finish_reason == "stop" and reply.model == "index"


def test_streaming_adds_up_to_the_same_answer_with_citations_on_the_last_chunk(
    client: openai.OpenAI,
) -> None:
    plain = ask(client, user(QUESTIONS["ru"])).choices[0].message
    chunks = list(ask(client, user(QUESTIONS["ru"]), stream=True))
    assert len(chunks) > 3  # role, content in pieces, final
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == plain.content and "[1]" in content
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop"
    assert last.delta.model_extra["citations"] == plain.model_extra["citations"]
    assert last.delta.model_extra["citations"][0]["source"] == "forum_ru.txt"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_follow_up_uses_the_conversation(client: openai.OpenAI) -> None:
    first = ask(client, user(QUESTIONS["kk"])).choices[0].message
    follow = ask(
        client,
        {"role": "system", "content": "You are helpful."},  # ignored: documents only
        user(QUESTIONS["kk"]),
        {"role": "assistant", "content": first.content},
        user("Ал қай қалада өтті?"),
    ).choices[0].message
    standalone = follow.model_extra["standalone_question"]
    assert standalone and standalone.startswith("Ал қай қалада өтті?")
    assert "фестивалі" in standalone  # the earlier question's topic was carried over


def test_refusal_is_a_normal_message_with_a_flag(client: openai.OpenAI) -> None:
    reply = ask(client, user(UNANSWERABLE))
    message = reply.choices[0].message
    assert message.model_extra["refused"] is True and message.model_extra["citations"] == []
    assert message.content.startswith("The documents don't say")
    assert reply.choices[0].finish_reason == "stop" and message.refusal is None


def test_max_tokens_cuts_the_answer(client: openai.OpenAI) -> None:
    reply = ask(client, user(QUESTIONS["kk"]), max_tokens=3)
    assert len(reply.choices[0].message.content.split()) == 3
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("kwargs", "status", "param"),
    [
        ({"model": "gpt-4", "messages": [user("hi")]}, 404, "model"),
        ({"model": "index", "messages": []}, 400, "messages"),
        ({"model": "index", "messages": [user("hi")] * 65}, 400, "messages"),
        ({"model": "index", "messages": [user("x" * 8_001)]}, 400, "messages.0.content"),
        ({"model": "index", "messages": [{"role": "assistant", "content": "hi"}]}, 400,
         "messages"),
        ({"model": "index", "messages": [user("hi")], "max_tokens": 100_000}, 400, "max_tokens"),
        ({"model": "index", "messages": [user("hi")], "extra_body": {"k": 500}}, 400, "k"),
        ({"model": "index", "messages": [{"role": "robot", "content": "hi"}]}, 400,
         "messages.0.role"),
    ],
)
def test_bad_requests_get_openai_style_errors(
    client: openai.OpenAI, kwargs: dict, status: int, param: str
) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(**kwargs)
    assert err.value.status_code == status
    body = err.value.body
    assert body["param"] == param and body["message"] and body["type"]
    assert "Traceback" not in json.dumps(body)


def test_a_body_that_is_not_json_gets_an_error_not_a_traceback(server: tuple) -> None:
    request = urllib.request.Request(server[0] + "/v1/chat/completions", data=b"{not json",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(err.value.read())
    assert err.value.code == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "invalid_json" and body["error"]["param"] is None


def test_api_key_required_when_set(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    backend = indexed_backend(tmp_path, api_key=KEY)
    with running(backend) as url:
        good = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=30)
        bad = openai.OpenAI(base_url=url + "/v1", api_key="wrong-key-123", max_retries=0)
        assert "[1]" in ask(good, user(QUESTIONS["ru"])).choices[0].message.content
        with pytest.raises(openai.AuthenticationError) as err:
            ask(bad, user(QUESTIONS["ru"]))
        assert KEY not in json.dumps(err.value.body) and "wrong-key" not in str(err.value)
        for path in ("/v1/models", "/mcp"):  # no header at all
            with pytest.raises(urllib.error.HTTPError) as no_header:
                urllib.request.urlopen(url + path, timeout=10)
            assert no_header.value.code == 401
        page = urllib.request.urlopen(url + "/", timeout=10).read().decode()
        assert KEY not in page  # the page stays open and never shows the key
    out, err_text = capfd.readouterr()
    assert KEY not in out + err_text  # not in the server's log either


def test_api_key_is_validated() -> None:
    with pytest.raises(ConfigError) as err:
        Settings(api_key="short")
    assert "short" not in str(err.value)
    with pytest.raises(ConfigError):
        Settings(api_key="has a space in it")
    assert KEY not in repr(Settings(api_key=KEY))
    assert Settings.from_env({"JAUAP_API_KEY": KEY}).api_key == KEY


def test_fake_llm_generator_streams_through_the_api(tmp_path: Path) -> None:
    """The LLM path (prompt, stream, citation check) behind the API, with the fake model."""
    backend = indexed_backend(tmp_path, generator="fake")
    with running(backend) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        chunks = list(ask(client, user(QUESTIONS["en"]), stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    extra = chunks[-1].choices[0].delta.model_extra
    assert "[1]" in content and extra["citations"] and extra["refused"] is False


def test_concurrent_api_clients_while_the_page_is_used(tmp_path: Path) -> None:
    """eval/bench/api_concurrency.py at CI size: 8 clients, the page in use, --gate on
    unanswered/crossed/errors = 0 (p50/p95 are printed for people, not asserted)."""
    import subprocess
    import sys

    out = tmp_path / "bench.json"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "eval/bench/api_concurrency.py", "--clients", "8", "--rounds", "2",
         "--page-users", "1", "--json", str(out), "--gate"],
        cwd=root, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))["overall"]
    assert figures["asked"] == figures["answered"] == 16
    assert figures["crossed"] == 0 and figures["errors"] == 0 and figures["page_answered"] >= 1
    assert "p95" in proc.stdout


def test_a_huge_body_is_refused_before_parsing(server: tuple) -> None:
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(server[0])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest("POST", "/v1/chat/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "50000000")  # announced; the server answers at once
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "request_too_large"
    conn.close()


def test_an_index_still_building_answers_503(tmp_path: Path) -> None:
    from rag.web.backend import Backend

    backend = Backend(Settings(index_dir=tmp_path / "index", docs=(tmp_path,), embedder="fake", answer_reader="none",
                               cache_dir=tmp_path / "cache"))  # never indexed
    with running(backend) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            ask(client, user(QUESTIONS["ru"]))
    assert err.value.status_code == 503 and err.value.body["code"] == "index_not_ready"


def test_a_full_server_answers_busy_instead_of_hanging(tmp_path: Path) -> None:
    backend = indexed_backend(tmp_path, {"concurrency": 1, "slot_wait_s": 0.2})
    with running(backend) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        with backend.answer_slot(), pytest.raises(openai.APIStatusError) as err:  # slot taken
            ask(client, user(QUESTIONS["ru"]))
        assert err.value.status_code == 503 and err.value.body["code"] == "server_busy"
        assert "[1]" in ask(client, user(QUESTIONS["ru"])).choices[0].message.content  # free again
