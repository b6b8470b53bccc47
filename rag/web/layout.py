"""The page's components (small builders, one per area) and their wiring; called inside
`gr.Blocks` by rag.web.app. Every label comes from rag.i18n.page, and `_wire_relabel`
re-labels from one list of (component, update) pairs, so outputs can't mis-align."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import gradio as gr

from rag.i18n.page import EXAMPLES, UI_LANG_CHOICES, t
from rag.ingest.documents import SUPPORTED
from rag.web.handlers import WebApp
from rag.web.render import render_messages, render_panel

# An update for one component given (interface language, this session's turns).
Relabel = Callable[[str, list[dict]], Any]


@dataclass
class PageConfig:
    """What the page shows that the server decides."""

    lang: str  # interface language until a visitor picks another
    generators: list[str]
    endpoint: str  # the configured OpenAI-compatible URL without credentials ("" = none)
    model: str
    k: int


def _endpoint_md(ui: str, cfg: PageConfig) -> str:
    if not cfg.endpoint:
        return t(ui, "no_endpoint")
    return t(ui, "endpoint", url=f"`{cfg.endpoint}`", model=f"`{cfg.model or '?'}`")


def _header(app: WebApp, cfg: PageConfig, labels: list[tuple[Any, Relabel]]) -> tuple:
    """Title, language switch and status line; returns (language radio, status)."""
    with gr.Row(equal_height=True):
        title = gr.Markdown(t(cfg.lang, "title") + "\n\n" + t(cfg.lang, "subtitle"))
        ui_lang = gr.Radio(UI_LANG_CHOICES, value=cfg.lang, show_label=False, container=False,
                           scale=0, min_width=380, elem_id="jauap-lang")
    status = gr.Markdown(app.status_md(cfg.lang), elem_id="jauap-status")
    labels += [
        (title, lambda ui, _: t(ui, "title") + "\n\n" + t(ui, "subtitle")),
        (status, lambda ui, _: app.status_md(ui)),
    ]
    return ui_lang, status


def _conversation(app: WebApp, cfg: PageConfig, labels: list) -> dict[str, Any]:
    """Chatbot, question box, send/clear buttons and example questions."""
    lang = cfg.lang
    chatbot = gr.Chatbot(label=t(lang, "chatbot"), height=520, latex_delimiters=[],
                         sanitize_html=True, allow_tags=False, feedback_options=None,
                         buttons=["copy"], elem_id="jauap-chat")
    with gr.Row():
        question = gr.Textbox(label=t(lang, "question"), placeholder=t(lang, "placeholder"),
                              scale=5, lines=1, max_lines=4, elem_id="jauap-question")
        send = gr.Button(t(lang, "send"), variant="primary", scale=1, elem_id="jauap-send")
    examples_md = gr.Markdown(t(lang, "examples"))
    with gr.Row():
        examples = [(gr.Button(q, size="sm", elem_classes=["jauap-example"]), q)
                    for _, q in EXAMPLES]
    clear = gr.Button(t(lang, "clear"), size="sm", elem_id="jauap-clear")
    labels += [
        (chatbot, lambda ui, turns: gr.Chatbot(label=t(ui, "chatbot"),
                                               value=cast(Any, render_messages(turns, ui)))),
        (question, lambda ui, _: gr.Textbox(label=t(ui, "question"),
                                            placeholder=t(ui, "placeholder"))),
        (send, lambda ui, _: gr.Button(t(ui, "send"))),
        (examples_md, lambda ui, _: t(ui, "examples")),
        (clear, lambda ui, _: gr.Button(t(ui, "clear"))),
    ]
    return {"chatbot": chatbot, "question": question, "send": send, "clear": clear,
            "examples": examples}


def _settings_box(cfg: PageConfig, labels: list) -> tuple:
    """Generator choice and k; the LLM endpoint is shown, not chosen (the server's)."""
    lang = cfg.lang
    with gr.Accordion(t(lang, "settings"), open=False) as box:
        generator = gr.Dropdown(cfg.generators, value="extractive", label=t(lang, "generator"),
                                elem_id="jauap-generator")
        k = gr.Slider(1, 10, value=cfg.k, step=1, label=t(lang, "k"))
        endpoint = gr.Markdown(_endpoint_md(lang, cfg), elem_id="jauap-endpoint")
    labels += [
        (box, lambda ui, _: gr.Accordion(label=t(ui, "settings"))),
        (generator, lambda ui, _: gr.Dropdown(label=t(ui, "generator"))),
        (k, lambda ui, _: gr.Slider(label=t(ui, "k"))),
        (endpoint, lambda ui, _: _endpoint_md(ui, cfg)),
    ]
    return generator, k


def _sources(app: WebApp, cfg: PageConfig, labels: list) -> Any:
    title = gr.Markdown(f"### {t(cfg.lang, 'sources')}")
    panel = gr.HTML(render_panel([], cfg.lang, {}), elem_id="jauap-sources", js_on_load=None)
    labels += [
        (title, lambda ui, _: f"### {t(ui, 'sources')}"),
        (panel, lambda ui, turns: render_panel(turns, ui, app.backend.docs)),
    ]
    return panel


def _documents_tab(app: WebApp, cfg: PageConfig, labels: list) -> dict[str, Any]:
    """Upload box, the table of indexed documents and the remove list."""
    lang = cfg.lang
    files = gr.File(label=t(lang, "upload"), file_count="multiple", type="filepath",
                    file_types=sorted(SUPPORTED), elem_id="jauap-upload")
    upload_btn = gr.Button(t(lang, "upload_btn"), variant="primary", elem_id="jauap-upload-btn")
    upload_status = gr.Markdown("", elem_id="jauap-upload-status")
    table_title = gr.Markdown(t(lang, "docs_table"))
    table = gr.Dataframe(app.docs_table(lang), interactive=False, wrap=True, elem_id="jauap-docs")
    with gr.Row():
        remove_dd = gr.Dropdown(app.remove_choices(lang), value=None, label=t(lang, "remove_pick"),
                                scale=4, elem_id="jauap-remove-pick")
        remove_btn = gr.Button(t(lang, "remove_btn"), variant="stop", scale=1,
                               elem_id="jauap-remove")
    labels += [
        (files, lambda ui, _: gr.File(label=t(ui, "upload"))),
        (upload_btn, lambda ui, _: gr.Button(t(ui, "upload_btn"))),
        (table_title, lambda ui, _: t(ui, "docs_table")),
        (table, lambda ui, _: app.docs_table(ui)),
        (remove_dd, lambda ui, _: gr.Dropdown(choices=app.remove_choices(ui), value=None,
                                              label=t(ui, "remove_pick"))),
        (remove_btn, lambda ui, _: gr.Button(t(ui, "remove_btn"))),
    ]
    return {"files": files, "upload_btn": upload_btn, "upload_status": upload_status,
            "table": table, "remove_dd": remove_dd, "remove_btn": remove_btn}


def _wire_chat(app: WebApp, chat: dict, inputs: list, outputs: list, ui_lang: Any) -> None:
    """Ask (enter, button, examples) and clear. Answers share the queue's "answer" limit
    (set once, in `demo.queue`)."""
    common: dict[str, Any] = {"concurrency_id": "answer", "show_progress": "hidden",
                              "api_visibility": "private"}
    chat["question"].submit(app.respond, inputs, outputs, **common)
    chat["send"].click(app.respond, inputs, outputs, **common)

    def example_handler(text: str) -> Callable[..., Any]:
        def handler(*values: Any) -> Any:
            yield from app.respond(text, *values)

        return handler

    for button, text in chat["examples"]:
        button.click(example_handler(text), inputs[1:], outputs, **common)

    def clear_chat(ui: str) -> tuple:
        return [], render_panel([], ui, {}), [], ""

    chat["clear"].click(clear_chat, [ui_lang], outputs, api_visibility="private")
    chat["chatbot"].clear(clear_chat, [ui_lang], outputs, api_visibility="private")


def _wire_documents(app: WebApp, docs: dict, ui_lang: Any, refresh_outputs: list) -> None:
    """Upload and remove: one at a time (they re-index)."""

    def upload(file_list: list | None, ui: str, progress: Any = gr.Progress()) -> tuple:  # noqa: B008
        return app.upload(file_list, ui, progress)

    def remove(name: str | None, ui: str, progress: Any = gr.Progress()) -> tuple:  # noqa: B008
        return app.remove(name, ui, progress)

    one_writer: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "index",
                                  "api_visibility": "private"}
    docs["upload_btn"].click(upload, [docs["files"], ui_lang],
                             [docs["upload_status"], docs["files"], *refresh_outputs[:3]],
                             **one_writer)
    docs["remove_btn"].click(remove, [docs["remove_dd"], ui_lang],
                             [docs["upload_status"], *refresh_outputs[:3]], **one_writer)


def _wire_relabel(ui_lang: Any, turns: Any, labels: list[tuple[Any, Relabel]]) -> None:
    """Switching the interface language updates every component in `labels`."""
    components = [component for component, _ in labels]

    def relabel(ui: str, session_turns: list[dict] | None) -> dict:
        return {component: make(ui, session_turns or []) for component, make in labels}

    ui_lang.change(relabel, [ui_lang, turns], components, api_visibility="private",
                   show_progress="hidden")


def layout(demo: gr.Blocks, app: WebApp, cfg: PageConfig) -> None:
    """Build the page's components and wire them to `app`'s handlers."""
    labels: list[tuple[Any, Relabel]] = []
    ui_lang, status = _header(app, cfg, labels)
    timer = gr.Timer(1.0)
    turns = gr.State([])
    with gr.Tabs():
        with gr.Tab(t(cfg.lang, "tab_chat"), id="chat") as tab_chat, gr.Row():
            with gr.Column(scale=3):
                chat = _conversation(app, cfg, labels)
                generator, k = _settings_box(cfg, labels)
            with gr.Column(scale=2):
                sources = _sources(app, cfg, labels)
        with gr.Tab(t(cfg.lang, "tab_docs"), id="docs") as tab_docs:
            docs = _documents_tab(app, cfg, labels)
    labels += [
        (tab_chat, lambda ui, _: gr.Tab(label=t(ui, "tab_chat"))),
        (tab_docs, lambda ui, _: gr.Tab(label=t(ui, "tab_docs"))),
    ]
    inputs = [chat["question"], turns, generator, k, ui_lang]
    _wire_chat(app, chat, inputs, [chat["chatbot"], sources, turns, chat["question"]], ui_lang)
    refresh_outputs = [status, docs["table"], docs["remove_dd"], timer]
    refresh: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    timer.tick(app.refresh, [ui_lang], refresh_outputs, concurrency_limit=None, **refresh)
    demo.load(app.refresh, [ui_lang], refresh_outputs, **refresh)
    _wire_documents(app, docs, ui_lang, refresh_outputs)
    _wire_relabel(ui_lang, turns, labels)
