"""Reading files: encodings, cleaning, titles, dates, languages and every supported format."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.ingest.documents import (
    clean_text,
    decode_bytes,
    discover,
    doc_id_for,
    load_document,
    parse_date,
    read_raw,
)
from rag.settings import SAMPLE_CORPUS

RU_SAMPLE = SAMPLE_CORPUS / "000_1a1ef730ee62db7a.txt"
KK_SAMPLE = SAMPLE_CORPUS / "004_a5a20995b4c71b1a.txt"

RU = (
    "Форум открыли Государственный советник Ерлан Карин и пресс-секретарь Президента "
    "России Дмитрий Песков. Мероприятие стало важной площадкой для диалога о будущем "
    "медиапространства двух стран."
)
KK = (
    "Мәжілістегі ҚХА депутаттық тобының мүшелері I Орталық Азия медиафорумына қатысты. "
    "Форум өңірдегі медианы дамытудың өзекті мәселелерін талқылады."
)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- encodings ------------------------------------------------------------------------


ENCODINGS = {
    "utf-8": lambda s: s.encode("utf-8"),
    "utf-8-bom": lambda s: b"\xef\xbb\xbf" + s.encode("utf-8"),
    "utf-16-le-bom": lambda s: b"\xff\xfe" + s.encode("utf-16-le"),
    "utf-16-be-bom": lambda s: b"\xfe\xff" + s.encode("utf-16-be"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("text", [RU, KK], ids=["ru", "kk"])
def test_unicode_encodings_decode_to_the_same_text(
    tmp_path: Path, encoding: str, text: str
) -> None:
    data = ENCODINGS[encoding](text)
    assert decode_bytes(data) == text
    path = _write(tmp_path / "doc.txt", data)
    assert read_raw(path).text == text
    doc = load_document(path)
    assert doc.text == text
    assert "\ufeff" not in doc.text


def test_windows_1251_russian_text_is_detected(tmp_path: Path) -> None:
    data = RU.encode("cp1251")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test really exercises the fallback
    assert decode_bytes(data) == RU
    doc = load_document(_write(tmp_path / "ru1251.txt", data))
    assert doc.text == RU
    assert doc.lang == "ru"


def test_every_encoding_of_a_file_gives_the_same_document_text(tmp_path: Path) -> None:
    texts = set()
    for name, encode in ENCODINGS.items():
        texts.add(load_document(_write(tmp_path / f"{name}.txt", encode(RU))).text)
    texts.add(load_document(_write(tmp_path / "cp1251.txt", RU.encode("cp1251"))).text)
    assert texts == {RU}


def test_utf16_without_bom_cyrillic_text_is_detected() -> None:
    assert decode_bytes(KK.encode("utf-16-le")) == KK


# --- cleaning -------------------------------------------------------------------------


def test_bookmark_residue_is_removed() -> None:
    raw = "[bookmark: _GoBack]20-21 желтоқсанда форум өтті.[bookmark: id_1] Соңы."
    assert clean_text(raw) == "20-21 желтоқсанда форум өтті. Соңы."


def test_nfc_composes_decomposed_letters() -> None:
    decomposed = "Мои\u0306 дом и е\u0308лка"  # й and ё as base letter + combining mark
    assert len(decomposed) == len("Мой дом и ёлка") + 2
    cleaned = clean_text(decomposed)
    assert cleaned == "Мой дом и ёлка"
    assert unicodedata.is_normalized("NFC", cleaned)
    assert "\u0306" not in cleaned and "\u0308" not in cleaned


def test_whitespace_is_normalised() -> None:
    raw = (
        "  Заголовок\u00a0\u00a0статьи \t \r\n"
        "\r\n\r\n\r\n"
        "Первый\u2009абзац   текста.\rВторая  строка.\n\n\n\n"
        "Пере\u00adнос слова.   "
    )
    assert clean_text(raw) == (
        "Заголовок статьи\n\nПервый абзац текста.\nВторая строка.\n\nПеренос слова."
    )


def test_clean_text_is_idempotent() -> None:
    once = clean_text(KK_SAMPLE.read_text(encoding="utf-8"))
    assert clean_text(once) == once


def test_txt_file_is_cleaned_like_clean_text(tmp_path: Path) -> None:
    raw = "Заголовок\n\n\n\n[bookmark: _GoBack]Текст   с\tпробелами.\n"
    doc = load_document(_write(tmp_path / "a.txt", raw.encode("utf-8")))
    assert doc.text == "Заголовок\n\nТекст с пробелами."
    assert doc.title == "Заголовок"
    assert doc.fmt == "txt"


# --- the sample corpus ----------------------------------------------------------------


def test_russian_sample_date_header_title_and_language() -> None:
    doc = load_document(RU_SAMPLE)
    assert doc.date == "2025-09-29"
    assert doc.title == "В Алматы обсудили будущее медиапространства Казахстана и России"
    assert not doc.text.startswith("date")
    assert "2025-09-29" not in doc.title
    assert doc.text.startswith(doc.title)
    assert doc.lang == "ru"
    assert "Дмитрий Песков" in doc.text


def test_kazakh_sample_title_date_language_and_no_residue() -> None:
    doc = load_document(KK_SAMPLE)
    assert doc.title == "I Орталық Азия медиафорумы"
    assert doc.date == "2022-12-20"
    assert doc.lang == "kk"
    assert "bookmark" not in doc.text
    assert "\t" not in doc.text and "  " not in doc.text
    assert "\n\n\n" not in doc.text


def test_document_metadata_is_stable(tmp_path: Path) -> None:
    first, second = load_document(KK_SAMPLE), load_document(KK_SAMPLE)
    assert first == second
    assert first.doc_id == doc_id_for(KK_SAMPLE)
    assert first.source == str(KK_SAMPLE)
    assert len(first.content_hash) == 64
    copy = tmp_path / KK_SAMPLE.name
    copy.write_bytes(KK_SAMPLE.read_bytes())
    other = load_document(copy)
    assert other.content_hash == first.content_hash  # same bytes
    assert other.doc_id != first.doc_id  # different place


# --- other formats --------------------------------------------------------------------


def test_markdown_heading_is_the_title_and_language_is_english(tmp_path: Path) -> None:
    md = (
        "# Annual Media Report\n\n"
        "The **forum** gathered [journalists](https://example.org) from ten countries.\n\n"
        "## Details\n\n"
        "It was held in `Almaty` on March 3, 2021.\n"
    )
    doc = load_document(_write(tmp_path / "report.md", md.encode("utf-8")))
    assert doc.title == "Annual Media Report"
    assert doc.lang == "en"
    assert doc.fmt == "md"
    assert "#" not in doc.text
    assert "The forum gathered journalists from ten countries." in doc.text
    assert "https://example.org" not in doc.text
    assert "It was held in Almaty on March 3, 2021." in doc.text
    assert doc.date == "2021-03-03"


def test_docx_heading_body_and_table_are_read(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Отчёт о медиафоруме", level=1)
    document.add_paragraph("Форум прошёл в Алматы 20 декабря 2022 г. Выступил Дмитрий Песков.")
    document.add_paragraph("Участники обсудили борьбу с фейками.")
    table = document.add_table(rows=2, cols=2)
    for (r, c), value in {
        (0, 0): "Город",
        (0, 1): "Участники",
        (1, 0): "Алматы",
        (1, 1): "300",
    }.items():
        table.cell(r, c).text = value
    path = tmp_path / "report.docx"
    document.save(str(path))

    doc = load_document(path)
    assert doc.fmt == "docx"
    assert doc.title == "Отчёт о медиафоруме"
    assert doc.lang == "ru"
    assert doc.date == "2022-12-20"
    assert doc.text.startswith("Отчёт о медиафоруме\n")
    assert "Выступил Дмитрий Песков." in doc.text
    assert "Участники обсудили борьбу с фейками." in doc.text
    assert "Город | Участники" in doc.text
    assert "Алматы | 300" in doc.text


def test_docx_core_title_wins_over_first_line(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Official Title"
    document.add_paragraph("First line of the body text.")
    path = tmp_path / "titled.docx"
    document.save(str(path))
    doc = load_document(path)
    assert doc.title == "Official Title"
    assert doc.text == "First line of the body text."


HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Media forum report</title>
<script>var leaked = "SCRIPT_SECRET_ONE";</script>
<style>.note { color: red }</style></head>
<body>
<nav>Home | News | Contact</nav>
<h1>The forum opened</h1>
<p>The media forum in Almaty gathered journalists from ten countries.</p>
<p>It was opened by the minister of information.</p>
<script>document.write("SCRIPT_SECRET_TWO")</script>
<ul><li>Fact checking was a key topic.</li></ul>
<footer>Copyright footer text</footer>
</body></html>
"""


def test_html_drops_script_and_takes_title(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path / "page.html", HTML.encode("utf-8")))
    assert doc.fmt == "html"
    assert doc.title == "Media forum report"
    assert doc.lang == "en"
    for gone in ("SCRIPT_SECRET", "leaked", "document.write", "color: red", "Copyright", "Home |"):
        assert gone not in doc.text, gone
    assert "The media forum in Almaty gathered journalists from ten countries." in doc.text
    assert "It was opened by the minister of information." in doc.text
    assert "Fact checking was a key topic." in doc.text


def test_html_without_title_uses_h1(tmp_path: Path) -> None:
    html = (
        "<html><head><script>var x = 'SCRIPT_SECRET';</script></head><body>"
        "<h1>Медиафорум в Алматы</h1><p>Форум открыл Дмитрий Песков.</p></body></html>"
    )
    doc = load_document(_write(tmp_path / "page.htm", html.encode("utf-8")))
    assert doc.title == "Медиафорум в Алматы"
    assert "SCRIPT_SECRET" not in doc.text
    assert "Форум открыл Дмитрий Песков." in doc.text
    assert doc.lang == "ru"


def _pdf_bytes(lines: list[str], title: str | None = None) -> bytes:
    """A one-page PDF (Helvetica, one text stream) with a correct xref table."""
    shown = b" ".join(b"(" + line.encode("ascii") + b") Tj T*" for line in lines)
    content = b"BT /F1 18 Tf 72 720 Td 22 TL " + shown + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if title is not None:
        objects.append(b"<< /Title (" + title.encode("ascii") + b") >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()  # every entry is exactly 20 bytes
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\n".encode()
    out += f"startxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def test_handwritten_pdf_is_valid_and_read(tmp_path: Path) -> None:
    from pypdf import PdfReader

    lines = ["Quarterly report of the media forum.", "Revenue grew strongly in 2023."]
    path = _write(tmp_path / "report.pdf", _pdf_bytes(lines))
    # strict parsing fails on a wrong xref offset, so this checks the file itself
    assert len(PdfReader(str(path), strict=True).pages) == 1
    doc = load_document(path)
    assert doc.fmt == "pdf"
    assert doc.text == "\n".join(lines)
    assert doc.title == lines[0]
    assert doc.lang == "en"


def test_pdf_metadata_title_is_used(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.pdf", _pdf_bytes(["Body text of the report."], "Forum Report"))
    doc = load_document(path)
    assert doc.title == "Forum Report"
    assert doc.text == "Body text of the report."


# --- errors ---------------------------------------------------------------------------


def test_unsupported_extension_raises_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.xyz", b"plain words")
    with pytest.raises(InputError, match=r"unsupported file type '\.xyz'"):
        read_raw(path)
    with pytest.raises(InputError, match="unsupported"):
        load_document(path)


def test_corrupt_docx_raises_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.docx", bytes(range(256)) * 8 + b"not a zip file")
    with pytest.raises(InputError, match="cannot read") as info:
        load_document(path)
    assert str(path) in str(info.value)


def test_corrupt_pdf_raises_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.pdf", b"%PDF-1.4\n" + b"garbage" * 50)
    with pytest.raises(InputError):
        load_document(path)


def test_file_without_text_raises_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "blank.txt", b" \n\t\n[bookmark: _GoBack]\n")
    with pytest.raises(InputError, match="no text"):
        load_document(path)


def test_discover_skips_hidden_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b", encoding="utf-8")
    (tmp_path / "a.md").write_text("a", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("h", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "inside.txt").write_text("g", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("c", encoding="utf-8")
    (tmp_path / "sub" / ".d.txt").write_text("d", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert found == ["a.md", "b.txt", "sub/c.txt"]
    # a file named directly is taken as given
    assert list(discover([tmp_path / "b.txt"])) == [tmp_path / "b.txt"]


def test_discover_missing_path_raises_input_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="no such file or folder") as info:
        list(discover([missing]))
    assert str(missing) in str(info.value)


# --- dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20 декабря 2022 г.", "2022-12-20"),
        ("2022 жылғы 20 желтоқсан", "2022-12-20"),
        ("12.05.2024", "2024-05-12"),
        ("March 3, 2021", "2021-03-03"),
        ("Опубликовано 2025-09-29 в 10:00", "2025-09-29"),
        ("Форум прошёл 5 мая 2023 года", "2023-05-05"),
        ("2023 жылы 1 қыркүйекте", "2023-09-01"),
        ("on 3 March 2021", "2021-03-03"),
        ("нет даты здесь", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: str | None) -> None:
    assert parse_date(text) == expected


def test_parse_date_returns_the_first_date_in_the_text() -> None:
    assert parse_date("Опубликовано 20 декабря 2022 г., обновлено 01.01.2023") == "2022-12-20"


def test_parse_date_rejects_impossible_calendar_dates() -> None:
    assert parse_date("31.02.2022") is None
