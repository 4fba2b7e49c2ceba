"""The Gradio web app: 问答 (cited answers), 检索 (filtered search), 文档 (document view),
对比 (one row per document on a target topic, CSV export), 找先例 (precedents for a draft),
文库 (library: list, upload, remove, reindex).

``build_app(engine)`` builds the page without starting a server; the handlers behind it are
plain functions (``ask_turn``, ``run_search``, ``open_citation``, ``render_document`` …) that
tests call directly. ``serve(settings)`` opens the engine (building the index if needed) and
launches the page.

Safety: document text, titles and queries are untrusted. Every piece of them is passed
through ``esc`` (``html.escape`` plus the template characters ``$ { }``) and only our own tags
are added. The chatbot renders neither Markdown nor LaTeX (``render_markdown=False``,
``latex_delimiters=[]``) and still sanitises HTML, so a ``[x](javascript:…)`` link or
``<img onerror=…>`` in a document shows as the plain characters.
"""

from __future__ import annotations

import csv
import functools
import html
import tempfile
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from .clean import matching_copy
from .config import Settings
from .errors import PolicyQAError
from .types import Answer, Citation, Document, Filters, Hit, SearchResult

log = logging.getLogger(__name__)

MAX_CITES = 8
ALL = ""  # dropdown value meaning "no filter"
NO_RESULTS = "没有找到相关内容"

CSS = """
.pqa-doc{white-space:pre-wrap;line-height:1.8;font-size:15px}
.pqa-doc .pqa-h{font-weight:600;margin-top:.6em}
.pqa-doc .pqa-title{font-size:1.2em;font-weight:700;margin-bottom:.4em}
.pqa-doc mark.pqa-hit{background:#ffe066;padding:0 1px;scroll-margin:80px}
.pqa-meta{color:#666;font-size:13px;margin-bottom:.6em}
.pqa-outline{font-size:14px;line-height:1.7;text-align:left}
.pqa-outline a{text-decoration:none;color:inherit;display:block}
.pqa-outline a:hover{text-decoration:underline}
.pqa-results .pqa-card{border:1px solid #ddd;border-radius:8px;padding:10px 12px;margin:8px 0}
.pqa-results .pqa-card-title{font-weight:600}
.pqa-results .pqa-path{color:#555;font-size:13px}
.pqa-results .pqa-passage{white-space:pre-wrap;margin-top:6px;line-height:1.7}
.pqa-results mark{background:#ffe066;padding:0}
.pqa-results .pqa-score{color:#888;font-size:12px;float:right}
.pqa-empty{color:#666;padding:12px}
.pqa-table{border-collapse:collapse;width:100%;font-size:14px}
.pqa-table th,.pqa-table td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.pqa-table th{background:#f5f5f5;font-weight:600;white-space:nowrap}
.pqa-table td.pqa-num{text-align:right;white-space:nowrap}
.pqa-msg{line-height:1.7;font-size:14px}
.pqa-msg .pqa-bad{color:#b42318}
.pqa-msg ul{margin:2px 0 6px 1.2em;padding:0}
.pqa-table td.pqa-phrasing{min-width:280px;line-height:1.6}
.pqa-table mark{background:#ffe066;padding:0}
.pqa-nonum{color:#888}
.pqa-group{border:1px solid #ddd;border-radius:8px;padding:8px 12px;margin:10px 0}
.pqa-group-title{font-weight:700;margin-bottom:4px}
.pqa-group .pqa-pass{border-top:1px dashed #e3e3e3;padding:6px 0}
.pqa-group .pqa-pass:first-of-type{border-top:none}
"""

# Scroll the highlighted passage into view when the view mounts (the 文档 tab is rendered on
# first show) and whenever its value changes afterwards.
_SCROLL_JS = (
    "const pqaScroll = () => setTimeout(() => {"
    " const m = element.querySelector('mark.pqa-hit');"
    " if (m) { m.scrollIntoView({block: 'center'}); } }, 60);"
    " pqaScroll(); watch('value', pqaScroll);"
)


# ---------------------------------------------------------------------------- escaping


def esc(text: Any) -> str:
    """Escape untrusted text for HTML (and for Gradio's HTML templates)."""
    return (
        html.escape(str(text), quote=True)
        .replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
    )


def esc_lines(text: str) -> str:
    return esc(text).replace("\n", "<br>")


def heading_label(path: Sequence[str], title: str = "") -> str:
    """The " › "-joined heading path, without a leading part the title already says (篇二)."""
    parts = [p.strip() for p in path if p.strip()]
    if parts and title and title.strip().endswith(parts[0]):
        parts = parts[1:]
    return " › ".join(parts)


def _short(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------- errors


def guard(fn: Callable) -> Callable:
    """Turn PolicyQAError into a message on the page; never show a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except PolicyQAError as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # noqa: BLE001 - logged, shown as a short message
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"处理请求时出错（{type(e).__name__}），详情见服务器日志。") from None

    return wrapper


# ---------------------------------------------------------------------------- filters


def make_filters(doc_type: str | None = None, year: Any = None, region: str | None = None,
                 doc_id: str | None = None) -> Filters | None:
    year_value: int | None = None
    if year not in (None, "", ALL):
        try:
            year_value = int(year)
        except (TypeError, ValueError):
            raise PolicyQAError(f"年份应为数字（收到 {year!r}）") from None
    f = Filters(doc_type=doc_type or None, year=year_value, region=region or None, doc_id=doc_id or None)
    return None if f.is_empty() else f


def facet_choices(engine) -> dict[str, list[tuple[str, str]]]:
    facets = engine.facets()
    first = [("全部", ALL)]
    return {
        "doc_type": first + [(str(x), str(x)) for x in facets.get("doc_type", [])],
        "year": first + [(str(x), str(x)) for x in facets.get("year", [])],
        "region": first + [(str(x), str(x)) for x in facets.get("region", [])],
        "doc": first + [(_short(str(t), 60), str(d)) for t, d in facets.get("doc", [])],
    }


# ---------------------------------------------------------------------------- 问答


def citation_label(c: Citation) -> str:
    """Plain text (rendered as text by the button) for a citation."""
    path = heading_label(c.heading_path, c.title)
    return _short(f"[{c.n}] {c.title}" + (f" › {path}" if path else ""), 48)


def answer_messages(answer: Answer) -> list[dict]:
    """Chat messages for one answer: the answer, then one collapsible item per source."""
    msgs = [{"role": "assistant", "content": esc_lines(answer.answer)}]
    for c in answer.citations:
        path = heading_label(c.heading_path, c.title)
        title = f"[{c.n}] {c.title}" + (f" › {path}" if path else "")
        content = (
            f"<div><b>{esc(c.title)}</b></div>"
            + (f"<div>{esc(path)}</div>" if path else "")
            + f"<div>{esc_lines(c.text)}</div>"
            + f"<div><small>{esc(c.source)} [{c.start}:{c.end}]</small></div>"
        )
        msgs.append({"role": "assistant", "content": content,
                     "metadata": {"title": esc(title), "status": "done"}})
    return msgs


def cite_button_updates(citations: Sequence[Citation]) -> list[Any]:
    ups = []
    for i in range(MAX_CITES):
        if i < len(citations):
            ups.append(gr.update(value=citation_label(citations[i]), visible=True))
        else:
            ups.append(gr.update(value="", visible=False))
    return ups


def ask_turn(engine, question: str, history: list[dict] | None,
             progress: Callable | None = None) -> tuple[list[dict], list[Citation], Answer | None]:
    """One chat turn: the new history (our own escaped messages) and the answer's citations."""
    history = list(history or [])
    question = (question or "").strip()
    if not question:
        return history, [], None
    if progress:
        progress(0.2, desc="检索相关段落…")
    answer = engine.ask(question)
    if progress:
        progress(1.0, desc="完成")
    history.append({"role": "user", "content": esc_lines(question)})
    history.extend(answer_messages(answer))
    return history, list(answer.citations), answer


# ---------------------------------------------------------------------------- 文档


def find_document(engine, doc_id: str | None = None, source: str | None = None,
                  pos: int | None = None) -> Document | None:
    docs = engine.documents()
    if doc_id:
        for d in docs:
            if d.doc_id == doc_id:
                return d
    if source is not None:
        for d in docs:
            if d.source == source and (pos is None or d.start <= pos < max(d.end, d.start + 1)):
                return d
        for d in docs:
            if d.source == source:
                return d
    return None


def _segments(doc: Document, span: tuple[int, int] | None) -> list[tuple[int, int, str, int]]:
    """(start, end, kind, depth) runs of the document's own text; a cited span outside every
    block is added as its own run so it can still be shown."""
    segs = [(b.start, b.end, b.kind, len(b.heading_path)) for b in doc.blocks if b.end > b.start]
    if not segs:
        segs = [(doc.start, doc.end, "text", 0)]
    if span and not any(s < span[1] and span[0] < e for s, e, _, _ in segs):
        segs.append((span[0], span[1], "text", 0))
    return sorted(segs)


def render_document(engine, doc_id: str | None, span: tuple[int, int] | None = None) -> tuple[str, str]:
    """(outline HTML, document HTML) with ``span`` highlighted; all text escaped."""
    doc = find_document(engine, doc_id)
    if doc is None:
        empty = '<div class="pqa-empty">请选择文档。</div>'
        return empty, empty
    text = engine.source_text(doc.source)
    meta = doc.metadata
    facts = [x for x in (meta.doc_type, meta.year, meta.region, meta.date) if x]
    parts = [
        f'<div class="pqa-title">{esc(doc.title)}</div>',
        f'<div class="pqa-meta">{esc(" · ".join(str(x) for x in facts))}'
        f'{" · " if facts else ""}{esc(doc.source)}</div>',
    ]
    outline = ['<div class="pqa-outline" style="text-align:left">']
    first_mark = True
    for i, (s, e, kind, depth) in enumerate(_segments(doc, span)):
        if span and s < span[1] and span[0] < e:
            a, b = max(s, span[0]), min(e, span[1])
            mark_id = ' id="pqa-hit"' if first_mark else ""
            first_mark = False
            inner = (esc(text[s:a]) + f'<mark class="pqa-hit"{mark_id}>' + esc(text[a:b])
                     + "</mark>" + esc(text[b:e]))
        else:
            inner = esc(text[s:e])
        cls = "pqa-h" if kind == "heading" else "pqa-p"
        parts.append(f'<div class="{cls}" id="pqa-b-{i}">{inner}</div>')
        if kind == "heading":
            indent = max(0, depth - 1) * 14
            outline.append(f'<a href="#pqa-b-{i}" style="padding-left:{indent}px">'
                           f"{esc(_short(text[s:e], 40))}</a>")
    if len(outline) == 1:
        outline.append('<div class="pqa-empty">（无标题结构）</div>')
    outline.append("</div>")
    return "".join(outline), f'<div class="pqa-doc">{"".join(parts)}</div>'


def open_citation(engine, citation: Citation | dict) -> tuple[str, str, str]:
    """(doc_id, outline HTML, document HTML) for a citation or search hit."""
    c = citation if isinstance(citation, dict) else {
        "doc_id": citation.doc_id, "source": citation.source,
        "start": citation.start, "end": citation.end}
    doc = find_document(engine, c.get("doc_id"), c["source"], c["start"])
    if doc is None:
        raise PolicyQAError(f"{c['source']}: 找不到包含该引用的文档，请重建索引后再试。")
    outline, body = render_document(engine, doc.doc_id, (c["start"], c["end"]))
    return doc.doc_id, outline, body


# ---------------------------------------------------------------------------- 检索


_QUERY_NOISE = re.compile(r"什么|哪些|怎么|怎样|如何|多少|是否|有没有|请问|[的了吗呢吧？?，,。、\s]")


def query_terms(query: str) -> list[str]:
    """Folded, lower-cased terms to mark: CJK bigrams and Latin words."""
    folded = _QUERY_NOISE.sub(" ", matching_copy(query).lower())
    terms: set[str] = set()
    for word in re.findall(r"[a-z0-9]{2,}", folded):
        terms.add(word)
    for run in re.findall(r"[\u3400-\u9fff]+", folded):
        if len(run) == 1:
            continue
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
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
            + f'<div class="pqa-passage">{mark_terms(c.text, result.query)}</div>'
            "</div>"
        )
    return f'<div class="pqa-results">{"".join(cards)}</div>'


def result_choices(result: SearchResult) -> list[tuple[str, str]]:
    out = []
    for n, h in enumerate(result.hits, start=1):
        path = heading_label(h.chunk.heading_path, h.chunk.title)
        out.append((_short(f"{n}. {h.chunk.title}" + (f" › {path}" if path else ""), 60), str(n - 1)))
    return out


def run_search(engine, query: str, doc_type: str = ALL, year: str = ALL, region: str = ALL,
               doc_id: str = ALL, k: int = 10, progress: Callable | None = None) -> SearchResult:
    query = (query or "").strip()
    if not query:
        raise PolicyQAError("请输入要检索的内容。")
    if progress:
        progress(0.3, desc="检索中…")
    return engine.search(query, k=int(k), filters=make_filters(doc_type, year, region, doc_id))


def hit_ref(h: Hit) -> dict:
    c = h.chunk
    return {"doc_id": c.doc_id, "source": c.source, "start": c.start, "end": c.end}


# ---------------------------------------------------------------------------- 对比


COMPARE_COLUMNS = ("#", "文档", "地区", "年份", "表述", "指标", "比较", "数值", "期限")
CSV_COLUMNS = ("文档", "地区", "年份", "表述", "指标", "比较", "数值", "单位", "期限", "来源文件", "起", "止")
NO_NUMBER = "（未给出数值）"


def _fmt_number(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def value_text(row: dict) -> str:
    """"90%" / "44所" / "x所" (placeholder) / "" when the row states no number."""
    shown = row.get("value_text")
    if not shown:
        shown = _fmt_number(row.get("value"))
        if shown and row.get("value_max") not in (None, ""):
            shown += "-" + _fmt_number(row["value_max"])
    if not shown and row.get("placeholder"):
        shown = "x"
    unit = str(row.get("unit") or "")
    if shown and unit and not str(shown).endswith(unit):
        shown = f"{shown}{unit}"
    return str(shown or "")


def run_compare(engine, topic: str, max_rows: int = 20, progress: Callable | None = None) -> dict:
    """The comparison table for ``topic`` as JSON (``engine.compare(...).to_json()``)."""
    topic = (topic or "").strip()
    if not topic:
        raise PolicyQAError("请输入要对比的主题，例如：学前教育毛入园率。")
    if progress:
        progress(0.3, desc="检索并抽取各文档的目标…")
    return engine.compare(topic, max_rows=max_rows).to_json()


def _phrasing_html(row: dict) -> str:
    """The row's sentence, escaped, with its value marked when the offsets say where."""
    phrasing = str(row.get("phrasing") or "")
    vt = str(row.get("value_text") or "")
    if vt and vt in phrasing:
        i = phrasing.index(vt)
        return esc(phrasing[:i]) + f"<mark>{esc(vt)}</mark>" + esc(phrasing[i + len(vt):])
    return esc(phrasing)


def compare_html(table: dict) -> str:
    rows = table.get("rows") or []
    if not rows:
        return f'<div class="pqa-empty">{NO_RESULTS}：没有文档谈到“{esc(table.get("topic", ""))}”。</div>'
    head = "".join(f"<th>{esc(c)}</th>" for c in COMPARE_COLUMNS)
    body = []
    for n, r in enumerate(rows, start=1):
        value = value_text(r)
        value_cell = esc(value) if value else f'<span class="pqa-nonum">{NO_NUMBER}</span>'
        cells = [
            f'<td class="pqa-num">{n}</td>', f"<td>{esc(r.get('title') or '')}</td>",
            f"<td>{esc(r.get('region') or '')}</td>", f'<td class="pqa-num">{esc(r.get("year") or "")}</td>',
            f'<td class="pqa-phrasing">{_phrasing_html(r)}</td>', f"<td>{esc(r.get('indicator') or '')}</td>",
            f"<td>{esc(r.get('comparator') or '')}</td>", f'<td class="pqa-num">{value_cell}</td>',
            f"<td>{esc(r.get('deadline') or '')}</td>",
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    n_docs = len({r.get("doc_id") for r in rows})
    return (f'<div class="pqa-meta">“{esc(table.get("topic", ""))}”：{len(rows)} 行，来自 {n_docs} 篇文档。'
            "在下方选择一行可打开原文。</div>"
            f'<table class="pqa-table" id="compare-rows"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def compare_choices(table: dict) -> list[tuple[str, str]]:
    out = []
    for n, r in enumerate(table.get("rows") or [], start=1):
        facts = " · ".join(str(x) for x in (r.get("region"), r.get("year"), value_text(r)) if x)
        out.append((_short(f"{n}. {r.get('title') or r.get('source')}" + (f"（{facts}）" if facts else ""), 70),
                    str(n - 1)))
    return out


def _csv_cell(value: Any) -> Any:
    """Keep spreadsheet programs from reading document text as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def compare_csv_rows(table: dict) -> list[list[Any]]:
    out = []
    for r in table.get("rows") or []:
        out.append([_csv_cell(x) for x in (
            r.get("title"), r.get("region"), r.get("year"), r.get("phrasing"), r.get("indicator"),
            r.get("comparator"), _fmt_number(r.get("value")) or (NO_NUMBER if not r.get("placeholder") else "x"),
            r.get("unit"), r.get("deadline"), r.get("source"), r.get("start"), r.get("end"))])
    return out


def _csv_name(topic: str) -> str:
    stem = re.sub(r"[^\w\u3400-\u9fff]+", "_", topic).strip("_")[:40] or "compare"
    return f"对比_{stem}.csv"


def write_compare_csv(table: dict, folder: str | Path | None = None) -> str:
    """Write the table as CSV (UTF-8 with BOM, so Excel reads the Chinese) to a new file in
    a fresh temporary folder; returns its path."""
    folder = Path(folder or tempfile.mkdtemp(prefix="pqa-compare-"))
    path = folder / _csv_name(str(table.get("topic") or ""))
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        w.writerows(compare_csv_rows(table))
    return str(path)


def row_ref(row: dict) -> dict:
    """The citation of a compare row (its sentence) for ``open_citation``."""
    return {"doc_id": row.get("doc_id"), "source": row["source"], "start": int(row["start"]),
            "end": int(row["end"])}


# ---------------------------------------------------------------------------- 找先例


def run_precedents(engine, text: str, k: int = 10, progress: Callable | None = None) -> dict:
    """Precedents for a draft as JSON (``engine.precedents(...).to_json()``)."""
    text = (text or "").strip()
    if not text:
        raise PolicyQAError("请粘贴一段正在起草的文字。")
    if progress:
        progress(0.3, desc="查找相似段落…")
    return engine.precedents(text, k=int(k), exclude_self=True).to_json()


def _spans_of(item: dict) -> list[tuple[int, int, str]]:
    """Absolute [start, end) spans of the corpus sentences matching the draft's sentences,
    with the draft sentence each corresponds to ("" when not given)."""
    spans = []
    for m in item.get("matches") or []:
        if isinstance(m, dict):
            a, b, label = m.get("start"), m.get("end"), str(m.get("draft_sentence") or "")
        else:
            a, b, label = m[0], m[1], ""
        if a is not None and b is not None:
            spans.append((int(a), int(b), label))
    return spans


def mark_spans(text: str, base: int, spans: Sequence[tuple]) -> str:
    """Escaped ``text`` (which starts at offset ``base``) with the absolute ``spans`` marked;
    a span's optional third item (the draft sentence it answers) becomes the mark's tooltip."""
    owner = [-1] * len(text)
    for n, span in enumerate(spans):
        a, b = span[0], span[1]
        for i in range(max(a - base, 0), min(b - base, len(text))):
            if owner[i] < 0:
                owner[i] = n
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and owner[j] == owner[i]:
            j += 1
        piece = esc(text[i:j])
        if owner[i] >= 0:
            label = spans[owner[i]][2] if len(spans[owner[i]]) > 2 else ""
            tip = f' title="对应草稿：{esc(label)}"' if label else ""
            piece = f"<mark{tip}>{piece}</mark>"
        out.append(piece)
        i = j
    return "".join(out)


def precedent_groups(results: Sequence[dict]) -> list[tuple[dict, list[tuple[int, dict]]]]:
    """Results grouped by document, documents in order of their best passage; each passage
    keeps its overall rank (1-based)."""
    groups: dict[str, list[tuple[int, dict]]] = {}
    for n, r in enumerate(results, start=1):
        groups.setdefault(str(r.get("doc_id") or r.get("source")), []).append((n, r))
    return [(items[0][1], items) for items in groups.values()]


def precedents_html(result: dict) -> str:
    results = result.get("results") or []
    if not results:
        return f'<div class="pqa-results"><div class="pqa-empty">{NO_RESULTS}</div></div>'
    out = []
    for first, items in precedent_groups(results):
        meta = first.get("metadata") if isinstance(first.get("metadata"), dict) else first
        facts = [str(x) for x in (meta.get("region"), meta.get("year")) if x]
        if any(r.get("from_source") for _, r in items):
            facts.append("疑似草稿出处")
        passages = []
        for n, r in items:
            path = heading_label(r.get("heading_path") or [], r.get("title") or "")
            text = str(r.get("text") or "")
            passages.append(
                '<div class="pqa-pass">'
                f'<span class="pqa-score">相似度 {float(r.get("score") or 0):.3f}</span>'
                f'<div class="pqa-path">{n}. {esc(path) if path else "（正文）"}</div>'
                f'<div class="pqa-passage">{mark_spans(text, int(r.get("start") or 0), _spans_of(r))}</div>'
                "</div>")
        out.append(
            '<div class="pqa-group">'
            f'<div class="pqa-group-title">{esc(first.get("title") or "")}'
            f'<span class="pqa-meta"> {esc(" · ".join(facts + [str(first.get("source") or "")]))}</span></div>'
            f'{"".join(passages)}</div>')
    return f'<div class="pqa-results">{"".join(out)}</div>'


def precedent_choices(result: dict) -> list[tuple[str, str]]:
    out = []
    for n, r in enumerate(result.get("results") or [], start=1):
        path = heading_label(r.get("heading_path") or [], r.get("title") or "")
        out.append((_short(f"{n}. {r.get('title')}" + (f" › {path}" if path else ""), 70), str(n - 1)))
    return out


def precedent_ref(item: dict) -> dict:
    return {"doc_id": item.get("doc_id"), "source": item["source"], "start": int(item["start"]),
            "end": int(item["end"])}


# ---------------------------------------------------------------------------- 文库


LIBRARY_COLUMNS = ("标题", "类型", "年份", "地区", "源文件", "段落数", "索引时间")

_PROGRESS_ZH = (
    (re.compile(r"^reading corpus"), lambda m: "读取文库文件…"),
    (re.compile(r"^parsed (.*)"), lambda m: f"解析 {m.group(1)}"),
    (re.compile(r"^embedding (\d+)/(\d+)"), lambda m: f"计算向量 {m.group(1)}/{m.group(2)}"),
    (re.compile(r"^building lexical index"), lambda m: "建立检索索引…"),
    (re.compile(r"^building the index"), lambda m: "建立索引…"),
)


def progress_zh(message: str) -> str:
    """Engine progress messages (English, for the CLI) in Chinese for the page."""
    for pattern, make in _PROGRESS_ZH:
        m = pattern.match(message)
        if m:
            return make(m)
    return message


def engine_progress(progress: Callable | None) -> Callable[[str, float], None] | None:
    """Adapt a ``gr.Progress`` (fraction, desc=…) to the engine's ``(message, fraction)``."""
    if progress is None:
        return None

    def report(message: str, fraction: float) -> None:
        progress(max(0.0, min(1.0, float(fraction))), desc=progress_zh(message))

    return report


def format_time(ts: Any) -> str:
    """A unix time as local ``YYYY-MM-DD HH:MM`` ("" when unknown)."""
    if ts in (None, ""):
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(ts)))
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def library_rows(engine) -> list[list[str]]:
    """One row of display strings per indexed document, in ``LIBRARY_COLUMNS`` order."""
    rows = []
    for r in sorted(engine.library(), key=lambda r: (str(r.get("source", "")), str(r.get("title", "")))):
        rows.append([
            str(r.get("title") or ""), str(r.get("doc_type") or ""), str(r.get("year") or ""),
            str(r.get("region") or ""), str(r.get("source") or ""), str(r.get("chunks") or 0),
            format_time(r.get("indexed_at")),
        ])
    return rows


def library_html(engine) -> str:
    """The library table; every cell escaped."""
    rows = library_rows(engine)
    if not rows:
        return '<div class="pqa-empty">文库中还没有文档，请上传文件。</div>'
    head = "".join(f"<th>{esc(c)}</th>" for c in LIBRARY_COLUMNS)
    body = []
    for row in rows:
        cells = [f'<td class="pqa-num">{esc(v)}</td>' if i in (2, 5, 6) else f"<td>{esc(v)}</td>"
                 for i, v in enumerate(row)]
        body.append(f"<tr>{''.join(cells)}</tr>")
    n_docs, n_files = len(rows), len({r[4] for r in rows})
    return (f'<div class="pqa-meta">共 {n_docs} 篇文档，来自 {n_files} 个文件</div>'
            f'<table class="pqa-table" id="lib-rows"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def source_choices(engine) -> list[tuple[str, str]]:
    """(label, source) per indexed file, for the remove dropdown."""
    titles: dict[str, list[str]] = {}
    for r in engine.library():
        titles.setdefault(str(r["source"]), []).append(str(r.get("title") or ""))
    out = []
    for source in sorted(titles):
        t = titles[source]
        label = f"{source} — {t[0]}" + (f" 等 {len(t)} 篇" if len(t) > 1 else "")
        out.append((_short(label, 80), source))
    return out


def summary_html(summary: Any = None, saved: Sequence[tuple[str, str]] = (),
                 refused: Sequence[tuple[str, str]] = (), removed_source: str | None = None) -> str:
    """A Chinese report of an upload/remove/reindex; file names and reasons escaped."""
    parts: list[str] = []

    def section(title: str, items: Sequence[str], bad: bool = False) -> None:
        if items:
            cls = ' class="pqa-bad"' if bad else ""
            lis = "".join(f"<li>{x}</li>" for x in items)
            parts.append(f"<div{cls}>{esc(title)}（{len(items)}）：<ul>{lis}</ul></div>")

    section("已保存", [esc(new) + (f"（原文件名 {esc(orig)}，已改名）" if orig != new else "")
                      for orig, new in saved])
    section("未保存", [f"{esc(name)}：{esc(reason)}" for name, reason in refused], bad=True)
    if removed_source:
        parts.append(f"<div>已从文库删除：{esc(removed_source)}</div>")
    if summary is not None:
        section("新增", [esc(x) for x in summary.added])
        section("更新", [esc(x) for x in summary.updated])
        section("移除", [esc(x) for x in summary.removed])
        section("跳过", [f"{esc(x.get('source', ''))}：{esc(x.get('reason', ''))}" for x in summary.skipped],
                bad=True)
        if getattr(summary, "up_to_date", False) or not (summary.added or summary.updated or summary.removed):
            parts.append("<div>索引已是最新，无需更新。</div>")
        parts.append(f"<div>索引现有 {summary.files} 个文件、{summary.documents} 篇文档、"
                     f"{summary.chunks} 个段落（用时 {summary.seconds:.1f} 秒）。</div>")
    if not parts:
        parts.append("<div>没有要处理的文件。</div>")
    return f'<div class="pqa-msg">{"".join(parts)}</div>'


def upload_files(engine, paths: Sequence[Any] | None, progress: Callable | None = None) -> str:
    """Save each uploaded file into the corpus (names sanitised by the engine), reindex once,
    and report. Refused files are listed with their reason; the rest are still indexed."""
    paths = [p for p in (paths or []) if p]
    if not paths:
        raise PolicyQAError("请先选择要上传的文件。")
    limit = int(getattr(engine.settings, "max_file_bytes", 0) or 0)
    saved: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    for p in paths:
        path = Path(str(p))
        name = getattr(p, "orig_name", None) or path.name
        try:
            size = path.stat().st_size
            if limit and size > limit:
                raise PolicyQAError(f"文件大小 {size:,} 字节，超过上限 {limit:,} 字节（设置 max_file_bytes）")
            saved.append((name, engine.add_file(name, path.read_bytes())))
        except PolicyQAError as e:
            refused.append((name, str(e)))
        except OSError as e:
            refused.append((name, f"无法读取上传的文件（{type(e).__name__}）"))
    summary = engine.reindex(engine_progress(progress)) if saved else None
    return summary_html(summary, saved, refused)


def remove_document(engine, source: str | None, confirmed: bool, progress: Callable | None = None) -> str:
    """Delete a corpus file (after confirmation) and reindex."""
    if not source:
        raise PolicyQAError("请先选择要删除的文件。")
    if not confirmed:
        raise PolicyQAError("请先勾选“确认删除”，再点击删除。")
    engine.remove_source(source)
    summary = engine.reindex(engine_progress(progress))
    return summary_html(summary, removed_source=source)


def confirm_html(source: str) -> str:
    return (f'<div class="pqa-msg"><div class="pqa-bad">将删除文件 {esc(source)}：'
            "请先勾选“确认删除”，再点击删除。</div></div>")


def reindex_library(engine, progress: Callable | None = None) -> str:
    return summary_html(engine.reindex(engine_progress(progress)))


def _keep_value(value: Any, choices: list[tuple[str, str]], default: Any) -> Any:
    return value if value in {v for _, v in choices} else default


def document_list_updates(engine, current: Sequence[Any] = ()) -> list[Any]:
    """Updates for every component that lists documents or facets (search filters type/year/
    region/document, the document selector), so library changes show without a restart.
    ``current`` holds those components' values: kept where still offered, else reset."""
    ch = facet_choices(engine)
    cur = list(current) + [None] * (5 - len(current))
    keys = ("doc_type", "year", "region", "doc")
    ups = [gr.update(choices=ch[k], value=_keep_value(cur[i], ch[k], ALL)) for i, k in enumerate(keys)]
    ups.append(gr.update(choices=ch["doc"][1:], value=_keep_value(cur[4], ch["doc"][1:], None)))
    return ups


def library_updates(engine, current: Sequence[Any] = ()) -> list[Any]:
    """(table HTML, remove-dropdown update) + ``document_list_updates``."""
    return [library_html(engine), gr.update(choices=source_choices(engine), value=None)] \
        + document_list_updates(engine, current)


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
    from .loaders import SUPPORTED_SUFFIXES as supported_types
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


def stderr_progress(message: str, fraction: float) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


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
    from .api import Engine

    print(f"正在打开索引 {settings.index_dir}（语料 {settings.corpus}）…", file=sys.stderr, flush=True)
    engine = Engine.open(settings, build_if_needed=True, progress=stderr_progress)
    print(f"页面地址：http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    return launch(build_app(engine), settings, **launch_kwargs)
