"""The Gradio web app: 问答 (cited answers), 检索 (filtered search), 文档 (document view),
对比 (one row per document on a target topic, CSV export), 找先例 (precedents for a draft),
文库 (library: list, upload, remove, reindex).

``build_app(engine)`` builds the page without starting a server; the handlers behind it are
plain functions (``ask_turn``, ``run_search``, ``open_citation``, ``render_document`` …) that
tests call directly. ``serve(settings)`` opens the engine (building the index if needed) and
launches the page.

Layout, one module per tab; data flows one way (tabs import ``common``, ``app`` imports the
tabs, tabs import neither ``app`` nor each other):

- ``protocol``: ``EngineLike``, exactly what the web layer calls on an engine;
- ``common``: constants and page styles, escaping (``esc`` …) and marking, ``guard``, input
  checks and length limits, filters;
- ``qa`` (问答), ``document`` (文档, and ``DocumentOpener``: how every tab opens a passage
  there), ``search_tab`` (检索), ``compare_tab`` (对比), ``precedents_tab`` (找先例),
  ``library_tab`` (文库): each tab's handlers, HTML renderers and builder (``build_*_tab``);
- ``login_limit``: the limit on failed logins per client address;
- ``libraries`` and ``access``: several libraries on one server (``--libraries``): one engine
  each, the view of the libraries a caller may read, and ``CallerEngine``, which finds the
  caller (REST guard, Gradio login) on every call;
- ``app``: the API functions, the page (``build_app``) and serving (``launch``, ``serve``).

Every public name is re-exported here (``from policyqa import web; web.ask_turn(...)``).
"""

from __future__ import annotations

from ..export import heading_label
from .access import CALLER, CallerEngine
from .app import api_functions, build_app, launch, open_libraries, parse_auth, serve, stderr_progress
from .common import (ALL, CSS, MAX_CITES, NO_RESULTS, NOT_COVERED, esc, esc_lines, facet_choices, guard,
                     limit_note, make_filters, mark_spans, query_input, shown, text_validator, within)
from .compare_tab import (COMPARE_COLUMNS, CSV_COLUMNS, NO_NUMBER, CompareTab, build_compare_tab,
                          compare_csv_rows, compare_html, row_ref, run_compare, value_text, write_compare_csv,
                          write_compare_exports)
from .document import (DocumentOpener, DocumentTab, build_document_tab, find_document, open_citation, open_item,
                       render_document, shown_ref)
from .library_tab import (LIBRARY_COLUMNS, BuildProgress, LibraryTab, build_library_tab, confirm_html,
                          document_list_updates, engine_progress, format_time, library_html, library_rows,
                          library_updates, progress_zh, reindex_library, remove_document, source_choices,
                          summary_html, upload_files, upload_target_update)
from .libraries import Libraries, LibraryView
from .login_limit import FailedLogins, LoginRateLimit, login_message, refusal_message
from .precedents_tab import (PrecedentsTab, build_precedents_tab, precedent_groups,
                             precedent_ref, precedents_html, run_precedents, write_precedents_docx)
from .protocol import EngineLike
from .qa import (AskTab, answer_messages, ask_turn, build_ask_tab, citation_label, cite_button_updates,
                 chat_history, cite_markers, shown_citation, turn_citations,
                 write_answer_docx)
from .search_tab import (SearchTab, build_search_tab, hit_ref, mark_terms, query_terms, results_html,
                         run_search)

__all__ = [
    # the engine's interface
    "EngineLike",
    # common
    "ALL", "CSS", "MAX_CITES", "NO_RESULTS", "NOT_COVERED", "esc", "esc_lines", "facet_choices", "guard", "heading_label",
    "limit_note", "make_filters", "mark_spans", "query_input", "shown", "text_validator", "within",
    # 问答
    "AskTab", "answer_messages", "ask_turn", "build_ask_tab", "citation_label", "cite_button_updates",
    "chat_history", "cite_markers", "shown_citation", "turn_citations", "write_answer_docx",
    # 文档
    "DocumentOpener", "DocumentTab", "build_document_tab", "find_document", "open_citation", "open_item",
    "render_document", "shown_ref",
    # 检索
    "SearchTab", "build_search_tab", "hit_ref", "mark_terms", "query_terms", "results_html",
    "run_search",
    # 对比
    "COMPARE_COLUMNS", "CSV_COLUMNS", "NO_NUMBER", "CompareTab", "build_compare_tab",
    "compare_csv_rows", "compare_html", "row_ref", "run_compare", "value_text", "write_compare_csv",
    "write_compare_exports",
    # 找先例
    "PrecedentsTab", "build_precedents_tab", "precedent_groups", "precedent_ref",
    "precedents_html", "run_precedents", "write_precedents_docx",
    # 文库
    "LIBRARY_COLUMNS", "BuildProgress", "LibraryTab", "build_library_tab", "confirm_html", "document_list_updates",
    "engine_progress", "format_time", "library_html", "library_rows", "library_updates", "progress_zh",
    "reindex_library", "remove_document", "source_choices", "summary_html", "upload_files", "upload_target_update",
    # several libraries
    "CALLER", "CallerEngine", "Libraries", "LibraryView", "open_libraries",
    # logins
    "FailedLogins", "LoginRateLimit", "login_message", "refusal_message",
    # the page, API and serving
    "api_functions", "build_app", "launch", "parse_auth", "serve", "stderr_progress",
]
