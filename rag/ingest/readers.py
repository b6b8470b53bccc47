"""Per-format readers (.txt .md .docx .pdf .html) that pull raw text out of a file, within
limits: a hostile or broken file is refused with one clear reason, never read unbounded."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InputError

MB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """What one file may cost to read. A file over a limit is refused (named, with the
    reason, in the index report) and the run goes on with the other files."""

    # Bytes on disk. Above the page's 20 MB upload limit; big PDFs are mostly images.
    max_file_bytes: int = 100 * MB
    # Characters of extracted text per file: ~3x "War and Peace" (3.2 M chars). Near it
    # (8.9 M chars, 18 MB of Cyrillic UTF-8) `index_paths` with the fake embedder peaked at
    # 329 MB RSS in 17 s (load average 7.6): `python eval/bench/ingest_scale.py --sizes 18
    # --embedder fake --default-limits`. A bigger file is refused without being indexed.
    max_text_chars: int = 10_000_000
    # Uncompressed size of a .docx's word/document.xml. A 677 KB .docx expanding to 200 MB
    # took 132 s and 2.1 GB RSS to read (issue 11); lxml needs ~10x the XML in memory.
    max_docx_xml_bytes: int = 32 * MB
    # Uncompressed size of all parts of a .docx together (python-docx loads every part).
    max_docx_total_bytes: int = 256 * MB
    # Share of control characters (other than tab, newlines, form feed) or undecodable
    # bytes above which a "text" file is binary. Random bytes, zip, PDF, PNG and ELF files
    # all measured 0.11-0.65 (uniform bytes: 29/256 = 0.113); text in UTF-8/UTF-16/cp1251
    # measures 0. Half the lowest binary figure, so one stray NUL in a short line passes.
    max_binary_share: float = 0.05


DEFAULT_LIMITS = IngestLimits()


@dataclass(frozen=True)
class RawText:
    """Text pulled out of a file before cleaning, with a title if the format has one."""

    text: str
    title: str | None = None


# C0 controls except \t \n \v \f \r, DEL, and the replacement character of failed decoding.
_BINARY_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffd]")


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
        return data.decode("utf-16", errors="replace")
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


def binary_share(text: str) -> float:
    """Share of `text` that is control characters or undecodable bytes."""
    if not text:
        return 0.0
    return len(_BINARY_CHARS.findall(text)) / len(text)


def read_text_file(path: Path, limits: IngestLimits) -> str:
    """Decode a text file, refusing one that is too long or is binary content."""
    # A character takes at most 4 bytes in UTF-8 or UTF-16: refuse before reading.
    if path.stat().st_size > 4 * limits.max_text_chars:
        raise InputError(
            f"{path}: too much text (over the limit of {limits.max_text_chars:,} characters)"
        )
    text = decode_bytes(path.read_bytes())
    if len(text) > limits.max_text_chars:
        raise InputError(
            f"{path}: too much text ({len(text):,} characters, over the limit of "
            f"{limits.max_text_chars:,})"
        )
    share = binary_share(text)
    if share > limits.max_binary_share:
        raise InputError(
            f"{path}: binary content, not text ({share:.0%} control or undecodable characters)"
        )
    return text


def _check_docx_sizes(path: Path, limits: IngestLimits) -> bool:
    """Refuse zip bombs before python-docx inflates them; True when core properties exist.

    The sizes come from the zip's central directory; zipfile never inflates an entry
    beyond its declared size (it stops there and fails the CRC check), so they hold."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: cannot read it (not a .docx zip file: {exc})") from exc
    names = {info.filename: info for info in infos}
    xml = names.get("word/document.xml")
    if xml is not None and xml.file_size > limits.max_docx_xml_bytes:
        raise InputError(
            f"{path}: document text unpacks to {xml.file_size / MB:.0f} MB, over the limit "
            f"of {limits.max_docx_xml_bytes / MB:.0f} MB (a zip bomb?)"
        )
    total = sum(info.file_size for info in infos)
    if total > limits.max_docx_total_bytes:
        raise InputError(
            f"{path}: unpacks to {total / MB:.0f} MB, over the limit of "
            f"{limits.max_docx_total_bytes / MB:.0f} MB (a zip bomb?)"
        )
    return "docProps/core.xml" in names


def _read_docx(path: Path, limits: IngestLimits) -> RawText:
    has_core = _check_docx_sizes(path, limits)
    import docx

    document = docx.Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    # Without docProps/core.xml python-docx invents the title "Word Document": ignore it,
    # so the first paragraph becomes the title.
    title = (document.core_properties.title or None) if has_core else None
    return RawText("\n".join(paragraphs), title)


def _read_pdf(path: Path, limits: IngestLimits) -> RawText:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages: list[str] = []
    size = 0
    for page in reader.pages:  # stop as soon as the text is over the limit
        pages.append(page.extract_text() or "")
        size += len(pages[-1]) + 2
        if size > limits.max_text_chars:
            break
    title = (reader.metadata.title if reader.metadata else None) or None
    return RawText("\n\n".join(pages), title)


_BLOCKS = {"p", "div", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr",
           "pre", "blockquote", "table", "ul", "ol", "header", "main", "figcaption", "dd", "dt"}
_SKIPPED = {"script", "style", "noscript", "nav", "footer", "template", "iframe"}


def _html_pieces(root: Any, skip: Any = None) -> list[tuple[bool, str]]:
    """(is_text, piece) of `root` in document order: its strings, plus separators: a blank
    line after each block, a line break for <br>, " | " after table cells. Scripts,
    navigation and `skip` are left out.

    Walks the tree once without changing it (inserting separators into the tree costs a
    scan of the siblings each time: 120k paragraphs took over 15 minutes)."""
    from bs4 import CData, NavigableString, Tag

    out: list[tuple[bool, str]] = []
    stack: list[tuple[Any, Any]] = [(root, iter(root.children))]
    while stack:
        tag, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if stack and tag.name in _BLOCKS:
                out.append((False, "\n\n"))
            elif stack and tag.name in ("td", "th"):
                out.append((False, " | "))
        elif isinstance(child, Tag):
            if child is skip or child.name in _SKIPPED:
                continue
            if child.name == "br":
                out.append((False, "\n"))
            else:
                stack.append((child, iter(child.children)))
        elif type(child) in (NavigableString, CData):  # not comments, doctype, ...
            out.append((True, str(child)))
    return out


def _read_html(path: Path, limits: IngestLimits) -> RawText:
    from bs4 import BeautifulSoup

    # lxml, not html.parser: bs4's html.parser builder rescans a list of every void tag
    # (<br>, <img>) at each end tag, so 23k <br> took 23 s for 2 M chars (lxml: linear).
    soup = BeautifulSoup(read_text_file(path, limits), "lxml")

    def first(names: list[str]) -> Any:  # outside scripts, navigation, ...
        return next((t for t in soup.find_all(names) if not t.find_parent(list(_SKIPPED))), None)

    heading, page_title = first(["title", "h1"]), first(["title"])
    title = None
    if heading is not None:
        words = (piece.strip() for is_text, piece in _html_pieces(heading) if is_text)
        title = " ".join(w for w in words if w)
    body = first(["body"]) or soup
    text = "".join(piece for _, piece in _html_pieces(body, page_title))
    return RawText(text, title)


def _read_markdown(path: Path, limits: IngestLimits) -> RawText:
    text = read_text_file(path, limits)
    title = None
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            break
    text = re.sub(r"^#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images keep their text
    text = re.sub(r"(\*\*|__|`)", "", text)
    return RawText(text, title)


def read_raw(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> RawText:
    """Extract text from a file by its extension, within `limits` (InputError otherwise)."""
    path = Path(path)
    suffix = path.suffix.lower()
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(
            f"{path}: file is {size / MB:.0f} MB, over the limit of "
            f"{limits.max_file_bytes / MB:.0f} MB"
        )
    if suffix == ".docx":
        raw = _read_docx(path, limits)
    elif suffix == ".pdf":
        raw = _read_pdf(path, limits)
    elif suffix in {".html", ".htm"}:
        raw = _read_html(path, limits)
    elif suffix in {".md", ".markdown"}:
        raw = _read_markdown(path, limits)
    elif suffix == ".txt":
        raw = RawText(read_text_file(path, limits))
    else:
        raise InputError(f"{path}: unsupported file type {suffix!r}")
    if len(raw.text) > limits.max_text_chars:
        raise InputError(
            f"{path}: too much text ({len(raw.text):,} characters, over the limit of "
            f"{limits.max_text_chars:,})"
        )
    return raw
