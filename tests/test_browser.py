"""The chat page in a real headless Chromium, against `python app.py` with the real
default embedding model: questions in three languages, [n] → source card, upload and
ask, two concurrent sessions, a hostile document, and a few timings.

Run: pytest -q -m browser tests/test_browser.py   (needs /usr/bin/chromium and playwright)
Screenshots and measured numbers go to tests/artifacts/."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
FESTIVAL = "Фестиваль «Жаңа толқын» өтті 2024 жылы Ақтауда, оны Серік Әлиев ұйымдастырды."
HOSTILE = (
    "Quokka mascot report\n\nThe quokka mascot of the Aktau festival is named Bakhyt. "
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> '
    "${7*7} {{value}} **not bold**\n"
)
METRICS: dict[str, object] = {}

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None or not Path(CHROMIUM).exists():
    pytest.skip(
        f"browser tests need playwright (pip install playwright) and {CHROMIUM} "
        "(apt-get install chromium)",
        allow_module_level=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str, float]:
    """Start app.py; return (process, url, seconds until /status says ready)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAUAP_EMBEDDER", "JAUAP_DOCS", "JAUAP_INDEX_DIR", "JAUAP_GENERATOR")}
    env.update(PYTHONUNBUFFERED="1", JAUAP_UI_LANG="kk")
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--index-dir", str(index_dir)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        return proc, url, _wait_ready(proc, url, log_path, started)
    except BaseException:
        proc.kill()  # a server left building its model raced the next tests' build (CI 2026-12-07)
        raise


def _wait_ready(proc: subprocess.Popen, url: str, log_path: Path, started: float) -> float:
    """Seconds from `started` until the page answers and /status says ready."""
    import httpx
    from gradio_client import Client

    deadline = time.time() + 150
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            break
        except OSError:
            time.sleep(0.3)
    client = Client(url, verbose=False)
    while time.time() < deadline:
        try:
            status = client.predict(api_name="/status")
        except httpx.TimeoutException:  # a busy server (building its model on 2 cores): ask again
            continue
        if status["ready"]:
            return time.perf_counter() - started
        assert status["state"] != "error", status
        time.sleep(0.3)
    raise RuntimeError(f"app.py not ready in time:\n{log_path.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    index_dir = tmp_path_factory.mktemp("index")
    proc, url, ready = start_server(index_dir, ARTIFACTS / "server.log")
    METRICS["start_to_ready_s_index_not_built"] = round(ready, 2)
    yield url, index_dir
    stop(proc)
    (ARTIFACTS / "metrics.json").write_text(json.dumps(METRICS, indent=2, ensure_ascii=False))
    print("\nmetrics:", json.dumps(METRICS, indent=2, ensure_ascii=False))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#jauap-question textarea", timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('#jauap-status').innerText.includes('✔')", timeout=60_000
    )
    return page


def ask(page, question: str) -> dict[str, float]:  # noqa: ANN001
    """Type a question, send it, wait for the final answer; return timings."""
    bots_before = page.locator("#jauap-chat [data-testid='bot']").count()
    page.fill("#jauap-question textarea", question)
    started = time.perf_counter()
    page.click("#jauap-send")
    page.wait_for_function(
        """([n]) => { const b = document.querySelectorAll("#jauap-chat [data-testid='bot']");
                      return b.length > n && b[b.length - 1].innerText.trim().length > 3; }""",
        arg=[bots_before], timeout=60_000, polling=20,
    )
    first = time.perf_counter() - started
    page.wait_for_function(
        """([q]) => { const e = document.querySelector('#jauap-sources .jauap-latest .jauap-turn-q');
                      return e && e.innerText.includes(q); }""",
        arg=[question], timeout=60_000, polling=20,
    )
    return {"first_token_s": round(first, 3), "full_answer_s": round(time.perf_counter() - started, 3)}


def last_bot(page):  # noqa: ANN001, ANN201
    return page.locator("#jauap-chat [data-testid='bot']").last


def cited_card_text(page) -> str:  # noqa: ANN001
    """The text of the card that the last answer's first [n] link points to."""
    link = last_bot(page).locator("a.jauap-cite").first
    href = link.get_attribute("href")
    assert href and href.startswith("#src-")
    return page.locator(f"#jauap-sources [id='{href[1:]}']").inner_text()


def test_questions_in_three_languages(server, browser) -> None:  # noqa: ANN001
    url, _ = server
    page = open_page(browser, url)
    page.screenshot(path=str(ARTIFACTS / "00_start_kk.png"))
    cases = [
        ("en", "Who opened the media forum in Almaty?",
         "В Алматы обсудили будущее медиапространства Казахстана и России"),
        ("kk", "Орталық Азия медиафорумы қашан өтті?", "I Орталық Азия медиафорумы"),
        ("ru", "Кто организовал Центральноазиатский медиафорум?", None),
    ]
    timings = {}
    for lang, question, title in cases:
        timings[lang] = ask(page, question)
        bubble = last_bot(page)
        assert bubble.locator("a.jauap-cite").count() >= 1, bubble.inner_html()
        assert "[1]" in bubble.inner_text()
        card = cited_card_text(page)
        if title:
            assert title in card, card
        assert page.locator("#jauap-sources .jauap-latest .jauap-card mark").count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"01_answer_{lang}.png"))
    METRICS["browser_extractive_timings"] = timings
    # the [n] link scrolls to its card and flashes it; the page does not navigate away
    last_bot(page).locator("a.jauap-cite").first.click()
    page.wait_for_selector("#jauap-sources .jauap-card.jauap-flash", timeout=5_000)
    assert len(page.context.pages) == 1 and "#" not in page.url
    # the whole document opens from the card
    page.locator("#jauap-sources .jauap-latest details summary").first.click()
    assert page.locator("#jauap-sources .jauap-latest .jauap-doc").first.is_visible()
    # interface language switch
    page.get_by_text("English", exact=True).click()
    page.wait_for_function("() => document.querySelector('#jauap-send').innerText.includes('Ask')")
    # the tab labels update in their own round trip: wait for them (up to 10 s), then check
    page.wait_for_function(
        "() => [...document.querySelectorAll('[role=tab]')].some(t => t.innerText.includes('Documents'))",
        timeout=10_000,
    )
    # every area is relabelled (from one list of component → update) and the chat is kept
    tabs = page.get_by_role("tab").all_inner_texts()
    assert any("Chat" in x for x in tabs) and any("Documents" in x for x in tabs), tabs
    body = page.locator("body").inner_text()
    for label in ("Settings", "Sources", "New conversation", "Try:"):
        assert label in body, label
    assert page.locator("#jauap-chat [data-testid='bot']").count() >= 3  # kk, ru, en answers
    page.screenshot(path=str(ARTIFACTS / "02_switched_to_en.png"), full_page=True)
    # a question the documents don't answer: a refusal with the closest passages
    ask(page, "Who won the 2018 football World Cup?")
    assert last_bot(page).locator(".jauap-refusal").count() == 1
    assert page.locator("#jauap-sources .jauap-latest .jauap-card").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "03_refusal.png"))
    # an example button asks its question in one click
    example = "Орталық Азия медиафорумы қашан өтті?"
    page.locator(".jauap-example", has_text=example).click()
    page.wait_for_function(
        """([q]) => { const e = document.querySelector('#jauap-sources .jauap-latest .jauap-turn-q');
                      return e && e.innerText.includes(q); }""",
        arg=[example], timeout=60_000,
    )
    assert "I Орталық Азия медиафорумы" in cited_card_text(page)
    page.context.close()


def test_upload_then_ask(server, browser, tmp_path: Path) -> None:  # noqa: ANN001
    url, index_dir = server
    festival = tmp_path / "zhana_tolqyn.txt"
    festival.write_text(f"Жаңа толқын фестивалі\n\n{FESTIVAL}\n", encoding="utf-8")
    hostile = tmp_path / "quokka's \"report\".txt"
    hostile.write_text(HOSTILE, encoding="utf-8")
    page = open_page(browser, url)
    page.get_by_role("tab").nth(1).click()
    page.set_input_files("#jauap-upload input[type=file]", [str(festival), str(hostile)])
    page.wait_for_timeout(500)
    page.click("#jauap-upload-btn")
    page.wait_for_function(
        "() => document.querySelector('#jauap-upload-status').innerText.includes('zhana_tolqyn')",
        timeout=90_000,
    )
    assert (index_dir / "uploads" / "zhana_tolqyn.txt").is_file()
    assert (index_dir / "uploads" / "quokka's report.txt").is_file()  # quotes stripped
    assert "zhana_tolqyn.txt" in page.locator("#jauap-docs").inner_text()
    page.screenshot(path=str(ARTIFACTS / "04_documents_tab.png"), full_page=True)

    page.get_by_role("tab").nth(0).click()
    ask(page, "«Жаңа толқын» фестивалін кім ұйымдастырды?")
    panel = page.locator("#jauap-sources .jauap-latest").inner_text()
    assert "zhana_tolqyn.txt" in panel, panel
    assert "Серік Әлиев" in last_bot(page).inner_text() or "Серік Әлиев" in panel
    page.screenshot(path=str(ARTIFACTS / "05_answer_from_upload.png"))

    # a document with markup: shown as text, never run
    ask(page, "What is the name of the quokka mascot of the Aktau festival?")
    panel = page.locator("#jauap-sources .jauap-latest").inner_text()
    assert "quokka" in panel.lower()
    assert "<script>" in panel and "${7*7}" in panel and "{{value}}" in panel
    assert page.evaluate("() => window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "06_hostile_document_escaped.png"))

    # remove the hostile upload again from the Documents tab
    page.get_by_role("tab").nth(1).click()
    page.click("#jauap-remove-pick input")
    page.locator("[data-testid='dropdown-option']", has_text="quokka's report.txt").first.click()
    page.click("#jauap-remove")
    page.wait_for_function(
        "() => document.querySelector('#jauap-upload-status').innerText.includes('жойылды')",
        timeout=60_000,
    )
    assert "quokka" not in page.locator("#jauap-docs").inner_text()
    assert not (index_dir / "uploads" / "quokka's report.txt").exists()
    page.screenshot(path=str(ARTIFACTS / "09_after_remove.png"))
    page.context.close()


def test_two_sessions_see_only_their_own_chat(server, browser) -> None:  # noqa: ANN001
    url, _ = server
    a, b = open_page(browser, url), open_page(browser, url)
    qa, qb = "Орталық Азия медиафорумы қашан өтті?", "Кто организовал медиафорум в Алматы?"
    a.fill("#jauap-question textarea", qa)
    b.fill("#jauap-question textarea", qb)
    a.click("#jauap-send")
    b.click("#jauap-send")
    for page, q in ((a, qa), (b, qb)):
        page.wait_for_function(
            """([q]) => { const e = document.querySelector('#jauap-sources .jauap-latest .jauap-turn-q');
                          return e && e.innerText.includes(q); }""",
            arg=[q], timeout=60_000,
        )
    chat_a, chat_b = a.locator("#jauap-chat").inner_text(), b.locator("#jauap-chat").inner_text()
    assert qa in chat_a and qb not in chat_a
    assert qb in chat_b and qa not in chat_b
    assert a.locator("#jauap-chat [data-testid='user']").count() == 1
    assert b.locator("#jauap-chat [data-testid='user']").count() == 1
    a.screenshot(path=str(ARTIFACTS / "07_session_a.png"))
    b.screenshot(path=str(ARTIFACTS / "07_session_b.png"))
    a.context.close()
    b.context.close()


def test_api_concurrent_askers(server) -> None:  # noqa: ANN001
    """8 gradio_client askers at once: all answered, latency percentiles recorded."""
    from gradio_client import Client

    url, _ = server
    questions = [
        "Who opened the media forum in Almaty?", "Кто организовал медиафорум в Алматы?",
        "Орталық Азия медиафорумы қашан өтті?", "When was the first media forum held?",
        "Где прошёл первый медиафорум?", "Медиафорумға кімдер қатысты?",
        "What did the forum discuss?", "Who won the 2018 football World Cup?",
    ]
    results: list[tuple[float, dict | Exception]] = [None] * len(questions)  # type: ignore[list-item]

    def worker(i: int) -> None:
        client = Client(url, verbose=False)
        started = time.perf_counter()
        try:
            out = client.predict(questions[i], "extractive", 5, api_name="/ask")
        except Exception as exc:  # noqa: BLE001
            out = exc
        results[i] = (time.perf_counter() - started, out)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(questions))]
    wall = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    wall = time.perf_counter() - wall
    failures = [r for r in results if r is None or isinstance(r[1], Exception)]
    assert not failures, failures
    for (_, out), q in zip(results, questions, strict=True):
        assert out["question"] == q and "citations" in out
    latencies = sorted(r[0] for r in results)
    METRICS["api_8_concurrent"] = {
        "answered": len(results) - len(failures),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3),
        "max_s": round(latencies[-1], 3),
        "wall_s": round(wall, 3),
    }
    # one asker alone, for comparison
    client = Client(url, verbose=False)
    started = time.perf_counter()
    client.predict("Who opened the media forum in Almaty?", "extractive", 5, api_name="/ask")
    METRICS["api_single_ask_s"] = round(time.perf_counter() - started, 3)


def test_restart_with_built_index(server, tmp_path: Path) -> None:  # noqa: ANN001
    """A second server on the already built index is ready quickly and keeps the uploads."""
    _, index_dir = server
    proc, _, ready = start_server(index_dir, ARTIFACTS / "server_restart.log")
    try:
        METRICS["start_to_ready_s_index_built"] = round(ready, 2)
        log = (ARTIFACTS / "server_restart.log").read_text()
        assert "0 new, 0 changed, 0 removed" in log
    finally:
        stop(proc)


def test_api_and_mcp_on_the_same_server_as_the_page(server) -> None:  # noqa: ANN001
    """The OpenAI-compatible API and MCP answer from the page's index (real model)."""
    import asyncio

    openai = pytest.importorskip("openai")
    mcp = pytest.importorskip("mcp")
    url, _ = server
    client = openai.OpenAI(base_url=url + "v1", api_key="unused", max_retries=0, timeout=120)
    model = client.models.list().data[0].id
    started = time.perf_counter()
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Орталық Азия медиафорумы қашан өтті?"}])
    METRICS["v1_single_answer_s"] = round(time.perf_counter() - started, 3)
    message = reply.choices[0].message
    assert "[1]" in message.content and not message.model_extra["refused"]
    assert message.model_extra["citations"][0]["lang"] == "kk"

    async def tools() -> list[str]:
        async with mcp.Client(url + "mcp") as c:
            result = await c.call_tool("search", {"query": "Кто открыл медиафорум в Алматы?"})
            assert result.structured_content["passages"]
            return sorted(t.name for t in (await c.list_tools()).tools)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # playwright's loop runs in this thread
        names = pool.submit(asyncio.run, asyncio.wait_for(tools(), 120)).result()
    assert names == ["ask", "list_documents", "search"]
