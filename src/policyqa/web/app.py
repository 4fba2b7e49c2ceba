"""The page (``build_app``), the typed functions behind its API endpoints, and serving.

``build_app(engine)`` builds the page without starting a server from one builder per tab
(``build_ask_tab`` … in the tab modules, each wiring its own handlers) and joins them.
``serve(settings)`` opens the engine (building the index if needed) and launches the page.

The chatbot renders neither Markdown nor LaTeX (``render_markdown=False``,
``latex_delimiters=[]``) and still sanitises HTML, so a ``[x](javascript:…)`` link or
``<img onerror=…>`` in a document shows as the plain characters.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import gradio as gr
from starlette.middleware import Middleware

from ..config import Settings
from ..engine import Engine
from ..errors import PolicyQAError
from ..libraries import Access, load_access
from ..types import ProgressEvent
from .access import CallerEngine
from .common import CSS, PAGE_HEAD, guard, make_filters, query_input
from .compare_tab import build_compare_tab
from .document import DocumentOpener, build_document_tab
from .libraries import Libraries
from .library_tab import build_library_tab, progress_zh
from .login_limit import FailedLogins, LoginRateLimit, login_message
from .precedents_tab import build_precedents_tab
from .protocol import EngineLike
from .qa import EMPTY_QUESTION, build_ask_tab, turn_citations
from .rest import mount_rest_api, rest_api
from .search_tab import build_search_tab, run_search

HEADER = ('<h2 style="margin:4px 0">教育政策文件问答与检索</h2>'
          '<div style="color:#666">答案均摘自文件原文，每句注明出处；点击引用可查看原文。</div>')


# ---------------------------------------------------------------------------- API


def api_functions(engine: EngineLike) -> tuple[Callable, Callable]:
    """The typed functions behind the ``ask`` and ``search`` API endpoints."""

    @guard
    def ask(question: str, doc_type: str = "", year: str = "", region: str = "", doc_id: str = "") -> dict:
        """Answer a question from the documents, with numbered citations."""
        question = query_input(engine, question, EMPTY_QUESTION, "问题")
        return engine.ask(question, filters=make_filters(doc_type, year, region, doc_id)).to_json()

    @guard
    def search(query: str, k: int = 10, doc_type: str = "", year: str = "", region: str = "",
               doc_id: str = "") -> dict:
        """The passages most relevant to a query (optionally filtered)."""
        return run_search(engine, query, doc_type, year, region, doc_id, k).to_json()

    return ask, search


# ---------------------------------------------------------------------------- the page


def build_app(engine: EngineLike) -> gr.Blocks:
    """The whole page. No server is started. Each tab's module builds its components and
    events; the page joins them: opening items in the 文档 tab, and refreshing every list of
    documents on page load, when a tab that shows one is opened, and after library changes."""
    with gr.Blocks(title="教育政策文件问答") as app:
        with gr.Row(elem_id="page-top", equal_height=True):
            with gr.Column(scale=6, min_width=330):  # on a phone the setting wraps below
                gr.HTML(HEADER, elem_id="page-header", js_on_load=None)
            # a page setting: passages, answers and the document view in simplified characters
            # (traditional documents are still cited and exported as written)
            simplified = gr.Checkbox(False, label="显示为简体", elem_id="simplified", scale=0, min_width=200,
                                     info="繁体原文以简体显示；取消勾选看原文")
        with gr.Tabs(elem_id="tabs", selected="ask") as tabs:
            with gr.Tab("问答", id="ask", elem_id="tab-ask"):
                ask = build_ask_tab(engine, simplified)
            with gr.Tab("检索", id="search", elem_id="tab-search") as search_page:
                search = build_search_tab(engine, simplified)
            with gr.Tab("对比", id="compare", elem_id="tab-compare"):
                compare = build_compare_tab(engine, simplified)
            with gr.Tab("找先例", id="precedents", elem_id="tab-precedents"):
                precedents = build_precedents_tab(engine, simplified)
            with gr.Tab("文档", id="doc", elem_id="tab-doc") as doc_page:
                doc = build_document_tab(engine, simplified)
            with gr.Tab("文库", id="library", elem_id="tab-library") as library_page:
                library = build_library_tab(engine, search.filters + [doc.select])
        opener = DocumentOpener(engine, tabs, doc)
        for i, button in enumerate(ask.cite_buttons):
            opener.connect(button.click, ask.cites, i)
        opener.connect_clicks(ask.chat_cites, ask.answers, turn_citations)
        opener.connect_clicks(search.results, search.refs)
        opener.connect_clicks(compare.table, compare.refs)
        opener.connect_clicks(precedents.results, precedents.refs)
        for event in (app.load, search_page.select, doc_page.select, library_page.select):
            library.refresh_on(event)
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
    """Build progress while ``serve`` opens the index, one line per event."""
    print(f"[{event.fraction * 100:5.1f}%] {progress_zh(event)} {event.detail}".rstrip(), file=sys.stderr, flush=True)


def launch(app: gr.Blocks, settings: Settings, logins: FailedLogins | None = None,
           engine: EngineLike | None = None, libraries: Libraries | None = None, **kwargs) -> Any:
    """Queue and launch a built app with the page's styles; with ``engine``, the REST API
    (``rest``) is served beside the page. Uploads far over the per-file limit are cut off by
    the server; the library handler reports the others by name. With a login
    (``settings.auth``, or the users of ``libraries``), failed logins are limited per client
    address (``logins``, by default 5 a minute; see ``login_limit``)."""
    kwargs.setdefault("max_file_size", 2 * settings.max_file_bytes)
    access: Access | None = libraries.access if libraries is not None else None
    auth: Any = access.check_password if access is not None else parse_auth(settings.auth)
    if auth is not None:
        logins = logins or FailedLogins()
        app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(LoginRateLimit, failures=logins)]
        kwargs["app_kwargs"] = app_kwargs
        kwargs.setdefault("auth_message", login_message(logins))
    block = not kwargs.pop("prevent_thread_lock", False)
    launched = app.queue(default_concurrency_limit=settings.concurrency).launch(
        server_name=settings.host,
        server_port=settings.port,
        auth=auth,
        css=CSS,
        head=PAGE_HEAD + kwargs.pop("head", ""),
        prevent_thread_lock=True,  # the API's routes join the running server first
        **kwargs,
    )
    if engine is not None:
        login = None if access is not None else auth
        ready = libraries.everything() if libraries is not None else None
        mount_rest_api(app.server_app, rest_api(engine, settings, login, access, ready))
    if block:
        app.block_thread()
    return launched


def open_libraries(settings: Settings, access: Access, progress: Callable = stderr_progress) -> Libraries:
    """One engine per library of ``access`` (each its own corpus and index folder, building
    the index if needed), sharing one embedding model."""
    engines: dict[str, Engine] = {}
    for spec in access.libraries.values():
        print(f"正在打开文库「{spec.name}」：索引 {spec.index_dir}（语料 {spec.corpus}）…", file=sys.stderr, flush=True)
        first = next(iter(engines.values()), None)
        engines[spec.name] = Engine.open(replace(settings, corpus=spec.corpus, index_dir=spec.index_dir),
                                         build_if_needed=True, progress=progress, like=first)
    return Libraries(settings, access, dict(engines))


def serve(settings: Settings, libraries_file: Path | None = None, **launch_kwargs) -> Any:
    """Open (building if needed) the index and serve the page; blocks until stopped. With
    ``libraries_file``, every library of it, each user seeing the libraries it may read."""
    if libraries_file is not None:
        if settings.auth or settings.api_tokens:
            raise PolicyQAError("--libraries 与 --auth / api_tokens 不能同时使用：用户和令牌请写在文库文件中"
                                f"（{libraries_file}）。")
        libraries = open_libraries(settings, load_access(libraries_file))
        engine: EngineLike = CallerEngine(libraries)
        print(f"页面地址：http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
        return launch(build_app(engine), settings, engine=engine, libraries=libraries, **launch_kwargs)
    print(f"正在打开索引 {settings.index_dir}（语料 {settings.corpus}）…", file=sys.stderr, flush=True)
    engine = Engine.open(settings, build_if_needed=True, progress=stderr_progress)
    print(f"页面地址：http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    return launch(build_app(engine), settings, engine=engine, **launch_kwargs)
