"""What several tabs of the web app share: constants and page styles, escaping and marking,
the error guard, input checks and limits, search filters.

Safety: document text, titles and queries are untrusted. Every piece of them is passed
through ``esc`` (``html.escape`` plus the template characters ``$ { }``) and only our own tags
are added.
"""

from __future__ import annotations

import functools
import html
import inspect
import json
import logging
import re
from typing import Any, Callable, Sequence

import gradio as gr

from ..errors import PolicyQAError
from ..text import fold
from ..types import Filters
from .protocol import EngineLike

log = logging.getLogger("policyqa.web")

PRIVATE = {"api_visibility": "private"}  # page events that are not API endpoints
MAX_CITES = 8
ALL = ""  # dropdown value meaning "no filter"
NO_RESULTS = "没有找到相关内容"
NOT_COVERED = "文档中没有直接回答这个问题的内容；以下是最接近的段落，仅供参考。"

CSS = """
.pqa-doc{white-space:pre-wrap;line-height:1.8;font-size:15px}
.pqa-doc .pqa-h{font-weight:600;margin-top:.6em}
.pqa-doc .pqa-title{font-size:1.2em;font-weight:700;margin-bottom:.4em}
.pqa-doc .pqa-page{white-space:normal;margin:.4em 0 .8em}
.pqa-doc .pqa-page-img{max-width:100%;height:auto;border:1px solid #ccc}
.pqa-doc mark.pqa-hit{background:#ffe066;padding:0 1px;scroll-margin:80px}
.pqa-meta{color:#666;font-size:13px;margin-bottom:.6em}
.pqa-outline{font-size:14px;line-height:1.7;text-align:left}
.pqa-outline a{text-decoration:none;color:inherit;display:block;text-align:left}
.pqa-outline a.pqa-l2{padding-left:1.2em}.pqa-outline a.pqa-l3{padding-left:2.4em}.pqa-outline a.pqa-l4{padding-left:3.6em}
.pqa-outline a.pqa-l0,.pqa-outline a.pqa-l1{font-weight:600}
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
.pqa-limit{color:#b42318;font-size:13px}
[data-pqa-open]{cursor:pointer}
.pqa-results .pqa-card[data-pqa-open]:hover,.pqa-group .pqa-pass[data-pqa-open]:hover{background:#fffbea}
.pqa-results .pqa-card[data-pqa-open]:hover{border-color:#e0b400}
.pqa-table tr[data-pqa-open]:hover td{background:#fffbea}
.pqa-open-hint{color:#1d4ed8;font-size:13px;white-space:nowrap}
[data-pqa-open]:focus-visible{outline:2px solid #1d4ed8;outline-offset:1px}
.pqa-cite{color:#1d4ed8;cursor:pointer;text-decoration:underline;font-weight:600}
.pqa-doc .pqa-flash{background:#fff3bf;transition:background .8s}
"""

# Rules outside the tabs' content, in the page's <head> (``launch``; Gradio scopes ``css`` to
# the content): on a phone the page keeps 8px margins instead of 32px, so the text boxes get
# the width (the buttons beside them wrap below: their min_width).
PAGE_HEAD = """<style>
@media (max-width: 560px){ .gradio-container .main.app{padding-left:8px!important;padding-right:8px!important} }
</style>"""

# Items of a rendered list that open in the 文档 tab carry ``data-pqa-open="<index>"``; one
# delegated handler (on the gr.HTML element, so it survives re-renders) sends the index as
# the component's click event (``gr.EventData`` ``index``). Enter/space open a focused item.
# A click that ends a text selection inside the item does not open it.
OPEN_JS = (
    "const pqaOpen = (e) => {"
    " const t = e.target.closest('[data-pqa-open]');"
    " if (!t || !element.contains(t)) return;"
    " if (e.type === 'click' && String(window.getSelection() || '').length > 0) return;"
    " if (e.type === 'keydown' && e.key !== 'Enter' && e.key !== ' ') return;"
    " e.preventDefault();"
    " trigger('click', {index: Number(t.dataset.pqaOpen)}); };"
    " element.addEventListener('click', pqaOpen); element.addEventListener('keydown', pqaOpen);"
)
OPEN_TITLE = "点击在文档中打开"
OPEN_HINT = "在文档中打开 ›"


def open_attrs(index: int) -> str:
    """The attributes that make an element open item ``index`` of its list (``OPEN_JS``)."""
    return f' data-pqa-open="{int(index)}" tabindex="0" role="button" title="{OPEN_TITLE}"'


# ---------------------------------------------------------------------------- escaping


def required(value: str | None, message: str) -> str:
    """``value`` stripped; an error showing ``message`` (what to type) when it is empty."""
    value = (value or "").strip()
    if not value:
        raise PolicyQAError(message)
    return value


def within(text: str, limit: int, what: str) -> str:
    """``text`` unless it is longer than ``limit`` characters (then a message saying so).
    The page's boxes stop at the limit; this catches API calls and edited pages."""
    if len(text) > limit:
        raise PolicyQAError(f"{what}有 {len(text):,} 字，超过上限 {limit:,} 字：请缩短后再试。")
    return text


def query_input(engine: EngineLike, text: str | None, empty: str, what: str) -> str:
    """A question, query or topic from the page: stripped, not empty, within max_query_chars."""
    return within(required(text, empty), engine.settings.max_query_chars, what)


def text_validator(check: Callable[[str | None], Any]) -> Callable:
    """A Gradio ``validator`` for an event whose first input is a text box: when ``check``
    refuses the text (PolicyQAError), its message shows at the box and nothing runs; the
    other inputs are always valid. (A handler's error would mark every output instead.)"""

    def validate(text, *others):
        try:
            check(text)
            first = gr.validate(True, "")
        except PolicyQAError as e:
            first = gr.validate(False, str(e))
        # one input: one result (Gradio reads a list there as no verdict and runs the event)
        return [first] + [gr.validate(True, "")] * len(others) if others else first

    return validate


def limit_note(box: gr.Textbox, limit: int, elem_id: str) -> gr.HTML:
    """A line under ``box`` (which has ``max_length=limit``) saying so once it is full: the
    browser silently cuts a longer paste at the limit. Runs in the browser only, on every
    change (the box's "input" event misses pastes)."""
    note = gr.HTML("", elem_id=elem_id, css_template=CSS, js_on_load=None, padding=False)
    message = f'<div class="pqa-limit">已达到 {limit:,} 字的上限，超出的部分没有输入。</div>'
    box.change(None, [box], [note], js=f"(t) => ((t || '').length >= {limit} ? {json.dumps(message, ensure_ascii=False)} : '')",
              **PRIVATE)
    return note


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


def _short(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(text: str, simplified: bool = False) -> str:
    """``text`` as the page shows it: as written, or with 显示为简体 in simplified characters
    (OpenCC t2s, ``text.fold``). Offsets into the original must still hold, so the converted
    span is used only when it has the original's length (t2s is character for character for
    almost all text); else the span is shown as written. Citations and exports keep the
    original either way."""
    if not simplified or not text:
        return text
    folded = fold(text)
    return folded if len(folded) == len(text) else text


def mark_spans(text: str, base: int, spans: Sequence[tuple], simplified: bool = False) -> str:
    """Escaped ``text`` (which starts at offset ``base``) with the absolute ``spans`` marked;
    a span's optional third item (the draft sentence it answers) becomes the mark's tooltip.
    ``simplified``: shown converted (``shown``; same length, so the spans still fit)."""
    text = shown(text, simplified)
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


# ---------------------------------------------------------------------------- errors


def guard(fn: Callable) -> Callable:
    """Turn PolicyQAError into a message on the page; never show a traceback."""

    def shown_error(e: Exception) -> gr.Error:
        if isinstance(e, gr.Error):
            return e
        if isinstance(e, PolicyQAError):
            return gr.Error(str(e))
        log.exception("handler %s failed", fn.__name__)
        return gr.Error(f"处理请求时出错（{type(e).__name__}），详情见服务器日志。")

    if inspect.isgeneratorfunction(fn):  # a streaming handler: its errors come while iterating
        @functools.wraps(fn)
        def streaming(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - shown as a short message
                raise shown_error(e) from None

        return streaming

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - shown as a short message
            raise shown_error(e) from None

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


def facet_choices(engine: EngineLike) -> dict[str, list[tuple[str, str]]]:
    facets = engine.facets()
    first = [("全部", ALL)]
    return {
        "doc_type": first + [(str(x), str(x)) for x in facets.get("doc_type", [])],
        "year": first + [(str(x), str(x)) for x in facets.get("year", [])],
        "region": first + [(str(x), str(x)) for x in facets.get("region", [])],
        "doc": first + [(_short(str(t), 60), str(d)) for t, d in facets.get("doc", [])],
    }
