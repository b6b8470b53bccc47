"""Read .txt .md .docx .pdf .html files into clean text with title, date and language."""

from __future__ import annotations

import datetime
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError
from rag.records import Document
from rag.text import lang as langmod

SUPPORTED = {".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm"}

_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_DATE_HEADER = re.compile(r"^\s*date[:\s]+(\d{4}-\d{2}-\d{2})\s*", re.IGNORECASE)
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


@dataclass(frozen=True)
class RawText:
    """Text pulled out of a file before cleaning, with a title if the format has one."""

    text: str
    title: str | None = None


def file_hash(path: Path) -> str:
    """Content hash of the raw bytes: what incremental indexing compares."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def doc_id_for(path: Path) -> str:
    """Stable id of a file: its name plus a short hash of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{path.stem[:40]}-{digest}"


def _plausible(text: str) -> float:
    """Share of characters that are letters, digits, spaces or common punctuation."""
    if not text:
        return 0.0
    ok = sum(ch.isalnum() or ch.isspace() or ch in ".,;:!?-–—«»\"'()[]/%№" for ch in text)
    return ok / len(text)


def decode_bytes(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 (with or without BOM) or Windows-1251."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if len(data) % 2 == 0:  # UTF-16 without a BOM: pick the byte order that reads as text
        candidates = [data.decode(enc, errors="replace") for enc in ("utf-16-le", "utf-16-be")]
        best = max(candidates, key=_plausible)
        if _plausible(best) > 0.95 and "\ufffd" not in best:
            return best
    from charset_normalizer import from_bytes

    match = from_bytes(data, cp_isolation=["cp1251", "koi8_r", "cp1252", "utf_8"]).best()
    return str(match) if match is not None else data.decode("cp1251", errors="replace")


def _read_docx(path: Path) -> RawText:
    import docx

    document = docx.Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    title = document.core_properties.title or None
    return RawText("\n".join(paragraphs), title)


def _read_pdf(path: Path) -> RawText:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [page.extract_text() or "" for page in reader.pages]
    title = (reader.metadata.title if reader.metadata else None) or None
    return RawText("\n\n".join(pages), title)


_BLOCKS = ["p", "div", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr",
           "pre", "blockquote", "table", "ul", "ol", "header", "main", "figcaption", "dd", "dt"]


def _read_html(path: Path) -> RawText:
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(decode_bytes(path.read_bytes()), "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "template", "iframe"]):
        tag.decompose()
    heading = soup.find(["title", "h1"])
    title = heading.get_text(" ", strip=True) if heading else None
    if soup.title:
        soup.title.decompose()
    for br in soup.find_all("br"):
        br.replace_with(NavigableString("\n"))
    for block in soup.find_all(_BLOCKS):
        block.insert_after(NavigableString("\n\n"))
    for cell in soup.find_all(["td", "th"]):
        cell.insert_after(NavigableString(" | "))
    body = soup.body or soup
    return RawText(body.get_text(""), title)


def _read_markdown(path: Path) -> RawText:
    text = decode_bytes(path.read_bytes())
    title = None
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            break
    text = re.sub(r"^#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images keep their text
    text = re.sub(r"(\*\*|__|`)", "", text)
    return RawText(text, title)


def read_raw(path: Path) -> RawText:
    """Extract text from a file by its extension."""
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return _read_docx(path)
    if suffix == ".pdf":
        return _read_pdf(path)
    if suffix in {".html", ".htm"}:
        return _read_html(path)
    if suffix in {".md", ".markdown"}:
        return _read_markdown(path)
    if suffix == ".txt":
        return RawText(decode_bytes(path.read_bytes()))
    raise InputError(f"unsupported file type {suffix!r}: {path}")


def clean_text(text: str) -> str:
    """NFC, no conversion residue, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text)
    text = _BOOKMARK.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad", "")
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


def load_document(path: Path) -> Document:
    """Read, clean and describe one file. Raises InputError for unreadable files."""
    path = Path(path)
    try:
        raw = read_raw(path)
    except InputError:
        raise
    except Exception as exc:  # a broken file must not abort a whole indexing run
        raise InputError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    text = clean_text(raw.text)
    date = None
    header = _DATE_HEADER.match(text)
    if header:
        date = header.group(1)
        text = text[header.end() :]
    if not text:
        raise InputError(f"no text in {path}")
    first_line = text.split("\n", 1)[0]
    title = clean_text(raw.title) if raw.title else first_line
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


def discover(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under `paths` (recursively), sorted; hidden files and folders skipped."""
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not any(part.startswith(".") for part in rel.parts):
                yield path
