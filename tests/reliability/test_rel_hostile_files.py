"""Hostile files (issue 11, sections 3 and 6): zip bombs, binary content named .txt,
oversized files and text, NUL bytes, links out of the folder, and .docx files without
core properties. Each refused file is named with its reason; the good files are indexed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.index import store
from rag.index.embedders import FakeEmbedder
from rag.index.indexer import index_paths
from rag.ingest.chunking import ChunkSettings
from rag.ingest.documents import discover, load_document
from rag.ingest.readers import IngestLimits
from tests.reliability.ingest_helpers import (
    GOOD_KK,
    cli_env,  # noqa: F401 - a fixture
    docx_bomb,
    invoke,
    minimal_docx,
    random_bytes,
    write,
)

SMALL = ChunkSettings(max_tokens=60, min_tokens=20, overlap_tokens=15)


def _skipped_for(skipped: list[str], path: Path) -> str:
    lines = [line for line in skipped if line.startswith(f"{path}:")]
    assert len(lines) == 1, skipped
    return lines[0]


# --- zip bombs and size caps ---------------------------------------------------------


def test_docx_bomb_like_the_issue_is_refused_before_inflating(tmp_path: Path) -> None:
    # issue 11: a 677 KB .docx whose word/document.xml expands to 200 MB took 132 s, 2.1 GB
    bomb = docx_bomb(tmp_path / "bomb.docx", unpacked_mb=200)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(InputError, match=r"unpacks to 200 MB, over the limit of 32 MB") as info:
        load_document(bomb)
    assert str(bomb) in str(info.value)


def test_docx_over_the_total_unpacked_limit_is_refused(tmp_path: Path) -> None:
    bomb = docx_bomb(tmp_path / "parts.docx", unpacked_mb=3)
    limits = IngestLimits(max_docx_xml_bytes=10 * 1024 * 1024, max_docx_total_bytes=2 * 1024 * 1024)
    with pytest.raises(InputError, match=r"unpacks to 3 MB, over the limit of 2 MB"):
        load_document(bomb, limits)


def test_docx_under_the_limits_is_read(tmp_path: Path) -> None:
    doc = load_document(docx_bomb(tmp_path / "fine.docx", unpacked_mb=1))
    assert doc.text.startswith("бомба")


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", GOOD_KK * 20)
    with pytest.raises(InputError, match=r"big\.txt: file is 0 MB, over the limit"):
        load_document(path, IngestLimits(max_file_bytes=1000))


def test_text_over_the_character_limit_is_refused(tmp_path: Path) -> None:
    limits = IngestLimits(max_text_chars=1000)
    text = write(tmp_path / "long.txt", GOOD_KK * 8)  # 1,248 chars in 2.3 KB
    with pytest.raises(InputError, match=r"too much text \([\d,]+ characters, over the limit of 1,000\)"):
        load_document(text, limits)
    # so large on disk that it is refused without being read
    huge = write(tmp_path / "huge.md", "a" * 5000)
    with pytest.raises(InputError, match=r"too much text \(over the limit of 1,000 characters\)"):
        load_document(huge, limits)
    docx = minimal_docx(tmp_path / "long.docx", [GOOD_KK] * 20)
    with pytest.raises(InputError, match="too much text"):
        load_document(docx, limits)


# --- binary content and NUL bytes ----------------------------------------------------


@pytest.mark.parametrize("name", ["junk.txt", "junk.md", "junk.html"])
def test_random_bytes_named_as_text_are_refused(tmp_path: Path, name: str) -> None:
    # issue 11: 200 kB of binary named .txt became 920 "Kazakh" chunks in 376 s
    path = write(tmp_path / name, random_bytes(200_000))
    with pytest.raises(InputError, match=r"binary content, not text \(\d+% control"):
        load_document(path)


def test_binary_formats_renamed_to_txt_are_refused(tmp_path: Path) -> None:
    docx = minimal_docx(tmp_path / "a.docx", [GOOD_KK] * 50)
    renamed = write(tmp_path / "a.txt", docx.read_bytes())
    with pytest.raises(InputError, match="binary content"):
        load_document(renamed)
    sqlite_like = write(tmp_path / "db.txt", b"SQLite format 3\x00" + b"\x00\x01\x02" * 3000)
    with pytest.raises(InputError, match="binary content"):
        load_document(sqlite_like)


def test_nul_bytes_are_stripped_from_accepted_text(tmp_path: Path) -> None:
    raw = GOOD_KK.replace("Алматыда", "Алма\x00тыда").replace("өтті.", "өтті.\x00\x07")
    doc = load_document(write(tmp_path / "nul.txt", raw))
    assert "\x00" not in doc.text and "\x07" not in doc.text
    assert doc.text.startswith("Алматыда Орталық Азия медиафорумы өтті.")
    assert "\x00" not in doc.title


def test_text_in_utf16_and_cp1251_is_not_mistaken_for_binary(tmp_path: Path) -> None:
    for name, data in [
        ("u16.txt", GOOD_KK.encode("utf-16")),
        ("u16le.txt", GOOD_KK.encode("utf-16-le")),
        ("ru1251.txt", "Форум открыли в Алматы. Участники обсудили медиа.".encode("cp1251")),
    ]:
        doc = load_document(write(tmp_path / name, data))
        assert "\ufffd" not in doc.text and doc.text[:5] in (GOOD_KK[:5], "Форум")


# --- links and titles ----------------------------------------------------------------


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "secret.txt", "Құпия сөз: qwerty123. Бұл файл сыртта.")
    docs = tmp_path / "docs"
    write(docs / "good.txt", GOOD_KK)
    os.symlink(secret, docs / "passwd_link.txt")
    os.symlink(secret.parent, docs / "linked_dir")
    os.symlink(docs / "good.txt", docs / "inside_link.txt")  # inside the folder: fine
    skipped: list[str] = []
    found = [p.name for p in discover([docs], skipped)]
    assert found == ["good.txt", "inside_link.txt"]
    assert _skipped_for(skipped, docs / "passwd_link.txt").endswith(
        "a link to outside the indexed folder, not followed"
    )
    assert _skipped_for(skipped, docs / "linked_dir")
    report = index_paths([docs], tmp_path / "index", FakeEmbedder(), SMALL)
    texts = " ".join(d.text for d in store.load(tmp_path / "index").docs.values())
    assert "qwerty123" not in texts
    assert report.documents == 2


def test_docx_without_core_properties_is_titled_by_its_first_paragraph(tmp_path: Path) -> None:
    path = minimal_docx(tmp_path / "report.docx", ["Жылдық есеп 2024", GOOD_KK])
    doc = load_document(path)
    assert doc.title == "Жылдық есеп 2024"
    assert doc.title != "Word Document"


def test_titles_are_one_line(tmp_path: Path) -> None:
    html = "<html><head><title>Бірінші\nжол\r\nекінші</title></head><body><p>Мәтін бар.</p></body></html>"
    doc = load_document(write(tmp_path / "page.html", html))
    assert doc.title == "Бірінші жол екінші"


# --- a whole run: bad files named, good files indexed --------------------------------


def _hostile_folder(root: Path) -> dict[str, Path]:
    outside = write(root / "outside.txt", "Сыртқы құпия файл. Оны индекстеуге болмайды.")
    docs = root / "docs"
    files = {
        "good": write(docs / "good.txt", GOOD_KK),
        "nul": write(docs / "nul.txt", "Қала\x00 әкімі сөз сөйледі. Жиынға көп адам келді."),
        "bomb": docx_bomb(docs / "bomb.docx", unpacked_mb=40),
        "binary": write(docs / "binary.txt", random_bytes(200_000)),
        "broken": write(docs / "broken.pdf", b"%PDF-1.4\n" + b"garbage" * 50),
        "link": docs / "passwd_link.txt",
    }
    os.symlink(outside, files["link"])
    return files


def test_index_run_names_each_refused_file_and_indexes_the_rest(tmp_path: Path) -> None:
    files = _hostile_folder(tmp_path)
    report = index_paths([tmp_path / "docs"], tmp_path / "index", FakeEmbedder(), SMALL)
    assert report.documents == 2 and report.new == 2
    assert "over the limit of 32 MB" in _skipped_for(report.skipped, files["bomb"])
    assert "binary content" in _skipped_for(report.skipped, files["binary"])
    assert "cannot read" in _skipped_for(report.skipped, files["broken"])
    assert "outside the indexed folder" in _skipped_for(report.skipped, files["link"])
    data = store.load(tmp_path / "index")
    assert {Path(d.source).name for d in data.docs.values()} == {"good.txt", "nul.txt"}
    assert all("\x00" not in c.text for c in data.chunks)


def test_cli_index_reports_refused_files_and_search_prints_no_nul(
    tmp_path: Path, cli_env: dict[str, str]  # noqa: F811 - the fixture
) -> None:
    files = _hostile_folder(tmp_path)
    index_dir = str(tmp_path / "index")
    result = invoke(cli_env, "index", str(tmp_path / "docs"), "--index-dir", index_dir)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for key in ("bomb", "binary", "broken", "link"):
        assert f"skipped: {files[key]}:" in result.output
    assert "2 documents" in result.output
    found = invoke(cli_env, "search", "қала әкімі", "--index-dir", index_dir)
    assert found.exit_code == 0, found.output
    assert "Қала әкімі" in found.output and "\x00" not in found.output
