"""The 找先例 tab: passages of other documents similar to a draft, grouped by document."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import gradio as gr

from ..export import heading_label, precedents_docx_bytes, write_file
from .common import (CSS, NO_RESULTS, OPEN_HINT, OPEN_JS, PRIVATE, esc, guard, limit_note, mark_spans, open_attrs,
                     required, shown, text_validator, within)
from .protocol import EngineLike


def draft_text(engine: EngineLike, text: str | None) -> str:
    return within(required(text, "请粘贴一段正在起草的文字。"), engine.settings.max_draft_chars, "草稿")


def run_precedents(engine: EngineLike, text: str, k: int = 10, progress: Callable | None = None) -> dict:
    """Precedents for a draft as JSON (``engine.precedents(...).to_json()``)."""
    text = draft_text(engine, text)
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


def precedent_label(item: dict) -> str:
    """What a passage shares with the draft, in plain words instead of a similarity score:
    how many draft sentences have a counterpart in it, and how much of its wording the
    draft repeats (a share of shared character pairs)."""
    matched = {(m.get("draft_start"), m.get("draft_end")) if isinstance(m, dict) else tuple(m)
               for m in item.get("matches") or []}
    parts = [f"与草稿 {len(matched)} 句对应"] if matched else ["整体相似"]
    overlap = item.get("overlap")
    if overlap:
        parts.append(f"字面重合 {round(float(overlap) * 100)}%")
    return " · ".join(parts)


def precedent_groups(results: Sequence[dict]) -> list[tuple[dict, list[tuple[int, dict]]]]:
    """Results grouped by document, documents in order of their best passage; each passage
    keeps its overall rank (1-based)."""
    groups: dict[str, list[tuple[int, dict]]] = {}
    for n, r in enumerate(results, start=1):
        groups.setdefault(str(r.get("doc_id") or r.get("source")), []).append((n, r))
    return [(items[0][1], items) for items in groups.values()]


def precedents_html(result: dict, simplified: bool = False) -> str:
    """Passages grouped by document (each opens when clicked); ``simplified``: document text
    in simplified characters (``common.shown``)."""
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
                f'<div class="pqa-pass"{open_attrs(n - 1)}>'
                f'<span class="pqa-score" title="score {float(r.get("score") or 0):.4f}">{precedent_label(r)}</span>'
                f'<div class="pqa-path">{n}. {esc(shown(path, simplified)) if path else "（正文）"}'
                f' <span class="pqa-open-hint">{OPEN_HINT}</span></div>'
                f'<div class="pqa-passage">{mark_spans(text, int(r.get("start") or 0), _spans_of(r), simplified)}</div>'
                "</div>")
        out.append(
            '<div class="pqa-group">'
            f'<div class="pqa-group-title">{esc(shown(str(first.get("title") or ""), simplified))}'
            f'<span class="pqa-meta"> {esc(" · ".join(facts + [str(first.get("source") or "")]))}</span></div>'
            f'{"".join(passages)}</div>')
    return f'<div class="pqa-results">{"".join(out)}</div>'


def precedent_ref(item: dict) -> dict:
    return {"doc_id": item.get("doc_id"), "source": item["source"], "start": int(item["start"]),
            "end": int(item["end"])}


def write_precedents_docx(result: dict, draft: str = "", folder: str | Path | None = None) -> str:
    """The draft and its precedents as a Word file in a fresh temporary folder."""
    folder = Path(folder or tempfile.mkdtemp(prefix="pqa-precedents-"))
    return str(write_file(folder / "先例.docx", precedents_docx_bytes(result, draft)))


@dataclass
class PrecedentsTab:
    refs: gr.State  # ``precedent_ref`` of each passage, in order
    results: gr.HTML  # the passages; clicking one opens it (``DocumentOpener.connect_clicks``)
    last: gr.State  # the latest results (JSON), re-rendered when 显示为简体 changes


def build_precedents_tab(engine: EngineLike, simplified: gr.Checkbox) -> PrecedentsTab:
    """The 找先例 tab's components (inside the current ``gr.Tab``) and its search event;
    ``simplified`` is the page's 显示为简体 setting."""
    limit = engine.settings.max_draft_chars
    draft = gr.Textbox(elem_id="prec-input", label="起草中的段落或章节", lines=8, max_lines=30, max_length=limit,
                       placeholder="粘贴正在起草的一段文字，查找其他文件中相似的表述。")
    limit_note(draft, limit, "prec-limit")
    button = gr.Button("找先例", elem_id="prec-btn", variant="primary")
    results = gr.HTML("", elem_id="prec-results", css_template=CSS, js_on_load=OPEN_JS)
    export = gr.File(label="下载先例（Word）", elem_id="prec-docx", interactive=False, visible=False)
    refs, last = gr.State([]), gr.State(None)

    @guard
    def on_precedents(text, simp, progress=gr.Progress()):
        result = run_precedents(engine, text, progress=progress)
        items = list(result.get("results") or [])
        download = gr.update(value=write_precedents_docx(result, text), visible=True) if items else \
            gr.update(value=None, visible=False)
        return precedents_html(result, simp), [precedent_ref(r) for r in items], download, result

    button.click(on_precedents, [draft, simplified], [results, refs, export, last],
                 validator=text_validator(lambda t: draft_text(engine, t)), **PRIVATE)
    simplified.change(lambda simp, result: gr.update() if result is None else precedents_html(result, simp),
                      [simplified, last], [results], **PRIVATE)
    return PrecedentsTab(refs, results, last)
