"""Results as files staff keep: an answer, a compare table or a precedent list as Word
(.docx), the compare table as Excel (.xlsx) and CSV.

Every writer takes the JSON form of a result (``Answer.to_json()``, ``CompareTable.to_json()``,
``PrecedentResults.to_json()``), which the CLI and the web page both hold, so the two write
the same files with the same columns. Document text is data: a cell that a spreadsheet
program would read as a formula (``=``, ``+``, ``-``, ``@`` first) is written as text.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import PolicyQAError

COMPARE_COLUMNS = ("文档", "地区", "年份", "表述", "指标", "比较", "数值", "单位", "期限", "来源文件", "起", "止")
NO_NUMBER = "（未给出数值）"
PLACEHOLDER_VALUE = "x"  # a template's "xx%": written as in the text, never as a number
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def heading_label(path: Sequence[str], title: str = "") -> str:
    """The " › "-joined heading path, without a leading part the title already says (篇二)
    and without empty parts, so a label never repeats the piece or ends in a bare "›"."""
    parts = [p.strip() for p in path if p and p.strip()]
    if parts and title and title.strip().endswith(parts[0]):
        parts = parts[1:]
    return " › ".join(parts)


def citation_line(title: str, heading_path: Sequence[str]) -> str:
    """"title › heading › heading" (just the title when the path adds nothing)."""
    path = heading_label(heading_path, title)
    return f"{title} › {path}" if path else title


def format_number(value: Any) -> str:
    """90 → "90", 92.5 → "92.5", "" for no value."""
    if value in (None, ""):
        return ""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def compare_value(row: dict) -> str:
    """The value column: the number, "x" for a placeholder, or the no-number note."""
    number = format_number(row.get("value"))
    if number:
        return number
    return PLACEHOLDER_VALUE if row.get("placeholder") else NO_NUMBER


def safe_cell(value: Any) -> Any:
    """Text a spreadsheet would evaluate gets a leading apostrophe (CSV has no cell types)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def compare_rows(table: dict) -> list[list[Any]]:
    """One list per row, in ``COMPARE_COLUMNS`` order, values as the document wrote them."""
    return [[r.get("title"), r.get("region"), r.get("year"), r.get("phrasing"), r.get("indicator"),
             r.get("comparator"), compare_value(r), r.get("unit"), r.get("deadline"), r.get("source"),
             r.get("start"), r.get("end")] for r in table.get("rows") or []]


def compare_csv(table: dict) -> str:
    """CSV text with a header row; write it as ``utf-8-sig`` so Excel reads the Chinese."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COMPARE_COLUMNS)
    w.writerows([safe_cell(v) for v in row] for row in compare_rows(table))
    return buf.getvalue()


def compare_file_stem(topic: str) -> str:
    """A file name for a topic: its words only, never a path separator or markup."""
    stem = re.sub(r"[^\w\u3400-\u9fff]+", "_", topic).strip("_")[:40] or "compare"
    return f"对比_{stem}"


# ---------------------------------------------------------------- xlsx


def compare_xlsx_bytes(table: dict) -> bytes:
    """The compare table as one sheet: a bold, frozen header row, one row per value."""
    from openpyxl import Workbook  # imported on first use: the CLI's other commands never need it
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "对比"
    ws.append(list(COMPARE_COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for values in compare_rows(table):
        ws.append([None if v in (None, "") else v for v in values])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, even when it starts with "=": never a formula
    ws.freeze_panes = "A2"
    widths = {"文档": 28, "表述": 60, "来源文件": 24}
    for i, name in enumerate(COMPARE_COLUMNS, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = widths.get(name, 10)
    for row in ws.iter_rows(min_row=2, min_col=4, max_col=4):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- docx


@dataclass(frozen=True)
class Quoted:
    """One numbered source in a Word export."""

    n: int
    title: str
    heading_path: tuple[str, ...]
    where: str  # "region · year"
    source: str
    start: int
    end: int
    text: str
    note: str = ""  # e.g. "占位符" for a template's value


def _where(d: dict) -> str:
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else d
    return " · ".join(str(x) for x in (meta.get("region"), meta.get("year")) if x)


def _new_document(title: str):
    from docx import Document

    doc = Document()
    doc.core_properties.title = title
    doc.add_heading(title, level=1)
    return doc


def _add_quotes(doc, quotes: Iterable[Quoted]) -> None:
    from docx.shared import Pt, RGBColor

    for q in quotes:
        head = doc.add_paragraph()
        head.add_run(f"[{q.n}] ").bold = True
        head.add_run(citation_line(q.title, q.heading_path)).bold = True
        if q.where:
            head.add_run(f"（{q.where}）")
        if q.note:
            head.add_run(f"（{q.note}）")
        body = doc.add_paragraph(q.text.strip())
        body.paragraph_format.left_indent = Pt(18)
        ref = doc.add_paragraph().add_run(f"{q.source} [{q.start}:{q.end}]")
        ref.font.size = Pt(8)
        ref.font.color.rgb = RGBColor(0x66, 0x66, 0x66)


def _docx_bytes(doc) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def answer_docx_bytes(answer: dict) -> bytes:
    """Title, the question, the answer (or the note that the documents do not cover it) and
    the numbered citations with document, heading path, region · year and the passage."""
    doc = _new_document("问答记录")
    doc.add_heading("问题", level=2)
    doc.add_paragraph(str(answer.get("question") or ""))
    doc.add_heading("回答", level=2)
    for line in str(answer.get("answer") or "").splitlines():
        if line.strip():
            doc.add_paragraph(line.strip())
    cites = answer.get("citations") or []
    if cites:
        doc.add_heading("引用", level=2)
        _add_quotes(doc, (Quoted(int(c["n"]), str(c.get("title") or ""), tuple(c.get("heading_path") or ()),
                                 _where(c), str(c["source"]), int(c["start"]), int(c["end"]), str(c.get("text") or ""),
                                 "模板占位符，非实际数值" if c.get("placeholder") else "")
                          for c in cites))
    return _docx_bytes(doc)


def compare_docx_bytes(table: dict) -> bytes:
    """The compare table as a Word table, then every row's sentence as a numbered quote."""
    doc = _new_document(f"对比：{table.get('topic') or ''}")
    rows = table.get("rows") or []
    if not rows:
        doc.add_paragraph(f"没有文档谈到“{table.get('topic') or ''}”。")
        return _docx_bytes(doc)
    shown = ("#", "文档", "地区", "年份", "指标", "比较", "数值", "单位", "期限")
    grid = doc.add_table(rows=1, cols=len(shown))
    grid.style = "Table Grid"
    for cell, name in zip(grid.rows[0].cells, shown):
        cell.text = name
    for n, r in enumerate(rows, start=1):
        values = (n, r.get("title"), r.get("region"), r.get("year"), r.get("indicator"), r.get("comparator"),
                  compare_value(r), r.get("unit"), r.get("deadline"))
        for cell, v in zip(grid.add_row().cells, values):
            cell.text = "" if v is None else str(v)
    doc.add_heading("原文", level=2)
    _add_quotes(doc, (Quoted(n, str(r.get("title") or ""), (), _where(r), str(r["source"]), int(r["start"]),
                             int(r["end"]), str(r.get("phrasing") or ""))
                      for n, r in enumerate(rows, start=1)))
    return _docx_bytes(doc)


def precedents_docx_bytes(result: dict, draft: str = "") -> bytes:
    """The draft (when given) and the similar passages, numbered, with their documents."""
    doc = _new_document("先例")
    if draft.strip():
        doc.add_heading("草稿", level=2)
        doc.add_paragraph(draft.strip())
    items = result.get("results") or []
    doc.add_heading("相似的表述", level=2)
    if not items:
        doc.add_paragraph("没有找到相似的段落。")
    _add_quotes(doc, (Quoted(n, str(r.get("title") or ""), tuple(r.get("heading_path") or ()), _where(r),
                             str(r["source"]), int(r["start"]), int(r["end"]), str(r.get("text") or ""),
                             "疑似草稿出处" if r.get("from_source") else "")
                      for n, r in enumerate(items, start=1)))
    return _docx_bytes(doc)


def write_file(path: Path, data: bytes | str) -> Path:
    """Write an export; a failure is one line naming the file (never a traceback)."""
    path = Path(path)
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8-sig", newline="")
        else:
            path.write_bytes(data)
    except OSError as e:
        raise PolicyQAError(f"cannot write {path}: {e.strerror or e}") from None
    return path
