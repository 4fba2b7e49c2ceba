"""The 文档 tab: a document with its outline, a cited span highlighted; and the one way the
other tabs open a passage in it (``DocumentOpener``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gradio as gr

from ..errors import PolicyQAError
from ..types import Citation, Document
from .common import CSS, PRIVATE, _short, esc, facet_choices, guard, shown
from .protocol import EngineLike

# Scroll the highlighted passage into view when the view mounts (the 文档 tab is rendered on
# first show) and whenever its value changes afterwards.
_SCROLL_JS = (
    "const pqaScroll = () => setTimeout(() => {"
    " const m = element.querySelector('mark.pqa-hit');"
    " if (m) { m.scrollIntoView({block: 'center'}); } }, 60);"
    " pqaScroll(); watch('value', pqaScroll);"
)

# An outline entry scrolls the document view to its heading and flashes it (the view and
# the outline are separate components; the block ids are ours: pqa-b-<n>).
_OUTLINE_JS = (
    "element.addEventListener('click', (e) => {"
    " const a = e.target.closest('a[data-pqa-block]');"
    " if (!a || !element.contains(a)) return;"
    " const b = document.querySelector('#doc-view #' + a.dataset.pqaBlock);"
    " if (!b) return;"
    " e.preventDefault(); b.scrollIntoView({block: 'start'});"
    " b.classList.add('pqa-flash'); setTimeout(() => b.classList.remove('pqa-flash'), 1500); });"
)


def find_document(engine: EngineLike, doc_id: str | None = None, source: str | None = None,
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


_SENTENCE_END = ("。", "！", "？", "；", "!", "?", ";")
OUTLINE_MAX_CHARS = 40  # a heading line longer than this is a numbered sentence, not a title


def outline_heading(line: str) -> bool:
    """Whether a heading block reads as a title (一、总体目标) rather than a numbered
    sentence (1.完成44所标准化学校建设。): only titles go into the outline."""
    line = line.strip()
    return bool(line) and not line.endswith(_SENTENCE_END) and len(line) <= OUTLINE_MAX_CHARS


def render_document(engine: EngineLike, doc_id: str | None, span: tuple[int, int] | None = None,
                    simplified: bool = False) -> tuple[str, str]:
    """(outline HTML, document HTML) with ``span`` highlighted; all text escaped. With
    ``simplified`` each block is shown converted as a whole when that keeps its length (so the
    highlight still covers the cited characters), else as written (``common.shown``)."""
    doc = find_document(engine, doc_id)
    if doc is None:
        empty = '<div class="pqa-empty">请选择文档。</div>'
        return empty, empty
    text = engine.source_text(doc.source)
    meta = doc.metadata
    facts = [x for x in (meta.doc_type, meta.year, meta.region, meta.date) if x]
    parts = [
        f'<div class="pqa-title">{esc(shown(doc.title, simplified))}</div>',
        f'<div class="pqa-meta">{esc(" · ".join(str(x) for x in facts))}'
        f'{" · " if facts else ""}{esc(doc.source)}</div>',
    ]
    outline = ['<div class="pqa-outline">']
    first_mark = True
    for i, (s, e, kind, depth) in enumerate(_segments(doc, span)):
        block = shown(text[s:e], simplified)  # same length as text[s:e]
        if span and s < span[1] and span[0] < e:
            a, b = max(s, span[0]) - s, min(e, span[1]) - s
            mark_id = ' id="pqa-hit"' if first_mark else ""
            first_mark = False
            inner = (esc(block[:a]) + f'<mark class="pqa-hit"{mark_id}>' + esc(block[a:b])
                     + "</mark>" + esc(block[b:]))
        else:
            inner = esc(block)
        cls = "pqa-h" if kind == "heading" and outline_heading(text[s:e]) else "pqa-p"
        parts.append(f'<div class="{cls}" id="pqa-b-{i}">{inner}</div>')
        if kind == "heading" and outline_heading(text[s:e]):
            outline.append(f'<a href="#pqa-b-{i}" data-pqa-block="pqa-b-{i}" class="pqa-l{min(depth, 4)}">{esc(_short(block, 40))}</a>')
    parts[2:2] = [page_figure(engine, doc.source, span)] if span else []
    if len(outline) == 1:
        outline.append('<div class="pqa-empty">（无标题结构）</div>')
    outline.append("</div>")
    return "".join(outline), f'<div class="pqa-doc">{"".join(parts)}</div>'


def page_figure(engine: EngineLike, source: str, span: tuple[int, int]) -> str:
    """The cited lines boxed on the scanned page's image (an inline JPEG), above the text; empty
    for a passage OCR did not read."""
    region = engine.page_region(source, int(span[0]), int(span[1]))
    if region is None:
        return ""
    data = base64.b64encode(region.image).decode("ascii")
    label = f"原件第{region.page}页（框出引用的{len(region.boxes)}行）"
    return (f'<details class="pqa-page" open><summary>{esc(label)}</summary>'
            f'<img class="pqa-page-img" alt="{esc(label)}" width="{region.width}" height="{region.height}" '
            f'src="data:image/jpeg;base64,{data}"></details>')


def open_citation(engine: EngineLike, citation: Citation | dict, simplified: bool = False) -> tuple[str, str, str]:
    """(doc_id, outline HTML, document HTML) for a citation or search hit."""
    c = citation if isinstance(citation, dict) else {
        "doc_id": citation.doc_id, "source": citation.source,
        "start": citation.start, "end": citation.end}
    doc = find_document(engine, c.get("doc_id"), c["source"], c["start"])
    if doc is None:
        raise PolicyQAError(f"{c['source']}: 找不到包含该引用的文档，请重建索引后再试。")
    outline, body = render_document(engine, doc.doc_id, (c["start"], c["end"]), simplified)
    return doc.doc_id, outline, body


def open_item(engine: EngineLike, refs: Sequence[Citation | dict] | None, choice: Any,
              simplified: bool = False) -> tuple[str, str, str]:
    """``open_citation`` of item ``choice`` (its index, as a number or text) of ``refs``.
    Nothing chosen, or an item that is no longer there (the list was replaced), is a message."""
    if choice is None or str(choice).strip() == "":
        raise PolicyQAError("请先选择要打开的一项。")
    refs = list(refs or [])
    i = int(choice)
    if not 0 <= i < len(refs):
        raise PolicyQAError("这一项已不在当前结果中，请重新查询后再打开。")
    return open_citation(engine, refs[i], simplified)


def shown_ref(doc_id: str, citation: Citation | dict | None) -> dict:
    """What the view shows (a document, and the span highlighted), kept to re-render it."""
    if citation is None:
        return {"doc_id": doc_id, "span": None}
    c = citation if isinstance(citation, dict) else {"start": citation.start, "end": citation.end}
    return {"doc_id": doc_id, "span": [int(c["start"]), int(c["end"])]}


@dataclass
class DocumentTab:
    select: gr.Dropdown
    outline: gr.HTML
    view: gr.HTML
    simplified: gr.Checkbox  # the page's 显示为简体 setting
    showing: gr.State  # ``shown_ref`` of what the view shows


def build_document_tab(engine: EngineLike, simplified: gr.Checkbox) -> DocumentTab:
    """The 文档 tab's components (inside the current ``gr.Tab``), its selector's event, and
    re-rendering when the page's 显示为简体 setting (``simplified``) changes."""
    select = gr.Dropdown(facet_choices(engine)["doc"][1:], value=None, label="选择文档", elem_id="doc-select")
    with gr.Row():
        with gr.Column(scale=1, min_width=200):
            outline = gr.HTML('<div class="pqa-empty">标题结构</div>', elem_id="doc-outline",
                              css_template=CSS, js_on_load=_OUTLINE_JS, max_height=640)
        with gr.Column(scale=3):
            view = gr.HTML('<div class="pqa-empty">请选择文档，或在问答/检索中点击引用。</div>',
                           elem_id="doc-view", css_template=CSS, js_on_load=_SCROLL_JS, max_height=640)
    showing = gr.State(None)

    @guard
    def on_select(doc_id, simp):
        return (*render_document(engine, doc_id, None, simp), shown_ref(doc_id, None) if doc_id else None)

    @guard
    def on_script(simp, now):
        if not now:
            return gr.update(), gr.update()
        return render_document(engine, now["doc_id"], tuple(now["span"]) if now.get("span") else None, simp)

    select.input(on_select, [select, simplified], [outline, view, showing], **PRIVATE)
    simplified.change(on_script, [simplified, showing], [outline, view], **PRIVATE)
    return DocumentTab(select, outline, view, simplified, showing)


@dataclass
class DocumentOpener:
    """Opens an item of another tab's list (citation, search hit, compare row, precedent) in
    the 文档 tab at its passage: switches to the tab, selects the document, highlights."""

    engine: EngineLike
    tabs: gr.Tabs
    doc: DocumentTab

    @property
    def outputs(self) -> list[Any]:
        return [self.tabs, self.doc.select, self.doc.outline, self.doc.view, self.doc.showing]

    def updates(self, refs: Sequence[Citation | dict] | None, choice: Any, simplified: bool = False) -> list[Any]:
        doc_id, outline, body = open_item(self.engine, refs, choice, simplified)
        return [gr.Tabs(selected="doc"), gr.update(value=doc_id), outline, body,
                shown_ref(doc_id, list(refs or [])[int(choice)])]

    def connect_clicks(self, html: gr.HTML, state: gr.State,
                       pick: Callable[[Any, dict], tuple[Sequence[Citation | dict], Any]] | None = None) -> None:
        """Open an item when it is clicked in ``html``, a rendered list whose items carry
        ``common.open_attrs`` (their index in the list held by ``state``) and which runs
        ``common.OPEN_JS``; ``pick(state value, event data)`` gives (list, index) otherwise
        (the chat's ``[n]`` markers: ``qa.turn_citations``)."""
        choose = pick or (lambda items, data: (items, data.get("index")))

        def on_click(value, simplified, evt: gr.EventData):
            return self.updates(*choose(value, evt._data if isinstance(evt._data, dict) else {}), simplified)

        html.click(guard(on_click), [state, self.doc.simplified], self.outputs, **PRIVATE)

    def connect(self, event: Callable, refs: gr.State, choice: gr.Dropdown | int) -> None:
        """Open on ``event`` (e.g. ``button.click``) item ``choice`` of the list in ``refs``:
        a fixed index, or the value of a dropdown of indices."""
        simplified = self.doc.simplified
        if isinstance(choice, int):
            index = choice
            event(guard(lambda items, simp: self.updates(items, index, simp)), [refs, simplified], self.outputs,
                  **PRIVATE)
        else:
            event(guard(lambda items, chosen, simp: self.updates(items, chosen, simp)), [refs, choice, simplified],
                  self.outputs, **PRIVATE)
