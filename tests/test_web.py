"""The chat page without a browser: file names, escaping, [n] links, the /ask API,
uploads with re-indexing, per-session history. Fake embedder: fast and offline."""

from __future__ import annotations

import http.server
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import local_server

gr = pytest.importorskip("gradio")

from rag.settings import Settings  # noqa: E402
from rag.web.app import WebApp, build_app  # noqa: E402
from rag.web.backend import Backend, UploadError, safe_filename  # noqa: E402
from rag.web.render import esc, linkify, render_answer, render_card, render_panel  # noqa: E402

ASK_KEYS = {
    "question", "answer", "language", "refused", "citations", "generator", "timings",
    "supported_share", "unsupported", "sources", "standalone_question", "fallback",
}
CITATION_KEYS = {
    "n", "doc_id", "source", "title", "date", "lang", "chunk_id", "quote", "start", "end",
    "passage", "passage_start",
}
EVIL = "Hostile page <script>alert(1)</script> and <img src=x onerror=alert(2)> quokka zebu."
FESTIVAL = "Zanzibarite quokka festival was held in Aktau in 2024 by Serik Aliev."


def run(gen):
    """Exhaust a respond() generator; return its last yield."""
    last = None
    for last in gen:  # noqa: B007
        pass
    return last


@pytest.fixture()
def web(tmp_path: Path) -> WebApp:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "forum.txt").write_text(
        "Media forum in Almaty\n\nThe second media forum was held in Almaty in September 2025. "
        "The forum was opened by the press secretary of the President.\n",
        encoding="utf-8",
    )
    (docs / "evil.html").write_text(
        f"<html><head><title>Evil &lt;b&gt;doc</title></head><body><p>{EVIL}</p></body></html>",
        encoding="utf-8",
    )
    (docs / "evil.txt").write_text(f"Evil text doc\n\n{EVIL}\n", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", docs=(docs,), embedder="fake", answer_reader="none",
                        cache_dir=tmp_path / "cache")
    backend = Backend(settings, upload_limit_mb=0.01)
    backend.reindex()
    return WebApp(backend, ["extractive", "fake"], reveal_seconds=0.0)


# --- file names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\x.txt", "x.txt"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        (".hidden.md", "hidden.md"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("Жаңа толқын фестивалі.txt", "Жаңа толқын фестивалі.txt"),
        ("Отчёт 2024 «итоги».docx", "Отчёт 2024 «итоги».docx"),
        ("a\x00b<c>:d.txt", "abcd.txt"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


@pytest.mark.parametrize("raw", ["..", "../..", ".", "", "/", "...", "dir/.."])
def test_safe_filename_rejects_empty_names(raw: str) -> None:
    with pytest.raises(UploadError):
        safe_filename(raw)


def test_uploads_cannot_escape_the_upload_folder(web: WebApp, tmp_path: Path) -> None:
    src = tmp_path / "x.txt"
    for i, name in enumerate(("../../escape.txt", "..\\..\\escape.txt", "../index/CURRENT.txt")):
        src.write_text(f"Escape attempt {i} text about ponies.", encoding="utf-8")
        dest = web.backend.save_upload(src, name)
        assert dest.parent.resolve() == web.backend.uploads_dir.resolve()
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(UploadError) as err:
        web.backend.save_upload(src, "../../etc/passwd")  # no extension: refused
    assert err.value.key == "bad_type"


# --- escaping and links -------------------------------------------------------------


def test_linkify() -> None:
    html = linkify("Forum [1] and [2, 3]. Not [x] or [ 4 ].", 7)
    assert '<a class="jauap-cite" href="#src-7-1">[1]</a>' in html
    assert 'href="#src-7-2">[2]</a><a class="jauap-cite" href="#src-7-3">[3]</a>' in html
    assert "[x]" in html and "[ 4 ]" in html


def test_esc_neutralises_markup_and_markdown() -> None:
    out = esc('<script>alert("x")</script> $x$ {{value}} ${1+1} **b** `c`')
    for bad in ("<", ">", '"', "$", "{", "}", "*", "`"):
        assert bad not in out
    assert "&lt;script&gt;" in out


def test_source_card_escapes_document_text() -> None:
    doc_text = f"Title\n\n{EVIL}"
    start = doc_text.index("<script>")
    citation = {
        "n": 1, "doc_id": "d", "source": "/x/<b>evil</b>.txt", "title": "<i>T</i>",
        "date": None, "lang": "en", "chunk_id": "c", "quote": doc_text[start:start + 25],
        "start": start, "end": start + 25, "passage": doc_text, "passage_start": 0,
    }
    html = render_card(1, 0, citation, "en", doc_text)
    assert "<script" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the quote is highlighted
    assert 'id="src-0-1"' in html and "<details>" in html


def test_chat_escapes_hostile_document_end_to_end(web: WebApp) -> None:
    messages, panel, turns, _ = run(
        web.respond("Hostile page script alert and img quokka zebu?", [], ui_lang="en")
    )
    answer = turns[-1]["answer"]
    assert answer is not None
    sources = answer["citations"] or answer["sources"]
    assert any("evil" in s["source"] for s in sources)
    for html in [panel] + [m["content"] for m in messages]:
        assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;" in panel


def test_unsupported_and_refusal_rendering() -> None:
    ans = {"answer": "It rained [1]. Cats fly.", "refused": False, "unsupported": ["Cats fly."],
           "citations": [], "fallback": "openai failed (HTTP 500); showing the extractive answer"}
    html = render_answer(ans, 2, "en")
    assert 'href="#src-2-1"' in html and "jauap-unsupported" in html and "⚠" in html
    assert "Cats fly." in html and "jauap-note" in html
    refusal = {"answer": "The documents don't say.", "refused": True, "citations": [],
               "sources": [{"rank": 1, "doc_id": "d", "source": "/a/b.txt", "title": "B",
                            "date": None, "lang": "en", "text": "<b>close</b>"}]}
    assert "jauap-refusal" in render_answer(refusal, 0, "en")
    panel = render_panel([{"question": "q", "answer": refusal}], "en", {})
    assert 'id="src-0-1"' in panel and "&lt;b&gt;close" in panel and "Closest" in panel


# --- answering ----------------------------------------------------------------------


def test_api_returns_the_ask_json_shape(web: WebApp) -> None:
    record = web.api_ask("The second media forum was held in Almaty in September 2025.")
    assert set(record) >= ASK_KEYS  # the `jauap ask --json` fields (more may come)
    assert not record["refused"] and record["citations"]
    assert set(record["citations"][0]) == CITATION_KEYS
    assert record["citations"][0]["source"] == "forum.txt"  # relative: no server paths
    assert all(not s["source"].startswith("/") for s in record["sources"])
    json.dumps(record, ensure_ascii=False)  # plain JSON
    with pytest.raises(gr.Error):
        web.api_ask("   ")
    with pytest.raises(gr.Error):
        web.api_ask("q", "no-such-generator")


def test_answer_streams_progressively_and_links_cards(web: WebApp) -> None:
    web.reveal_seconds = 0.2
    outputs = list(web.respond("The second media forum was held in Almaty in September 2025.",
                               [], ui_lang="en"))
    assert len(outputs) > 3  # question shown, words revealed, final
    final_messages, panel, turns, _ = outputs[-1]
    bubble = final_messages[-1]["content"]
    assert 'class="jauap-cite" href="#src-0-1">[1]</a>' in bubble
    assert 'id="src-0-1"' in panel and "forum.txt" in panel and "<mark>" in panel
    assert outputs[0][3] == ""  # the question box is cleared


def test_sessions_keep_separate_histories(web: WebApp) -> None:
    state_a: list = []
    state_b: list = []
    _, _, state_a, _ = run(web.respond("When was the media forum held in Almaty?", state_a))
    _, _, state_b, _ = run(web.respond("Who opened it?", state_b))
    _, _, state_a, _ = run(web.respond("And who opened it?", state_a))
    assert [t["question"] for t in state_a] == [
        "When was the media forum held in Almaty?", "And who opened it?"]
    assert [t["question"] for t in state_b] == ["Who opened it?"]
    # session B had no history to lean on; session A's follow-up carried its topic
    assert state_b[0]["answer"]["standalone_question"] is None
    assert "Almaty" in state_a[1]["answer"]["standalone_question"]


def test_the_whole_conversation_goes_to_the_assistant(web: WebApp) -> None:
    """The page passes every earlier turn; trimming is the prompt module's job."""
    turns: list = []
    for i in range(6):
        _, _, turns, _ = run(web.respond(f"Question {i} about the media forum in Almaty?", turns))
    _, _, turns, _ = run(web.respond("And who opened it?", turns))
    assert len(turns) == 7 and all(tr["answer"] for tr in turns)
    assert "Almaty" in turns[-1]["answer"]["standalone_question"]


def test_errors_show_as_messages_not_tracebacks(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", docs=(tmp_path,), embedder="fake", answer_reader="none")
    app = WebApp(Backend(settings))  # never indexed: not ready
    messages, _, turns, _ = run(app.respond("Anything?", [], ui_lang="ru"))
    assert "Индекс ещё строится" in messages[-1]["content"]
    assert "Traceback" not in messages[-1]["content"]
    assert turns[-1]["error"]


def test_generators_not_offered_are_refused(web: WebApp) -> None:
    messages, _, turns, _ = run(web.respond("Forum?", [], generator="openai", ui_lang="en"))
    assert "jauap-error" in messages[-1]["content"] and "not available" in messages[-1]["content"]


# --- documents ----------------------------------------------------------------------


def test_upload_reindexes_and_the_next_question_cites_it(web: WebApp, tmp_path: Path) -> None:
    src = tmp_path / "incoming" / "Жаңа толқын.txt"
    src.parent.mkdir()
    src.write_text(f"Festival news\n\n{FESTIVAL}\n", encoding="utf-8")
    status, cleared, _, table, _ = web.upload([str(src)], "en")
    assert "Жаңа толқын.txt" in status and cleared is None
    assert "Жаңа толқын.txt" in list(table.iloc[:, 1])
    assert (web.backend.uploads_dir / "Жаңа толқын.txt").is_file()
    record = web.api_ask(FESTIVAL)
    assert record["citations"] and record["citations"][0]["source"] == "uploads/Жаңа толқын.txt"
    # the remove list offers it by name: no server paths reach the page
    choices = web.remove_choices("en")
    assert choices == [("Жаңа толқын.txt", "Жаңа толқын.txt")]
    assert str(web.backend.settings.index_dir) not in repr(choices)
    msg, *_ = web.remove("Жаңа толқын.txt", "en")
    assert "Removed" in msg
    assert not any(d["upload"] for d in web.backend.documents())


def test_an_upload_with_a_taken_name_is_renamed_not_overwritten(
    web: WebApp, tmp_path: Path
) -> None:
    first, second = tmp_path / "a" / "notes.txt", tmp_path / "b" / "notes.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text("Notes one\n\nThe zebu parade was in Taraz.\n", encoding="utf-8")
    second.write_text("Notes two\n\nThe quokka parade was in Atyrau.\n", encoding="utf-8")
    web.upload([str(first)], "en")
    status, *_ = web.upload([str(second)], "en")
    assert "saved as notes (2).txt" in status
    up = web.backend.uploads_dir
    assert "zebu" in (up / "notes.txt").read_text(encoding="utf-8")  # not overwritten
    assert "quokka" in (up / "notes (2).txt").read_text(encoding="utf-8")
    status, *_ = web.upload([str(second)], "en")  # the same file again: refused
    assert "already uploaded" in status and not (up / "notes (3).txt").exists()


def test_upload_rejections(web: WebApp, tmp_path: Path) -> None:
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ...")
    status, *_ = web.upload([str(exe)], "en")
    assert "unsupported file type" in status
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n", encoding="utf-8")
    status, *_ = web.upload([str(empty)], "kk")
    assert "оқылмады" in status and not (web.backend.uploads_dir / "empty.txt").exists()
    big = tmp_path / "big.txt"
    big.write_text("word " * 3000, encoding="utf-8")  # over the fixture's 0.01 MB limit
    status, *_ = web.upload([str(big)], "en")
    assert "larger than 0.01 MB" in status
    status, *_ = web.upload(None, "en")
    assert "Choose a file" in status


def test_configured_documents_cannot_be_removed(web: WebApp) -> None:
    configured = next(d for d in web.backend.documents() if not d["upload"])
    for attempt in (configured["source"], configured["file"], "/etc/passwd", "../index/CURRENT"):
        msg, *_ = web.remove(attempt, "en")
        assert "be removed here" in msg
        assert "/" not in msg.replace("</", "")  # names only, no server paths
    assert Path(configured["source"]).is_file()


def test_error_messages_hide_server_paths() -> None:
    from rag.web.backend import hide_paths

    msg = "cannot read /srv/data/secret/report.pdf: no index in /home/u/index (see http://h/v1)"
    assert hide_paths(msg) == "cannot read report.pdf: no index in index (see http://h/v1)"


# --- the app ------------------------------------------------------------------------


def test_importing_the_page_changes_no_environment_variable() -> None:
    import subprocess
    import sys

    code = ("import os; before = dict(os.environ); import rag.web.app, rag.web.server; "
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_build_app_exposes_the_api_and_hides_the_key(tmp_path: Path) -> None:
    secret = "sk-test-NEVER-SHOW-4242"
    settings = Settings(index_dir=tmp_path / "i", docs=(tmp_path,), embedder="fake", answer_reader="none",
                        openai_base_url="http://user:pw@127.0.0.1:9/v1", openai_model="m",
                        openai_api_key=secret)
    demo = build_app(settings, start=False)
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"ask", "status"} <= names
    config = json.dumps(demo.get_config_file(), default=str)
    assert secret not in config and "user:pw" not in config
    assert "http://127.0.0.1:9/v1" in config  # the URL without credentials is shown
    assert "openai" in config


def test_page_inputs_cannot_choose_where_the_server_sends_requests(tmp_path: Path) -> None:
    """Only the question, generator name, k and interface language go from the page to
    the answer handler: no URL or model a visitor could point elsewhere."""
    settings = Settings(index_dir=tmp_path / "i", docs=(tmp_path,), embedder="fake", answer_reader="none",
                        openai_base_url="http://127.0.0.1:9/v1", openai_model="m")
    demo = build_app(settings, start=False)
    answering = [fn for fn in demo.fns.values()
                 if fn.concurrency_id == "answer" and fn.api_name != "ask"]
    assert len(answering) >= 3  # enter, button, examples
    for fn in answering:
        kinds = [type(c).__name__ for c in fn.inputs]
        assert kinds.count("Textbox") <= 1  # the question box only
        assert set(kinds) <= {"Textbox", "State", "Dropdown", "Slider", "Radio"}


# --- an LLM generator behind a local OpenAI-compatible stub ---------------------------


auth_log: list[str | None] = []


@pytest.fixture()
def llm_stub() -> Iterator[str]:
    """Streams "The second media forum was held in Almaty [1]." as server-sent events."""
    pieces = ["The second media forum ", "was held ", "in Almaty in September 2025 [1]."]
    body = "".join(
        f"data: {json.dumps({'choices': [{'delta': {'content': p}}]})}\n\n" for p in pieces
    ) + 'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            auth_log.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in body.split("\n\n"):
                if chunk:
                    self.wfile.write((chunk + "\n\n").encode())
                    self.wfile.flush()

        def log_message(self, *args: object) -> None:
            pass

    with local_server(Handler) as url:
        yield url


def llm_web(tmp_path: Path, url: str, key: str | None = None) -> WebApp:
    """A page whose server is configured with the OpenAI-compatible endpoint `url`."""
    docs = tmp_path / "llm-docs"
    docs.mkdir()
    (docs / "forum.txt").write_text(
        "Media forum in Almaty\n\nThe second media forum was held in Almaty in September 2025.\n",
        encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "llm-index", docs=(docs,), embedder="fake", answer_reader="none",
                        cache_dir=tmp_path / "cache", openai_base_url=url, openai_model="stub",
                        openai_api_key=key, llm_style="writer")
    backend = Backend(settings)
    backend.reindex()
    return WebApp(backend, ["extractive", "openai"], reveal_seconds=0.0)


def test_llm_answer_streams_partials(tmp_path: Path, llm_stub: str) -> None:
    web = llm_web(tmp_path, llm_stub)
    outputs = list(web.respond("When was the media forum held in Almaty?", [],
                               generator="openai", ui_lang="en"))
    partial_bubbles = [o[0][-1]["content"] for o in outputs[1:-1]]
    assert any("▍" in b and "was held" not in b for b in partial_bubbles)  # arrives in pieces
    messages, panel, turns, _ = outputs[-1]
    answer = turns[-1]["answer"]
    assert answer["generator"] == "openai" and answer["citations"] and not answer["fallback"]
    assert 'href="#src-0-1"' in messages[-1]["content"] and 'id="src-0-1"' in panel


def test_llm_backend_down_falls_back_with_a_note(tmp_path: Path) -> None:
    web = llm_web(tmp_path, f"http://127.0.0.1:{_closed_port()}/v1")
    messages, _, turns, _ = run(web.respond(
        "The second media forum was held in Almaty in September 2025.", [],
        generator="openai", ui_lang="en"))
    answer = turns[-1]["answer"]
    # a generic note on the page; the backend's words stay in the log
    assert answer["fallback"] and "could not answer" in answer["fallback"]
    assert "127.0.0.1" not in answer["fallback"] and "Errno" not in answer["fallback"]
    assert "jauap-note" in messages[-1]["content"] and "Traceback" not in messages[-1]["content"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_requests_go_only_to_the_configured_server(tmp_path: Path, llm_stub: str) -> None:
    """The key goes to the configured endpoint; extra values a client sends to the page's
    handler (as the old URL/model boxes did) are not accepted."""
    secret = "sk-test-NEVER-SEND-ELSEWHERE"
    web = llm_web(tmp_path, llm_stub, key=secret)
    auth_log.clear()
    run(web.respond("When was the forum?", [], generator="openai"))
    assert auth_log == [f"Bearer {secret}"]
    other = llm_stub.replace("127.0.0.1", "localhost")
    with pytest.raises(TypeError):
        run(web.respond("When was the forum?", [], "openai", 5, other, "x", "en"))  # type: ignore[call-arg]
    assert auth_log == [f"Bearer {secret}"]  # nothing was sent anywhere

