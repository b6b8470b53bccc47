"""Files → clean text with title, date and language; which files a folder holds.

The per-format readers and the limits a file must respect are in `rag.ingest.readers`."""

from __future__ import annotations

import datetime
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.errors import InputError
from rag.ingest.readers import (
    DEFAULT_LIMITS,
    IngestLimits,
    RawText,
    decode_bytes,
    read_raw,
)
from rag.records import Document
from rag.text import lang as langmod

__all__ = [
    "SUPPORTED",
    "IngestLimits",
    "RawText",
    "clean_text",
    "decode_bytes",
    "discover",
    "doc_id_for",
    "file_hash",
    "load_document",
    "parse_date",
    "read_raw",
]

SUPPORTED = {".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm"}

_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_DATE_HEADER = re.compile(r"^\s*date[:\s]+(\d{4}-\d{2}-\d{2})\s*", re.IGNORECASE)
# Control characters other than tab and line breaks (NUL among them): never shown or indexed.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_MONTHS = {
    # Russian (genitive) and Kazakh month names -> month number.
    "января": 1,
    "февраля": 2,
    "марта": 3,
    "апреля": 4,
    "мая": 5,
    "июня": 6,
    "июля": 7,
    "августа": 8,
    "сентября": 9,
    "октября": 10,
    "ноября": 11,
    "декабря": 12,
    "қаңтар": 1,
    "ақпан": 2,
    "наурыз": 3,
    "сәуір": 4,
    "мамыр": 5,
    "маусым": 6,
    "шілде": 7,
    "тамыз": 8,
    "қыркүйек": 9,
    "қазан": 10,
    "қараша": 11,
    "желтоқсан": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), ("d", "m", "y")),
    (re.compile(rf"\b(\d{{4}})\s+жыл\w*\s+(\d{{1,2}})\s+({_MONTH_RE})", re.I), ("y", "d", "M")),
    (re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_RE})\w*\s+(\d{{4}})", re.I), ("d", "M", "y")),
    (re.compile(rf"\b({_MONTH_RE})\s+(\d{{1,2}}),?\s+(\d{{4}})", re.I), ("M", "d", "y")),
]


def file_hash(path: Path) -> str:
    """Content hash of the raw bytes: what incremental indexing compares (read in blocks,
    so a huge file costs no memory)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def doc_id_for(path: Path) -> str:
    """Stable id of a file: its name plus a short hash of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{path.stem[:40]}-{digest}"


def clean_text(text: str) -> str:
    """NFC, no conversion residue, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text)
    text = _BOOKMARK.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad", "")
    text = _CONTROL.sub("", text.replace("\v", "\n").replace("\f", "\n"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def parse_date(text: str) -> str | None:
    """The first valid date stated in `text` as YYYY-MM-DD, or None."""
    found: list[tuple[int, str]] = []
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups(), strict=True))
            month = int(parts["m"]) if "m" in parts else _MONTHS[parts["M"].lower()]
            try:
                day = datetime.date(int(parts["y"]), month, int(parts["d"]))
            except ValueError:
                continue
            if 1900 <= day.year <= 2100:
                found.append((m.start(), day.isoformat()))
                break
    return min(found)[1] if found else None


def load_document(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> Document:
    """Read, clean and describe one file. Raises InputError (naming the file and the reason)
    for unreadable files and files over `limits`."""
    path = Path(path)
    try:
        raw = read_raw(path, limits)
    except InputError:
        raise
    except Exception as exc:  # a broken file must not abort a whole indexing run
        raise InputError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from exc
    text = clean_text(raw.text)
    date = None
    header = _DATE_HEADER.match(text)
    if header:
        date = header.group(1)
        text = text[header.end() :]
    if not text:
        raise InputError(f"{path}: no text in it")
    first_line = text.split("\n", 1)[0]
    # one line: a title is printed inside citation lines
    title = " ".join((clean_text(raw.title) if raw.title else "").split()) or first_line or path.stem
    if len(title) > 200:
        title = title[:200].rsplit(" ", 1)[0] + "…"
    if date is None:
        date = parse_date(text[:600])
    return Document(
        doc_id=doc_id_for(path),
        source=str(path),
        title=title,
        lang=langmod.detect(text),
        text=text,
        content_hash=file_hash(path),
        date=date,
        fmt=path.suffix.lower().lstrip("."),
    )


def _outside(path: Path, root: Path) -> bool:
    """Whether `path` (a link) resolves to somewhere outside the folder `root`."""
    try:
        return not path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return True


def discover(paths: Iterable[Path], skipped: list[str] | None = None) -> Iterator[Path]:
    """Files under `paths` (recursively), sorted; hidden files and folders skipped, and
    links that lead out of the folder not followed (noted in `skipped`, if given).
    Linked folders are not descended into."""
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if path.is_symlink() and _outside(path, root):
                if skipped is not None:
                    skipped.append(f"{path}: a link to outside the indexed folder, not followed")
                continue
            if path.is_file():
                yield path
