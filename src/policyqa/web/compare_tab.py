"""The 对比 tab: one row per document on a target topic, exported as CSV, Excel and Word."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from ..export import (COMPARE_COLUMNS as FILE_COLUMNS, NO_NUMBER, compare_csv, compare_docx_bytes, compare_file_stem,
                      compare_rows, compare_xlsx_bytes, format_number, safe_cell, write_file)
from .common import (CSS, NO_RESULTS, OPEN_JS, PRIVATE, esc, guard, limit_note, mark_spans, open_attrs,
                     query_input, shown, text_validator)
from .protocol import EngineLike


CSV_COLUMNS = FILE_COLUMNS  # the files' columns (export.py), as the CLI writes them
COMPARE_COLUMNS = ("#", "文档", "地区", "年份", "表述", "指标", "比较", "数值", "期限")  # the page's table


def value_text(row: dict) -> str:
    """"90%" / "44所" / "x所" (placeholder) / "" when the row states no number."""
    shown = row.get("value_text")
    if not shown:
        shown = format_number(row.get("value"))
        if shown and row.get("value_max") not in (None, ""):
            shown += "-" + format_number(row["value_max"])
    if not shown and row.get("placeholder"):
        shown = "x"
    unit = str(row.get("unit") or "")
    if shown and unit and not str(shown).endswith(unit):
        shown = f"{shown}{unit}"
    return str(shown or "")


def compare_topic(engine: EngineLike, topic: str | None) -> str:
    return query_input(engine, topic, "请输入要对比的主题，例如：学前教育毛入园率。", "对比主题")


def run_compare(engine: EngineLike, topic: str, max_rows: int | None = None, progress: Callable | None = None) -> dict:
    """The comparison table for ``topic`` as JSON (``engine.compare(...).to_json()``)."""
    topic = compare_topic(engine, topic)
    if progress:
        progress(0.3, desc="检索并抽取各文档的目标…")
    return engine.compare(topic, max_rows=max_rows).to_json()


def _phrasing_html(row: dict, simplified: bool = False) -> str:
    """The row's sentence, escaped, with its value marked when the offsets say where."""
    phrasing = str(row.get("phrasing") or "")
    vt = str(row.get("value_text") or "")
    if vt and vt in phrasing:
        i = phrasing.index(vt)
        return mark_spans(phrasing, 0, [(i, i + len(vt))], simplified)
    return esc(shown(phrasing, simplified))


def compare_html(table: dict, simplified: bool = False) -> str:
    """The rows (each opens its sentence when clicked); ``simplified``: document text in
    simplified characters (``common.shown``)."""
    rows = table.get("rows") or []
    if not rows:
        return f'<div class="pqa-empty">{NO_RESULTS}：没有文档谈到“{esc(table.get("topic", ""))}”。</div>'
    head = "".join(f"<th>{esc(c)}</th>" for c in COMPARE_COLUMNS)
    body = []
    for n, r in enumerate(rows, start=1):
        value = value_text(r)
        value_cell = esc(value) if value else f'<span class="pqa-nonum">{NO_NUMBER}</span>'
        cells = [
            f'<td class="pqa-num">{n}</td>',
            f"<td>{esc(r['library'] + ' · ') if r.get('library') else ''}{esc(shown(str(r.get('title') or ''), simplified))}</td>",
            f"<td>{esc(r.get('region') or '')}</td>", f'<td class="pqa-num">{esc(r.get("year") or "")}</td>',
            f'<td class="pqa-phrasing">{_phrasing_html(r, simplified)}</td>',
            f"<td>{esc(shown(str(r.get('indicator') or ''), simplified))}</td>",
            f"<td>{esc(r.get('comparator') or '')}</td>", f'<td class="pqa-num">{value_cell}</td>',
            f"<td>{esc(r.get('deadline') or '')}</td>",
        ]
        body.append(f"<tr{open_attrs(n - 1)}>{''.join(cells)}</tr>")
    n_docs = len({r.get("doc_id") for r in rows})
    return (f'<div class="pqa-meta">“{esc(table.get("topic", ""))}”：{len(rows)} 行，来自 {n_docs} 篇文档。'
            "点击一行可在文档中打开原文。</div>"
            f'<table class="pqa-table" id="compare-rows"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def compare_csv_rows(table: dict) -> list[list]:
    """The CSV's rows (without the header), as the CLI writes them."""
    return [[safe_cell(v) for v in row] for row in compare_rows(table)]


def write_compare_csv(table: dict, folder: str | Path | None = None) -> str:
    """Write the table as CSV (UTF-8 with BOM, so Excel reads the Chinese) to a new file in
    a fresh temporary folder; returns its path."""
    folder = Path(folder or tempfile.mkdtemp(prefix="pqa-compare-"))
    path = folder / f"{compare_file_stem(str(table.get('topic') or ''))}.csv"
    return str(write_file(path, compare_csv(table)))


def write_compare_exports(table: dict, folder: str | Path | None = None) -> list[str]:
    """CSV, Excel and Word files of the table in one fresh folder (CSV first)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="pqa-compare-"))
    stem = compare_file_stem(str(table.get("topic") or ""))
    return [write_compare_csv(table, folder),
            str(write_file(folder / f"{stem}.xlsx", compare_xlsx_bytes(table))),
            str(write_file(folder / f"{stem}.docx", compare_docx_bytes(table)))]


def row_ref(row: dict) -> dict:
    """The citation of a compare row (its sentence) for ``open_citation``."""
    return {"doc_id": row.get("doc_id"), "source": row["source"], "start": int(row["start"]),
            "end": int(row["end"])}


@dataclass
class CompareTab:
    refs: gr.State  # ``row_ref`` of each row, in order
    table: gr.HTML  # the rows; clicking one opens it (``DocumentOpener.connect_clicks``)
    last: gr.State  # the latest table (JSON), re-rendered when 显示为简体 changes


def build_compare_tab(engine: EngineLike, simplified: gr.Checkbox) -> CompareTab:
    """The 对比 tab's components (inside the current ``gr.Tab``) and its compare events;
    ``simplified`` is the page's 显示为简体 setting."""
    limit = engine.settings.max_query_chars
    with gr.Row():
        topic = gr.Textbox(elem_id="compare-input", label="对比主题", scale=5, min_width=280, max_length=limit,
                           placeholder="例如：学前教育毛入园率、教师培训经费、标准化学校建设")
        button = gr.Button("对比", elem_id="compare-btn", variant="primary", scale=1, min_width=80)
    limit_note(topic, limit, "compare-limit")
    table = gr.HTML('<div class="pqa-empty">输入主题，查看各文档如何表述该目标。</div>',
                    elem_id="compare-table", css_template=CSS, js_on_load=OPEN_JS)
    csv_file = gr.File(label="下载：CSV（UTF-8）、Excel、Word", elem_id="compare-csv", interactive=False, visible=False,
                       file_count="multiple")
    refs, last = gr.State([]), gr.State(None)

    @guard
    def on_compare(text, simp, progress=gr.Progress()):
        result = run_compare(engine, text, progress=progress)
        rows = result.get("rows") or []
        download = gr.update(value=write_compare_exports(result), visible=True) if rows else \
            gr.update(value=None, visible=False)
        return compare_html(result, simp), [row_ref(r) for r in rows], download, result

    outputs = [table, refs, csv_file, last]
    checked = text_validator(lambda t: compare_topic(engine, t))
    topic.submit(on_compare, [topic, simplified], outputs, validator=checked, **PRIVATE)
    button.click(on_compare, [topic, simplified], outputs, validator=checked, **PRIVATE)
    simplified.change(lambda simp, result: gr.update() if result is None else compare_html(result, simp),
                      [simplified, last], [table], **PRIVATE)
    return CompareTab(refs, table, last)
