"""The chat page's backend, its /v1 API and `jauap mcp` over a Milvus Lite store
(JAUAP_STORE=….db): the same answers, citations and top hits as over the FAISS folder,
re-indexing and uploads through the page's backend, another embedder's index reported
with the rebuild command. Fake embedder; Milvus Lite and the server on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")
pytest.importorskip("gradio")
pytest.importorskip("mcp")

from rag.errors import IndexMismatchError  # noqa: E402
from rag.index.embedders import FakeEmbedder  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.web.backend import Backend  # noqa: E402
from tests.servers import (  # noqa: E402
    QUESTIONS,
    UNANSWERABLE,
    indexed_backend,
    running,
    write_corpus,
)

ROOT = Path(__file__).resolve().parent.parent
GLACIER = ("Glacier survey\n\nThe Tuyuksu glacier survey in 2022 measured a retreat of "
           "fourteen metres. The survey was led by Dr Marat Seitov.\n")


def citations(backend: Backend, question: str) -> tuple[str, bool, list[tuple]]:
    """The extractive answer's text, refusal and citations (what the page and /v1 show)."""
    answer = backend.assistant("extractive", 3).ask(question)
    return answer.answer, answer.refused, [
        (c.doc_id, c.chunk_id, c.quote, c.start, c.end, c.source) for c in answer.citations
    ]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Backend, Backend]:
    """One corpus indexed by the page's backend into a FAISS folder and into Milvus Lite."""
    tmp = tmp_path_factory.mktemp("serving")
    docs = write_corpus(tmp / "corpus")
    faiss = indexed_backend(tmp / "faiss", docs=(docs,))
    milvus = indexed_backend(tmp / "milvus", docs=(docs,), store=str(tmp / "milvus" / "idx.db"))
    return faiss, milvus


def test_milvus_answers_as_the_folder_does(pair: tuple[Backend, Backend]) -> None:
    faiss, milvus = pair
    assert milvus.ready and milvus.status.state == "ready" and milvus.status.error == ""
    assert milvus.where.endswith("idx.db (jauap)") and milvus.index_name == "idx"
    assert not (milvus.settings.index_dir / "CURRENT").exists()  # nothing went to the folder
    for lang, question in QUESTIONS.items():
        expected = citations(faiss, question)
        got = citations(milvus, question)
        assert got == expected, lang
        assert not got[1] and "[1]" in got[0] and got[2], lang
        hits = [[h.chunk.chunk_id for h in b.retriever().retrieve(question, k=5).hits]
                for b in pair]
        assert hits[0] == hits[1] and hits[0], lang
    assert citations(milvus, UNANSWERABLE)[1] is True
    assert milvus.documents() == faiss.documents()
    assert (milvus.status.documents, milvus.status.chunks) == (3, faiss.status.chunks)


def test_the_api_serves_the_milvus_index(pair: tuple[Backend, Backend]) -> None:
    faiss, milvus = pair
    with running(milvus) as url:
        with urllib.request.urlopen(url + "/v1/models", timeout=30) as resp:
            assert [m["id"] for m in json.load(resp)["data"]] == ["idx"]
        body = {"model": "idx", "messages": [{"role": "user", "content": QUESTIONS["ru"]}]}
        request = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            message = json.load(resp)["choices"][0]["message"]
    text, refused, cited = citations(faiss, QUESTIONS["ru"])
    assert message["content"].startswith(text.split("[1]")[0]) and "[1]" in message["content"]
    assert message["refused"] is refused is False
    assert [(c["chunk_id"], c["quote"]) for c in message["citations"]] == [
        (c[1], c[2]) for c in cited]
    assert message["citations"][0]["source"] == "forum_ru.txt"  # no server path


def test_reindexing_and_uploads_update_the_milvus_index(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "corpus")
    backend = indexed_backend(tmp_path, docs=(docs,), store=str(tmp_path / "page.db"))
    question = "How far did the Tuyuksu glacier retreat in 2022?"
    assert citations(backend, question)[1] is True  # not indexed yet
    (docs / "glacier_en.txt").write_text(GLACIER, encoding="utf-8")
    report = backend.reindex()
    assert (report.new, report.unchanged, report.documents) == (1, 3, 4)
    text, refused, cited = citations(backend, question)
    assert not refused and "fourteen" in text
    assert any(c[5].endswith("glacier_en.txt") and "fourteen" in c[2] for c in cited)

    upload = tmp_path / "incoming.txt"
    upload.write_text("Steppe eagle count\n\nThe steppe eagle count near Korgalzhyn in 2021 "
                      "found ninety nesting pairs.\n", encoding="utf-8")
    saved = backend.save_upload(upload, "eagles.txt")
    assert saved.parent == tmp_path / "index" / "uploads"  # a local folder, as with FAISS
    backend.reindex()
    text, refused, cited = citations(backend, "How many steppe eagle pairs nested near Korgalzhyn?")
    assert not refused and "ninety" in text
    assert ("uploads/eagles.txt", True) in [
        (backend.display_source(c[5]), "ninety" in c[2]) for c in cited]
    assert [d["file"] for d in backend.documents() if d["upload"]] == ["eagles.txt"]
    backend.remove_upload("eagles.txt")
    assert len(backend.documents()) == 4 and not any(d["upload"] for d in backend.documents())


def test_another_embedders_index_is_reported_with_the_rebuild_message(tmp_path: Path) -> None:
    docs = write_corpus(tmp_path / "corpus")
    db = tmp_path / "other.db"
    settings = Settings(index_dir=tmp_path / "index", docs=(docs,), embedder="fake", answer_reader="none",
                        cache_dir=tmp_path / "cache", store=str(db))
    Backend(settings, embedder=FakeEmbedder(dim=32)).reindex()  # another embedder's index

    mcp_like = Backend(settings)
    with pytest.raises(IndexMismatchError, match=r"fake-32-v1.*jauap index --rebuild") as err:
        mcp_like.load_existing()
    assert f"JAUAP_STORE={db}" in str(err.value) and not mcp_like.ready

    page = Backend(settings)
    with pytest.raises(IndexMismatchError):
        page.reindex()
    assert page.status.state == "error" and "jauap index --rebuild" in page.status.error
    assert str(tmp_path) not in page.status.error  # the page shows no server path
    page.index_on_start()  # what `jauap serve` does: rebuilds with the embedder in use
    assert page.ready and page.status.error == "" and page.status.documents == 3
    assert not citations(page, QUESTIONS["kk"])[1]


def test_jauap_mcp_serves_an_existing_milvus_store(tmp_path: Path) -> None:
    """`jauap index` then `jauap mcp` with JAUAP_STORE, each its own process (Milvus Lite
    admits one process per .db at a time)."""
    from mcp.client.stdio import StdioServerParameters

    from tests.test_mcp import check, exercise, run

    docs = write_corpus(tmp_path / "docs")
    env = {**os.environ, "JAUAP_EMBEDDER": "fake", "JAUAP_ANSWER_READER": "none", "JAUAP_CACHE_DIR": str(tmp_path / "cache"),
           "JAUAP_STORE": str(tmp_path / "mcp.db"), "JAUAP_INDEX_DIR": str(tmp_path / "unused")}
    missing = subprocess.run([sys.executable, "-m", "rag", "mcp"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert missing.returncode == 1 and "no index" in missing.stderr
    assert f"JAUAP_STORE={tmp_path / 'mcp.db'} jauap index" in missing.stderr
    assert "Traceback" not in missing.stderr
    built = subprocess.run([sys.executable, "-m", "rag", "index", str(docs)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    out = run(exercise, StdioServerParameters(command=sys.executable, args=["-m", "rag", "mcp"],
                                              env=env, cwd=str(ROOT)))
    check(out)
    assert str(tmp_path) not in repr(out["documents"]) + repr(out["ask"])
    assert not (tmp_path / "unused").exists()
