"""HTML for the chat page: answers with [n] links, source cards, the chat messages.

Every piece of document or user text goes through `esc` before it is put into HTML:
a document containing markup or <script> is shown as text, never run. `esc` also
turns the characters that Markdown, LaTeX and template engines treat specially into
entities, so the text displays exactly as written wherever it is rendered."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rag.i18n.page import t
from rag.text.markers import MARKER

MAX_DOC_CHARS = 100_000  # the "whole document" view of a huge upload is cut here
PANEL_TURNS = 5  # source sections kept in the panel (newest first)
_ENTITIES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#x27;",
        "`": "&#96;",
        "$": "&#36;",
        "{": "&#123;",
        "}": "&#125;",
        "*": "&#42;",
        "_": "&#95;",
        "~": "&#126;",
        "\\": "&#92;",
        "|": "&#124;",
        "#": "&#35;",
    }
)


def esc(text: object) -> str:
    """HTML-escape `text` (quotes too) and neutralise Markdown/LaTeX/template syntax."""
    return str(text).translate(_ENTITIES)  # one pass: nothing is escaped twice


def card_id(turn: int, n: int) -> str:
    return f"src-{turn}-{n}"


def linkify(escaped: str, turn: int) -> str:
    """Turn every [n] (or [n, m]) of already escaped text into links to source cards."""

    def repl(m: re.Match[str]) -> str:
        numbers = re.split(r"\s*[,;]\s*", m.group(1))
        return "".join(
            f'<a class="jauap-cite" href="#{card_id(turn, int(n))}">[{int(n)}]</a>' for n in numbers
        )

    return MARKER.sub(repl, escaped)


def _lines(escaped: str) -> str:
    # no blank lines: the chat renders Markdown, and HTML blocks end at a blank line
    return "<br>".join(line for line in escaped.split("\n"))


def lang_name(code: str | None, ui_lang: str) -> str:
    if code in ("kk", "ru", "en"):
        return t(ui_lang, f"lang_{code}")
    return code or "?"


def render_answer(answer: Mapping[str, Any], turn: int, ui_lang: str) -> str:
    """The chat bubble of a finished answer (an `Answer.to_dict()`)."""
    body = _lines(linkify(esc(answer.get("answer", "")), turn))
    if answer.get("refused"):
        out = f'<div class="jauap-refusal">⊘ {body}</div>'
    else:
        out = f'<div class="jauap-answer">{body}</div>'
    unsupported = answer.get("unsupported") or []
    if unsupported:
        items = "".join(f"<li>{esc(s)}</li>" for s in unsupported)
        out += (
            f'<div class="jauap-unsupported">⚠ {esc(t(ui_lang, "unsupported"))}'
            f"<ul>{items}</ul></div>"
        )
    if answer.get("fallback"):
        out += (
            f'<div class="jauap-note">ℹ {esc(t(ui_lang, "note"))} {esc(answer["fallback"])}</div>'
        )
    return out


def render_partial(text: str, turn: int) -> str:
    """A bubble while the answer is still arriving."""
    return f'<div class="jauap-answer">{_lines(linkify(esc(text), turn))} ▍</div>'


def render_error(message: str) -> str:
    return f'<div class="jauap-error">✖ {esc(message)}</div>'


def _marked(text: str, start: int, end: int) -> str:
    """`text` escaped, with text[start:end] highlighted (when it is a real span)."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    if end <= start:
        return esc(text)
    return f"{esc(text[:start])}<mark>{esc(text[start:end])}</mark>{esc(text[end:])}"


def render_card(
    n: int,
    turn: int,
    source: Mapping[str, Any],
    ui_lang: str,
    doc_text: str | None = None,
) -> str:
    """One source card. `source` is a citation (with quote offsets) or a retrieval hit."""
    title = esc(source.get("title") or "")
    file_name = esc(Path(str(source.get("source") or "")).name)
    date = esc(source.get("date") or t(ui_lang, "no_date"))
    meta = (
        f"{esc(t(ui_lang, 'date'))}: {date} · {esc(lang_name(source.get('lang'), ui_lang))} · "
        f"{esc(t(ui_lang, 'file'))}: {file_name}"
    )
    if "passage" in source:  # a checked citation: highlight the supporting quote
        passage, p0 = str(source["passage"]), int(source.get("passage_start", 0))
        q0, q1 = int(source.get("start", 0)), int(source.get("end", 0))
        passage_html = _marked(passage, q0 - p0, q1 - p0)
    else:  # a retrieval hit (closest passages of a refusal)
        passage = str(source.get("text", ""))
        q0 = q1 = 0
        passage_html = esc(passage)
    whole = ""
    if doc_text:
        shown = doc_text[:MAX_DOC_CHARS]
        doc_html = _marked(shown, q0, q1) if q1 > q0 else esc(shown)
        if len(doc_text) > MAX_DOC_CHARS:
            doc_html += esc(t(ui_lang, "truncated"))
        whole = (
            f"<details><summary>{esc(t(ui_lang, 'whole_doc'))}</summary>"
            f'<div class="jauap-doc">{doc_html}</div></details>'
        )
    return (
        f'<div class="jauap-card" id="{card_id(turn, n)}">'
        f'<div class="jauap-card-head"><span class="jauap-n">[{n}]</span> {title}</div>'
        f'<div class="jauap-meta">{meta}</div>'
        f'<div class="jauap-passage">{passage_html}</div>{whole}</div>'
    )


def render_turn_cards(
    turn: int, answer: Mapping[str, Any], ui_lang: str, docs: Mapping[str, Any]
) -> str:
    """The cards of one answer: its citations, or for a refusal the closest passages."""

    def text_of(doc_id: str) -> str | None:
        doc = docs.get(doc_id)
        return getattr(doc, "text", None) if doc is not None else None

    if answer.get("refused"):
        head = f'<div class="jauap-meta">{esc(t(ui_lang, "closest"))}</div>'
        cards = [
            render_card(i, turn, s, ui_lang, text_of(s.get("doc_id", "")))
            for i, s in enumerate(answer.get("sources") or [], 1)
        ]
        return head + "".join(cards)
    return "".join(
        render_card(int(c["n"]), turn, c, ui_lang, text_of(c.get("doc_id", "")))
        for c in answer.get("citations") or []
    )


def render_panel(turns: Sequence[Mapping[str, Any]], ui_lang: str, docs: Mapping[str, Any]) -> str:
    """The Sources panel: the newest answer's cards open, a few earlier ones collapsed."""
    answered = [(i, tr) for i, tr in enumerate(turns) if tr.get("answer")]
    if not answered:
        return f'<div class="jauap-meta">{esc(t(ui_lang, "no_sources"))}</div>'
    parts = []
    for pos, (i, tr) in enumerate(reversed(answered[-PANEL_TURNS:])):
        # whole documents only under the newest answer: keeps the panel light
        cards = render_turn_cards(i, tr["answer"], ui_lang, docs if pos == 0 else {})
        question = f'<div class="jauap-turn-q">▸ {esc(tr["question"])}</div>'
        if pos == 0:
            parts.append(f'<div class="jauap-turn jauap-latest">{question}{cards}</div>')
        else:
            parts.append(
                f'<details class="jauap-turn"><summary>{esc(t(ui_lang, "earlier"))}: '
                f"{esc(tr['question'])}</summary>{cards}</details>"
            )
    return "".join(parts)


def render_messages(turns: Sequence[Mapping[str, Any]], ui_lang: str) -> list[dict[str, str]]:
    """Chatbot messages ({"role", "content"}) for a session's turns."""
    messages: list[dict[str, str]] = []
    for i, tr in enumerate(turns):
        messages.append({"role": "user", "content": esc(tr["question"])})
        if tr.get("answer"):
            content = render_answer(tr["answer"], i, ui_lang)
        elif tr.get("error"):
            content = render_error(tr["error"])
        else:
            content = render_partial(tr.get("partial", ""), i)
        messages.append({"role": "assistant", "content": content})
    return messages
