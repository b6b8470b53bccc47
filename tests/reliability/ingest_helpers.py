"""Shared pieces of the ingest/index reliability tests: a CLI runner with the fake
embedder and hostile files built on the spot (no fixtures on disk)."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

GOOD_KK = (
    "Алматыда Орталық Азия медиафорумы өтті. Форумға журналистер мен блогерлер қатысты.\n\n"
    "Қатысушылар жасанды интеллект пен медиа сауаттылық туралы пікір алмасты."
)

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_DOC_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
)
_DOC_TAIL = "</w:body></w:document>"


def _paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def minimal_docx(path: Path, paragraphs: list[str]) -> Path:
    """A valid .docx with no core properties part (docProps/core.xml)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("word/document.xml", _DOC_HEAD + "".join(map(_paragraph, paragraphs)) + _DOC_TAIL)
    return path


def docx_bomb(path: Path, unpacked_mb: int) -> Path:
    """A small .docx whose word/document.xml inflates to `unpacked_mb` MB (written in
    blocks, so building it costs no memory)."""
    block = _paragraph("бомба " * 160) * 100  # ~100 KB of XML that compresses ~1000:1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        with zf.open("word/document.xml", "w", force_zip64=True) as out:
            out.write(_DOC_HEAD.encode())
            written = 0
            data = block.encode()
            while written < unpacked_mb * 1024 * 1024:
                out.write(data)
                written += len(data)
            out.write(_DOC_TAIL.encode())
    return path


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


@pytest.fixture
def cli_env(clean_env: dict[str, str]) -> dict[str, str]:
    """Only JAUAP_EMBEDDER=fake and a private cache (conftest's clean_env)."""
    return clean_env


def invoke(env: dict[str, str], *args: str) -> Result:
    from rag.cli import main

    return CliRunner(env=env).invoke(main, list(args))


def one_line_error(result: Result) -> str:
    """The single `Error: ...` line of a failed command; fails on a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0]
