"""The 检索 tab: filtered search, results with the query's terms marked."""

from __future__ import annotations

import re
from typing import Callable

from ..text import bigrams, matching_copy, strip_question_words
from ..types import Hit, SearchResult
from .common import ALL, NO_RESULTS, _short, esc, heading_label, make_filters, mark_spans, required


def query_terms(query: str) -> list[str]:
    """Folded, lower-cased terms to mark: CJK bigrams and Latin words (an English query's
    Chinese translations are passed in as extra words, space-separated)."""
    folded = strip_question_words(query)
    terms = set(re.findall(r"[a-z0-9]{2,}", folded)) | set(bigrams(folded, cjk_only=True))
    return sorted(terms)


def mark_terms(text: str, query: str) -> str:
    """Escaped ``text`` with the query's terms wrapped in ``<mark>`` (matching on a
    same-length folded copy, showing the original characters)."""
    terms = query_terms(query)
    if not terms or not text:
        return esc(text)
    folded = matching_copy(text).lower()
    hits = sorted((m.start(), m.end()) for t in terms for m in re.finditer(re.escape(t), folded))
    merged: list[tuple[int, int]] = []
    for a, b in hits:  # overlapping or touching matches become one mark
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return mark_spans(text, 0, merged)


def marked_query(result: SearchResult) -> str:
    """What to mark in the results: the query, plus the Chinese words an English query
    was translated to and the official words searched for a Chinese query's everyday
    expressions (so a user sees why a passage matched)."""
    return " ".join((result.query,) + result.translated_terms + result.expanded_terms)


def results_html(result: SearchResult) -> str:
    if result.abstained or not result.hits:
        return f'<div class="pqa-results"><div class="pqa-empty">{NO_RESULTS}</div></div>'
    cards = []
    for n, h in enumerate(result.hits, start=1):
        c = h.chunk
        path = heading_label(c.heading_path, c.title)
        cards.append(
            '<div class="pqa-card">'
            f'<span class="pqa-score">相关度 {h.score:.3f}</span>'
            f'<div class="pqa-card-title">{n}. {esc(c.title)}</div>'
            + (f'<div class="pqa-path">{esc(path)}</div>' if path else "")
            + f'<div class="pqa-passage">{mark_terms(c.text, marked_query(result))}</div>'
            "</div>"
        )
    notes = (("英文检索词按词典对应为：", result.translated_terms),
             ("口语说法同时按公文用语检索：", result.expanded_terms))
    note = "".join(f'<div class="pqa-path">{label}{esc("、".join(terms))}</div>' for label, terms in notes if terms)
    return f'<div class="pqa-results">{note}{"".join(cards)}</div>'


def result_choices(result: SearchResult) -> list[tuple[str, str]]:
    out = []
    for n, h in enumerate(result.hits, start=1):
        path = heading_label(h.chunk.heading_path, h.chunk.title)
        out.append((_short(f"{n}. {h.chunk.title}" + (f" › {path}" if path else ""), 60), str(n - 1)))
    return out


def run_search(engine, query: str, doc_type: str = ALL, year: str = ALL, region: str = ALL,
               doc_id: str = ALL, k: int = 10, progress: Callable | None = None) -> SearchResult:
    query = required(query, "请输入要检索的内容。")
    if progress:
        progress(0.3, desc="检索中…")
    return engine.search(query, k=int(k), filters=make_filters(doc_type, year, region, doc_id))


def hit_ref(h: Hit) -> dict:
    c = h.chunk
    return {"doc_id": c.doc_id, "source": c.source, "start": c.start, "end": c.end}
