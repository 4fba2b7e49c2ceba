"""The 检索 tab: filtered search, results with the query's terms marked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..export import heading_label
from ..text import bigrams, matching_copy, strip_question_words
from ..types import Hit, SearchResult
from .common import (ALL, CSS, NO_RESULTS, NOT_COVERED, OPEN_HINT, OPEN_JS, PRIVATE, esc, facet_choices, guard,
                     limit_note, make_filters, mark_spans, open_attrs, query_input, shown, text_validator)
from .protocol import EngineLike


def query_terms(query: str) -> list[str]:
    """Folded, lower-cased terms to mark: CJK bigrams and Latin words (an English query's
    Chinese translations are passed in as extra words, space-separated)."""
    folded = strip_question_words(query)
    terms = set(re.findall(r"[a-z0-9]{2,}", folded)) | set(bigrams(folded, cjk_only=True))
    return sorted(terms)


def mark_terms(text: str, query: str, simplified: bool = False) -> str:
    """Escaped ``text`` with the query's terms wrapped in ``<mark>`` (matching on a
    same-length folded copy, showing the original characters, or with ``simplified`` the
    same-length simplified ones)."""
    terms = query_terms(query)
    if not terms or not text:
        return esc(shown(text, simplified))
    folded = matching_copy(text).lower()
    hits = sorted((m.start(), m.end()) for t in terms for m in re.finditer(re.escape(t), folded))
    merged: list[tuple[int, int]] = []
    for a, b in hits:  # overlapping or touching matches become one mark
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return mark_spans(text, 0, merged, simplified)


def marked_query(result: SearchResult) -> str:
    """What to mark in the results: the query, plus the Chinese words an English query
    was translated to and the official words searched for a Chinese query's everyday
    expressions (so a user sees why a passage matched)."""
    return " ".join((result.query,) + result.translated_terms + result.expanded_terms)


def strength_label(h: Hit, result: SearchResult) -> str:
    """A plain label instead of a score: 直接相关 when the passage's best sentence alone
    reaches the point at which a question counts as covered (the calibrated abstain
    threshold), 相关 below it, 仅供参考 when the list as a whole does not cover the query."""
    if result.abstained:
        return "仅供参考"
    if h.evidence_score is not None and h.evidence_score >= result.threshold:
        return "直接相关"
    return "相关"


def found_by(h: Hit) -> str:
    """Which side of the search found the passage: meaning (vectors), words (BM25) or both."""
    sides = [name for name, rank in (("语义", h.dense_rank), ("关键词", h.lexical_rank)) if rank is not None]
    return "＋".join(sides) + "匹配" if sides else ""


def results_html(result: SearchResult, simplified: bool = False) -> str:
    """The result cards (each opens its passage when clicked); ``simplified``: document text
    shown in simplified characters (``common.shown``)."""
    if not result.hits:
        return f'<div class="pqa-results"><div class="pqa-empty">{NO_RESULTS}</div></div>'
    cards = []
    for n, h in enumerate(result.hits, start=1):
        c = h.chunk
        path = heading_label(c.heading_path, c.title)
        cards.append(
            f'<div class="pqa-card"{open_attrs(n - 1)}>'
            f'<span class="pqa-score" title="score {h.score:.4f}">{strength_label(h, result)}'
            + (f" · {found_by(h)}" if found_by(h) else "") + "</span>"
            f'<div class="pqa-card-title">{n}. {esc(shown(c.title, simplified))}</div>'
            + ('<div class="pqa-path">' + (f"{esc(h.library)} · " if h.library else "")
               + esc(shown(path, simplified)) + (f" · 第{h.page}页" if h.page else "") + "</div>"
               if path or h.page or h.library else "")
            + f'<div class="pqa-passage">{mark_terms(c.text, marked_query(result), simplified)}</div>'
            f'<div class="pqa-open-hint">{OPEN_HINT}</div>'
            "</div>"
        )
    notes = (("英文检索词按词典对应为：", result.translated_terms),
             ("口语说法同时按公文用语检索：", result.expanded_terms))
    note = "".join(f'<div class="pqa-path">{label}{esc("、".join(terms))}</div>' for label, terms in notes if terms)
    if result.abstained:  # the verdict ask declines on: no direct answer, nearest passages below
        note = f'<div class="pqa-empty">{NOT_COVERED}</div>' + note
    return f'<div class="pqa-results">{note}{"".join(cards)}</div>'


def search_query(engine: EngineLike, query: str | None) -> str:
    return query_input(engine, query, "请输入要检索的内容。", "检索内容")


def run_search(engine: EngineLike, query: str, doc_type: str = ALL, year: str = ALL, region: str = ALL,
               doc_id: str = ALL, k: int = 10, progress: Callable | None = None) -> SearchResult:
    query = search_query(engine, query)
    if progress:
        progress(0.3, desc="检索中…")
    return engine.search(query, k=int(k), filters=make_filters(doc_type, year, region, doc_id))


def hit_ref(h: Hit) -> dict:
    c = h.chunk
    return {"doc_id": c.doc_id, "source": c.source, "start": c.start, "end": c.end}


@dataclass
class SearchTab:
    filters: list[gr.Dropdown]  # type, year, region, document (refreshed after library changes)
    refs: gr.State  # ``hit_ref`` of each result, in order
    results: gr.HTML  # the result cards; clicking one opens it (``DocumentOpener.connect_clicks``)
    last: gr.State  # the latest SearchResult, re-rendered when 显示为简体 changes


def build_search_tab(engine: EngineLike, simplified: gr.Checkbox) -> SearchTab:
    """The 检索 tab's components (inside the current ``gr.Tab``) and its search events;
    ``simplified`` is the page's 显示为简体 setting."""
    choices = facet_choices(engine)
    limit = engine.settings.max_query_chars
    with gr.Row():
        query = gr.Textbox(elem_id="search-input", label="检索内容", scale=5, min_width=280, max_length=limit,
                           placeholder="关键词、问题或一段草稿文字")
        k = gr.Slider(1, 30, value=engine.settings.k or 10, step=1, label="结果数", elem_id="search-k", scale=1)
    limit_note(query, limit, "search-limit")
    with gr.Row():
        filters = [gr.Dropdown(choices[key], value=ALL, label=label, elem_id=elem_id) for key, label, elem_id in (
            ("doc_type", "文档类型", "filter-type"), ("year", "年份", "filter-year"),
            ("region", "地区", "filter-region"), ("doc", "文档", "filter-doc"))]
    button = gr.Button("检索", elem_id="search-btn", variant="primary")
    results = gr.HTML("", elem_id="search-results", css_template=CSS, js_on_load=OPEN_JS)
    refs, last = gr.State([]), gr.State(None)

    @guard
    def on_search(q, t, y, r, d, kk, simp, progress=gr.Progress()):
        result = run_search(engine, q, t, y, r, d, kk, progress)
        return results_html(result, simp), [hit_ref(h) for h in result.hits], result

    inputs, outputs = [query, *filters, k, simplified], [results, refs, last]
    checked = text_validator(lambda q: search_query(engine, q))
    query.submit(on_search, inputs, outputs, validator=checked, **PRIVATE)
    button.click(on_search, inputs, outputs, validator=checked, **PRIVATE)
    simplified.change(lambda simp, result: gr.update() if result is None else results_html(result, simp),
                      [simplified, last], [results], **PRIVATE)
    return SearchTab(filters, refs, results, last)
