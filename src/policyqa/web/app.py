"""The page (``build_app``), the typed functions behind its API endpoints, and serving.

``build_app(engine)`` builds the page without starting a server, wiring each tab's handlers
(plain functions in the tab modules) to its components. ``serve(settings)`` opens the engine
(building the index if needed) and launches the page.

The chatbot renders neither Markdown nor LaTeX (``render_markdown=False``,
``latex_delimiters=[]``) and still sanitises HTML, so a ``[x](javascript:…)`` link or
``<img onerror=…>`` in a document shows as the plain characters.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import gradio as gr

from ..config import Settings
from ..errors import PolicyQAError
from ..types import ProgressEvent
from .common import ALL, CSS, MAX_CITES, facet_choices, guard, make_filters
from .compare_tab import compare_choices, compare_html, row_ref, run_compare, write_compare_csv
from .document import open_citation, render_document
from .library_tab import (confirm_html, library_html, library_updates, progress_zh, reindex_library,
                          remove_document, source_choices, upload_files)
from .precedents_tab import precedent_choices, precedent_ref, precedents_html, run_precedents
from .qa import ask_turn, cite_button_updates
from .search_tab import hit_ref, result_choices, results_html, run_search


# Scroll the highlighted passage into view when the view mounts (the 文档 tab is rendered on
# first show) and whenever its value changes afterwards.
_SCROLL_JS = (
    "const pqaScroll = () => setTimeout(() => {"
    " const m = element.querySelector('mark.pqa-hit');"
    " if (m) { m.scrollIntoView({block: 'center'}); } }, 60);"
    " pqaScroll(); watch('value', pqaScroll);"
)


# ---------------------------------------------------------------------------- API


def api_functions(engine) -> tuple[Callable, Callable]:
    """The typed functions behind the ``ask`` and ``search`` API endpoints."""

    @guard
    def ask(question: str, doc_type: str = "", year: str = "", region: str = "", doc_id: str = "") -> dict:
        """Answer a question from the documents, with numbered citations."""
        return engine.ask(question, filters=make_filters(doc_type, year, region, doc_id)).to_json()

    @guard
    def search(query: str, k: int = 10, doc_type: str = "", year: str = "", region: str = "",
               doc_id: str = "") -> dict:
        """The passages most relevant to a query (optionally filtered)."""
        return run_search(engine, query, doc_type, year, region, doc_id, k).to_json()

    return ask, search


# ---------------------------------------------------------------------------- the page


def build_app(engine) -> gr.Blocks:
    """The whole page. No server is started."""
    choices = facet_choices(engine)
    settings = getattr(engine, "settings", None)
    default_k = getattr(settings, "k", 10) or 10
    max_mb = (getattr(settings, "max_file_bytes", 0) or 0) / 1_000_000
    from ..loaders import SUPPORTED_SUFFIXES as supported_types
    private = {"api_visibility": "private"}

    with gr.Blocks(title="教育政策文件问答") as app:
        gr.HTML('<h2 style="margin:4px 0">教育政策文件问答与检索</h2>'
                '<div style="color:#666">答案均摘自文件原文，每句注明出处；点击引用可查看原文。</div>',
                elem_id="page-header", js_on_load=None)
        history = gr.State([])
        cites = gr.State([])
        hits_state = gr.State([])
        compare_rows = gr.State([])
        prec_rows = gr.State([])
        with gr.Tabs(elem_id="tabs", selected="ask") as tabs:
            with gr.Tab("问答", id="ask", elem_id="tab-ask"):
                chatbot = gr.Chatbot(
                    elem_id="chat", label="问答", height=460, render_markdown=False,
                    sanitize_html=True, allow_tags=False, latex_delimiters=[],
                    buttons=["copy", "copy_all"], feedback_options=None,
                    placeholder="请输入问题，例如：教师交流轮岗有什么要求？",
                )
                with gr.Row():
                    question = gr.Textbox(elem_id="ask-input", show_label=False, scale=6,
                                          placeholder="输入问题后按回车，例如：学前三年毛入园率的目标是多少？")
                    ask_btn = gr.Button("提问", elem_id="ask-btn", variant="primary", scale=1)
                    clear_btn = gr.Button("清空", elem_id="clear-btn", scale=1)
                gr.HTML('<div style="color:#666;font-size:13px">查看引用原文：</div>', js_on_load=None,
                        elem_id="cite-hint")
                with gr.Row(elem_id="cite-row"):
                    cite_btns = [gr.Button("", visible=False, size="sm", elem_id=f"cite-{i + 1}")
                                 for i in range(MAX_CITES)]
            with gr.Tab("检索", id="search", elem_id="tab-search"):
                with gr.Row():
                    query = gr.Textbox(elem_id="search-input", label="检索内容", scale=5,
                                       placeholder="关键词、问题或一段草稿文字")
                    k = gr.Slider(1, 30, value=default_k, step=1, label="结果数", elem_id="search-k", scale=1)
                with gr.Row():
                    f_type = gr.Dropdown(choices["doc_type"], value=ALL, label="文档类型", elem_id="filter-type")
                    f_year = gr.Dropdown(choices["year"], value=ALL, label="年份", elem_id="filter-year")
                    f_region = gr.Dropdown(choices["region"], value=ALL, label="地区", elem_id="filter-region")
                    f_doc = gr.Dropdown(choices["doc"], value=ALL, label="文档", elem_id="filter-doc")
                search_btn = gr.Button("检索", elem_id="search-btn", variant="primary")
                results = gr.HTML("", elem_id="search-results", css_template=CSS, js_on_load=None)
                open_hit = gr.Dropdown([], label="在文档中打开结果", elem_id="search-open", interactive=True)
            with gr.Tab("对比", id="compare", elem_id="tab-compare"):
                with gr.Row():
                    compare_topic = gr.Textbox(elem_id="compare-input", label="对比主题", scale=5,
                                               placeholder="例如：学前教育毛入园率、教师培训经费、标准化学校建设")
                    compare_btn = gr.Button("对比", elem_id="compare-btn", variant="primary", scale=1)
                compare_table = gr.HTML('<div class="pqa-empty">输入主题，查看各文档如何表述该目标。</div>',
                                        elem_id="compare-table", css_template=CSS, js_on_load=None)
                with gr.Row():
                    compare_pick = gr.Dropdown([], label="选择一行", elem_id="compare-pick", interactive=True,
                                               scale=4)
                    compare_open = gr.Button("在文档中打开", elem_id="compare-open-btn", scale=1)
                compare_csv = gr.File(label="下载 CSV（UTF-8）", elem_id="compare-csv", interactive=False,
                                      visible=False)
            with gr.Tab("找先例", id="precedents", elem_id="tab-precedents"):
                prec_text = gr.Textbox(elem_id="prec-input", label="起草中的段落或章节", lines=8, max_lines=30,
                                       placeholder="粘贴正在起草的一段文字，查找其他文件中相似的表述。")
                prec_btn = gr.Button("找先例", elem_id="prec-btn", variant="primary")
                prec_results = gr.HTML("", elem_id="prec-results", css_template=CSS, js_on_load=None)
                prec_open = gr.Dropdown([], label="在文档中打开结果", elem_id="prec-open", interactive=True)
            with gr.Tab("文档", id="doc", elem_id="tab-doc"):
                doc_select = gr.Dropdown(choices["doc"][1:], value=None, label="选择文档", elem_id="doc-select")
                with gr.Row():
                    with gr.Column(scale=1, min_width=200):
                        outline = gr.HTML('<div class="pqa-empty">标题结构</div>', elem_id="doc-outline",
                                          css_template=CSS, js_on_load=None, max_height=640)
                    with gr.Column(scale=3):
                        doc_view = gr.HTML('<div class="pqa-empty">请选择文档，或在问答/检索中点击引用。</div>',
                                           elem_id="doc-view", css_template=CSS, js_on_load=_SCROLL_JS,
                                           max_height=640)
            with gr.Tab("文库", id="library", elem_id="tab-library"):
                lib_table = gr.HTML(library_html(engine), elem_id="lib-table", css_template=CSS,
                                    js_on_load=None, max_height=520)
                with gr.Row():
                    with gr.Column(scale=3):
                        lib_files = gr.File(label=f"上传文件（{'、'.join(supported_types)}；"
                                                  f"每个不超过 {max_mb:g} MB）",
                                            file_count="multiple", file_types=list(supported_types),
                                            type="filepath", elem_id="lib-upload", height=140)
                        upload_btn = gr.Button("上传并索引", elem_id="lib-upload-btn", variant="primary")
                    with gr.Column(scale=2):
                        lib_remove = gr.Dropdown(source_choices(engine), value=None, label="删除文件",
                                                 elem_id="lib-remove", interactive=True)
                        lib_confirm = gr.Checkbox(False, label="确认删除（文件将从文库文件夹中删除）",
                                                  elem_id="lib-confirm")
                        with gr.Row():
                            remove_btn = gr.Button("删除", elem_id="lib-remove-btn", variant="stop")
                            reindex_btn = gr.Button("重新索引", elem_id="lib-reindex-btn")
                lib_msg = gr.HTML("", elem_id="lib-msg", css_template=CSS, js_on_load=None)

        # -- 问答
        @guard
        def on_ask(q, hist, progress=gr.Progress()):
            hist, cs, _ = ask_turn(engine, q, hist, progress)
            return [hist, hist, cs, ""] + cite_button_updates(cs)

        ask_outputs = [history, chatbot, cites, question] + cite_btns
        question.submit(on_ask, [question, history], ask_outputs, **private)
        ask_btn.click(on_ask, [question, history], ask_outputs, **private)
        clear_btn.click(lambda: [[], [], [], ""] + cite_button_updates([]), None, ask_outputs, **private)

        def make_open(i: int):
            @guard
            def on_open(cs):
                if i >= len(cs or []):
                    raise gr.Error("该引用已不存在，请重新提问。")
                doc_id, out_html, body = open_citation(engine, cs[i])
                return gr.Tabs(selected="doc"), gr.update(value=doc_id), out_html, body
            return on_open

        for i, btn in enumerate(cite_btns):
            btn.click(make_open(i), [cites], [tabs, doc_select, outline, doc_view], **private)

        # -- 检索
        @guard
        def on_search(q, t, y, r, d, kk, progress=gr.Progress()):
            result = run_search(engine, q, t, y, r, d, kk, progress)
            refs = [hit_ref(h) for h in result.hits]
            return results_html(result), refs, gr.update(choices=result_choices(result), value=None)

        search_outputs = [results, hits_state, open_hit]
        search_inputs = [query, f_type, f_year, f_region, f_doc, k]
        query.submit(on_search, search_inputs, search_outputs, **private)
        search_btn.click(on_search, search_inputs, search_outputs, **private)

        @guard
        def on_open_hit(choice, refs):
            if choice in (None, "") or not refs:
                return gr.update(), gr.update(), gr.update(), gr.update()
            doc_id, out_html, body = open_citation(engine, refs[int(choice)])
            return gr.Tabs(selected="doc"), gr.update(value=doc_id), out_html, body

        open_hit.input(on_open_hit, [open_hit, hits_state], [tabs, doc_select, outline, doc_view], **private)

        # -- 对比
        open_outputs = [tabs, doc_select, outline, doc_view]

        @guard
        def on_compare(topic, progress=gr.Progress()):
            table = run_compare(engine, topic, progress=progress)
            rows = table.get("rows") or []
            csv_file = gr.update(value=write_compare_csv(table), visible=True) if rows else \
                gr.update(value=None, visible=False)
            return compare_html(table), rows, gr.update(choices=compare_choices(table), value=None), csv_file

        compare_outputs = [compare_table, compare_rows, compare_pick, compare_csv]
        compare_topic.submit(on_compare, [compare_topic], compare_outputs, **private)
        compare_btn.click(on_compare, [compare_topic], compare_outputs, **private)

        @guard
        def on_compare_open(choice, rows):
            if choice in (None, "") or not rows:
                raise PolicyQAError("请先在上方选择一行。")
            doc_id, out_html, body = open_citation(engine, row_ref(rows[int(choice)]))
            return gr.Tabs(selected="doc"), gr.update(value=doc_id), out_html, body

        compare_open.click(on_compare_open, [compare_pick, compare_rows], open_outputs, **private)

        # -- 找先例
        @guard
        def on_precedents(text, progress=gr.Progress()):
            result = run_precedents(engine, text, progress=progress)
            return (precedents_html(result), list(result.get("results") or []),
                    gr.update(choices=precedent_choices(result), value=None))

        prec_btn.click(on_precedents, [prec_text], [prec_results, prec_rows, prec_open], **private)

        @guard
        def on_prec_open(choice, rows):
            if choice in (None, "") or not rows:
                return gr.update(), gr.update(), gr.update(), gr.update()
            doc_id, out_html, body = open_citation(engine, precedent_ref(rows[int(choice)]))
            return gr.Tabs(selected="doc"), gr.update(value=doc_id), out_html, body

        prec_open.input(on_prec_open, [prec_open, prec_rows], open_outputs, **private)

        # -- 文档
        @guard
        def on_doc(doc_id):
            return render_document(engine, doc_id)

        doc_select.input(on_doc, [doc_select], [outline, doc_view], **private)

        # -- 文库: one library operation at a time; every list of documents is refreshed
        lists = [f_type, f_year, f_region, f_doc, doc_select]
        lib_outputs = [lib_msg, lib_table, lib_remove] + lists
        lib_opts = {**private, "concurrency_limit": 1, "concurrency_id": "library",
                    "show_progress_on": [lib_msg, lib_table]}

        @guard
        def on_upload(files, t, y, r, d, doc, progress=gr.Progress()):
            msg = upload_files(engine, files, progress)
            return [msg] + library_updates(engine, (t, y, r, d, doc))

        @guard
        def on_remove(source, confirmed, t, y, r, d, doc, progress=gr.Progress()):
            if source and not confirmed:  # the first click only asks for confirmation
                return [confirm_html(source)] + [gr.update()] * (len(lib_outputs) - 1)
            msg = remove_document(engine, source, confirmed, progress)
            return [msg] + library_updates(engine, (t, y, r, d, doc))

        @guard
        def on_reindex(t, y, r, d, doc, progress=gr.Progress()):
            msg = reindex_library(engine, progress)
            return [msg] + library_updates(engine, (t, y, r, d, doc))

        upload_btn.click(on_upload, [lib_files] + lists, lib_outputs, **lib_opts).success(
            lambda: None, None, lib_files, **private)
        remove_btn.click(on_remove, [lib_remove, lib_confirm] + lists, lib_outputs, **lib_opts).success(
            lambda: False, None, lib_confirm, **private)
        reindex_btn.click(on_reindex, lists, lib_outputs, **lib_opts)

        # -- API
        api_ask, api_search = api_functions(engine)
        gr.api(api_ask, api_name="ask")
        gr.api(api_search, api_name="search")
    return app


# ---------------------------------------------------------------------------- serving


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise PolicyQAError("登录设置应为 'user:password'（--auth / POLICYQA_AUTH）")
    return user, password


def stderr_progress(event: ProgressEvent) -> None:
    """The engine's build progress as lines on stderr (serve building a missing index)."""
    detail = f" {event.detail}" if event.detail else ""
    print(f"[{event.fraction * 100:5.1f}%] {progress_zh(event)}{detail}", file=sys.stderr, flush=True)


def launch(app: gr.Blocks, settings: Settings, **kwargs) -> Any:
    """Queue and launch a built app with the page's styles. Uploads far over the per-file
    limit are cut off by the server; the library handler reports the others by name."""
    kwargs.setdefault("max_file_size", 2 * settings.max_file_bytes)
    return app.queue(default_concurrency_limit=settings.concurrency).launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=parse_auth(settings.auth),
        css=CSS,
        **kwargs,
    )


def serve(settings: Settings, **launch_kwargs) -> Any:
    """Open (building if needed) the index and serve the page; blocks until stopped."""
    from ..api import Engine

    print(f"正在打开索引 {settings.index_dir}（语料 {settings.corpus}）…", file=sys.stderr, flush=True)
    engine = Engine.open(settings, build_if_needed=True, progress=stderr_progress)
    print(f"页面地址：http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    return launch(build_app(engine), settings, **launch_kwargs)
