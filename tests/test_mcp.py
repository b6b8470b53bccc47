"""jauap as an MCP server, driven by the official `mcp` SDK client: over stdio
(`python -m rag mcp --index-dir DIR`, a subprocess) and over streamable HTTP (`/mcp` on
the real server, 127.0.0.1): list the tools, call `search`, `ask` and `list_documents`
in Kazakh, Russian and English. Fake embedder: fast and offline."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from tests.servers import QUESTIONS, UNANSWERABLE, indexed_backend, running  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"kk": "festival_kk.txt", "ru": "forum_ru.txt", "en": "quokka_en.txt"}
TIMEOUT = 60


def run(session: Callable[[Client], Awaitable[Any]], server: Any) -> Any:
    """Open an MCP client on `server`, run `session` with it, bounded in time."""

    async def main() -> Any:
        async with Client(server, read_timeout_seconds=TIMEOUT) as client:
            return await session(client)

    return asyncio.run(asyncio.wait_for(main(), TIMEOUT))


async def exercise(client: Client) -> dict[str, Any]:
    """What a client does: list the tools, then search and ask in three languages."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    out: dict[str, Any] = {"tools": tools, "search": {}, "ask": {}}
    for lang, question in QUESTIONS.items():
        out["search"][lang] = (await client.call_tool("search", {"query": question, "k": 3}))
        out["ask"][lang] = (await client.call_tool("ask", {"question": question}))
    out["refusal"] = await client.call_tool("ask", {"question": UNANSWERABLE})
    earlier = {"question": QUESTIONS["kk"], "answer": "2024 [1]"}
    out["follow_up"] = await client.call_tool(
        "ask", {"question": "Ал қай қалада өтті?", "history": [earlier]})
    out["documents"] = await client.call_tool("list_documents", {})
    out["bad"] = await client.call_tool("search", {"query": "", "k": 3})
    return out


def check(out: dict[str, Any]) -> None:
    tools = out["tools"]
    assert set(tools) == {"search", "ask", "list_documents"}
    for tool in tools.values():
        assert tool.description and tool.output_schema  # typed both ways
        assert tool.annotations is not None and tool.annotations.read_only_hint
    search_schema = tools["search"].input_schema
    assert search_schema["required"] == ["query"]
    assert search_schema["properties"]["k"]["maximum"] == 20
    assert "Kazakh" in search_schema["properties"]["query"]["description"]
    for lang in QUESTIONS:
        passages = out["search"][lang].structured_content["passages"]
        assert passages[0]["source"] == SOURCES[lang], lang
        assert passages[0]["end"] > passages[0]["start"] >= 0
        assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1))
    for lang in QUESTIONS:
        answer = out["ask"][lang].structured_content
        assert not answer["refused"] and "[1]" in answer["answer"], lang
        assert answer["language"] == lang and answer["citations"][0]["source"] == SOURCES[lang]
    assert out["refusal"].structured_content["refused"] is True
    standalone = out["follow_up"].structured_content["standalone_question"]
    assert standalone and "фестивалі" in standalone  # the history was used
    docs = out["documents"].structured_content["documents"]
    assert sorted(d["source"] for d in docs) == sorted(SOURCES.values())
    assert out["bad"].is_error  # an empty query breaks the schema: an error result


def test_mcp_over_stdio(tmp_path: Path) -> None:
    backend = indexed_backend(tmp_path)
    env = {**os.environ, "JAUAP_EMBEDDER": "fake", "JAUAP_ANSWER_READER": "none", "JAUAP_CACHE_DIR": str(tmp_path / "cache")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rag", "mcp", "--index-dir", str(tmp_path / "index")],
        env=env, cwd=str(ROOT),
    )
    out = run(exercise, params)
    check(out)
    # no absolute server paths in what the client got
    assert str(tmp_path) not in repr(out["documents"]) + repr(out["ask"])
    assert backend.ready


def test_mcp_stdio_without_an_index_says_so(tmp_path: Path) -> None:
    import subprocess

    env = {**os.environ, "JAUAP_EMBEDDER": "fake", "JAUAP_ANSWER_READER": "none", "JAUAP_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "rag", "mcp", "--index-dir", str(tmp_path / "none")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1 and "no index" in proc.stderr and "Traceback" not in proc.stderr


def test_mcp_over_http_on_the_same_server(tmp_path: Path) -> None:
    backend = indexed_backend(tmp_path)
    with running(backend) as url:
        check(run(exercise, url + "/mcp"))


def test_mcp_over_http_needs_the_key_when_set(tmp_path: Path) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    key = "mcp-test-key-42424242"
    backend = indexed_backend(tmp_path, api_key=key)

    async def tools(client: Client) -> list[str]:
        return [t.name for t in (await client.list_tools()).tools]

    with running(backend) as url:
        headers = {"Authorization": f"Bearer {key}"}
        http = httpx2.AsyncClient(headers=headers, timeout=TIMEOUT)
        transport = streamable_http_client(url + "/mcp", http_client=http)
        assert sorted(run(tools, transport)) == ["ask", "list_documents", "search"]
        with pytest.raises(BaseException) as err:  # noqa: B017 - the SDK wraps the 401
            run(tools, url + "/mcp")
        assert "error response" in repr(err.value)
