"""The page's components and their wiring (called inside `gr.Blocks` by rag.web.app)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.i18n.page import EXAMPLES, UI_LANG_CHOICES, t
from rag.ingest.documents import SUPPORTED
from rag.web.render import render_messages, render_panel

if TYPE_CHECKING:
    from rag.web.app import WebApp


def layout(
    demo: gr.Blocks,
    app: WebApp,
    generators: list[str],
    lang: str,
    base_url: str,
    model: str,
    k: int,
) -> None:
    with gr.Row(equal_height=True):
        title = gr.Markdown(t(lang, "title") + "\n\n" + t(lang, "subtitle"))
        ui_lang = gr.Radio(
            UI_LANG_CHOICES,
            value=lang,
            show_label=False,
            container=False,
            scale=0,
            min_width=380,
            elem_id="jauap-lang",
        )
    status = gr.Markdown(app.status_md(lang), elem_id="jauap-status")
    timer = gr.Timer(1.0)
    turns = gr.State([])

    with gr.Tabs():
        with gr.Tab(t(lang, "tab_chat"), id="chat") as tab_chat, gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label=t(lang, "chatbot"),
                    height=520,
                    latex_delimiters=[],
                    sanitize_html=True,
                    allow_tags=False,
                    feedback_options=None,
                    buttons=["copy"],
                    elem_id="jauap-chat",
                )
                with gr.Row():
                    question = gr.Textbox(
                        label=t(lang, "question"),
                        placeholder=t(lang, "placeholder"),
                        scale=5,
                        lines=1,
                        max_lines=4,
                        elem_id="jauap-question",
                    )
                    send = gr.Button(
                        t(lang, "send"), variant="primary", scale=1, elem_id="jauap-send"
                    )
                examples_md = gr.Markdown(t(lang, "examples"))
                with gr.Row():
                    example_buttons = [
                        (gr.Button(q, size="sm", elem_classes=["jauap-example"]), q)
                        for _, q in EXAMPLES
                    ]
                clear = gr.Button(t(lang, "clear"), size="sm", elem_id="jauap-clear")
                with gr.Accordion(t(lang, "settings"), open=False) as settings_box:
                    generator = gr.Dropdown(
                        generators,
                        value="extractive",
                        label=t(lang, "generator"),
                        elem_id="jauap-generator",
                    )
                    k_slider = gr.Slider(1, 10, value=k, step=1, label=t(lang, "k"))
                    url_box = gr.Textbox(value=base_url, label=t(lang, "base_url"))
                    model_box = gr.Textbox(value=model, label=t(lang, "model"))
            with gr.Column(scale=2):
                sources_title = gr.Markdown(f"### {t(lang, 'sources')}")
                sources = gr.HTML(
                    render_panel([], lang, {}), elem_id="jauap-sources", js_on_load=None
                )
        with gr.Tab(t(lang, "tab_docs"), id="docs") as tab_docs:
            files = gr.File(
                label=t(lang, "upload"),
                file_count="multiple",
                type="filepath",
                file_types=sorted(SUPPORTED),
                elem_id="jauap-upload",
            )
            upload_btn = gr.Button(
                t(lang, "upload_btn"), variant="primary", elem_id="jauap-upload-btn"
            )
            upload_status = gr.Markdown("", elem_id="jauap-upload-status")
            docs_title = gr.Markdown(t(lang, "docs_table"))
            docs_df = gr.Dataframe(
                app.docs_table(lang), interactive=False, wrap=True, elem_id="jauap-docs"
            )
            with gr.Row():
                remove_dd = gr.Dropdown(
                    app.remove_choices(lang),
                    value=None,
                    label=t(lang, "remove_pick"),
                    scale=4,
                    elem_id="jauap-remove-pick",
                )
                remove_btn = gr.Button(
                    t(lang, "remove_btn"), variant="stop", scale=1, elem_id="jauap-remove"
                )

    # --- wiring -------------------------------------------------------------------------
    chat_inputs = [question, turns, generator, k_slider, url_box, model_box, ui_lang]
    chat_outputs = [chatbot, sources, turns, question]
    common = {"concurrency_limit": 4, "concurrency_id": "answer", "show_progress": "hidden"}
    question.submit(app.respond, chat_inputs, chat_outputs, api_visibility="private", **common)
    send.click(app.respond, chat_inputs, chat_outputs, api_visibility="private", **common)

    def example_handler(text: str) -> Any:
        def handler(*values: Any) -> Any:
            yield from app.respond(text, *values)

        return handler

    for button, text in example_buttons:
        button.click(
            example_handler(text), chat_inputs[1:], chat_outputs, api_visibility="private", **common
        )

    def clear_chat(ui: str) -> tuple:
        return [], render_panel([], ui, {}), [], ""

    clear.click(clear_chat, [ui_lang], chat_outputs, api_visibility="private")
    chatbot.clear(clear_chat, [ui_lang], chat_outputs, api_visibility="private")

    def with_openai(url: str, current: str) -> Any:
        names = [g for g in generators if g != "openai"] + (["openai"] if url.strip() else [])
        return gr.Dropdown(choices=names, value=current if current in names else "extractive")

    url_box.change(with_openai, [url_box, generator], [generator], api_visibility="private")

    refresh_outputs = [status, docs_df, remove_dd, timer]
    timer.tick(
        app.refresh,
        [ui_lang],
        refresh_outputs,
        api_visibility="private",
        show_progress="hidden",
        concurrency_limit=None,
    )
    demo.load(
        app.refresh, [ui_lang], refresh_outputs, api_visibility="private", show_progress="hidden"
    )

    def upload(file_list: list | None, ui: str, progress: Any = gr.Progress()) -> tuple:  # noqa: B008
        return app.upload(file_list, ui, progress)

    def remove(source: str | None, ui: str, progress: Any = gr.Progress()) -> tuple:  # noqa: B008
        return app.remove(source, ui, progress)

    upload_btn.click(
        upload,
        [files, ui_lang],
        [upload_status, files, status, docs_df, remove_dd],
        api_visibility="private",
        concurrency_limit=1,
        concurrency_id="index",
    )
    remove_btn.click(
        remove,
        [remove_dd, ui_lang],
        [upload_status, status, docs_df, remove_dd],
        api_visibility="private",
        concurrency_limit=1,
        concurrency_id="index",
    )

    def relabel(ui: str, session_turns: list[dict]) -> tuple:
        return (
            t(ui, "title") + "\n\n" + t(ui, "subtitle"),
            gr.Tab(label=t(ui, "tab_chat")),
            gr.Tab(label=t(ui, "tab_docs")),
            gr.Chatbot(label=t(ui, "chatbot"), value=render_messages(session_turns or [], ui)),
            gr.Textbox(label=t(ui, "question"), placeholder=t(ui, "placeholder")),
            gr.Button(t(ui, "send")),
            gr.Button(t(ui, "clear")),
            t(ui, "examples"),
            gr.Accordion(label=t(ui, "settings")),
            gr.Dropdown(label=t(ui, "generator")),
            gr.Slider(label=t(ui, "k")),
            gr.Textbox(label=t(ui, "base_url")),
            gr.Textbox(label=t(ui, "model")),
            f"### {t(ui, 'sources')}",
            render_panel(session_turns or [], ui, app.backend.docs),
            gr.File(label=t(ui, "upload")),
            gr.Button(t(ui, "upload_btn")),
            t(ui, "docs_table"),
            app.docs_table(ui),
            gr.Dropdown(choices=app.remove_choices(ui), value=None, label=t(ui, "remove_pick")),
            gr.Button(t(ui, "remove_btn")),
            app.status_md(ui),
        )

    ui_lang.change(
        relabel,
        [ui_lang, turns],
        [
            title,
            tab_chat,
            tab_docs,
            chatbot,
            question,
            send,
            clear,
            examples_md,
            settings_box,
            generator,
            k_slider,
            url_box,
            model_box,
            sources_title,
            sources,
            files,
            upload_btn,
            docs_title,
            docs_df,
            remove_dd,
            remove_btn,
            status,
        ],
        api_visibility="private",
        show_progress="hidden",
    )
