"""Readers of text, Markdown, Word (.docx) and saved web pages: bytes → text, encoding, metadata."""

from __future__ import annotations

import io

from .containers import DOCX, check_ooxml
from .decoding import clean_extracted, decode_bytes, decode_html, normalize_newlines, plain_html_text
from .spreadsheets import table_lines


def read_text(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    text, encoding = decode_bytes(raw, source)
    return normalize_newlines(text), encoding, {}


def read_docx(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    """Body paragraphs and tables in document order (content controls included), one line per
    non-empty paragraph, one line per table row (a merged cell read once, the other columns it
    spans left empty) rendered by ``spreadsheets.table_lines``: the header's names with each
    value (``指标：毛入园率 | 目标：90%以上``). Automatic list numbering is not in Word's XML,
    so numbered paragraphs keep their text as written. ``meta["title"]`` from the core
    properties. The zip is checked first (``containers.check_ooxml``: zip bombs, OLE files)."""
    check_ooxml(raw, source, max_bytes, DOCX)
    import docx  # python-docx, imported on first use

    document = docx.Document(io.BytesIO(raw))
    lines = [line for line in _docx_lines(document.element.body, document.part) if line.strip()]
    meta: dict[str, str] = {}
    title = (document.core_properties.title or "").strip()
    if title:
        meta["title"] = title
    return clean_extracted("\n".join(lines)), "docx", meta


def _docx_lines(container, part) -> list[str]:
    """Paragraphs and table rows of a body/cell element, in document order."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out: list[str] = []
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            out.append(Paragraph(child, part).text)
        elif child.tag == qn("w:tbl"):
            out.extend(_table_rows(Table(child, part), part))
        elif child.tag == qn("w:sdt"):  # content control: its content is body text
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                out.extend(_docx_lines(content, part))
    return out


def _table_rows(table, part) -> list[str]:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # a merged cell spans columns: read
                cells.append("")  # once, its other columns empty so later values keep their names
                continue
            previous = cell._tc
            inner = [line.strip() for line in _docx_lines(cell._tc, part)]
            cells.append(" ".join(" ".join(line.split()) for line in inner if line))
        if len(cells) > 1 and all(cell._tc is previous for cell in row.cells):
            cells = cells[:1]  # one cell across the whole row (a title or a note)
        rows.append(cells)
    return table_lines(rows)


def read_html(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    """The main text (trafilatura: site chrome dropped) and ``meta`` title, date (from the
    markup only, never guessed from the body), site and url. Decoded with the charset the
    page declares (``decoding.decode_html``); when trafilatura finds no main text, a plain
    walk of the body (``decoding.plain_html_text``)."""
    page, encoding = decode_html(raw, source)
    import trafilatura  # imported on first use

    doc = trafilatura.bare_extraction(
        page, with_metadata=True, include_tables=True, include_comments=False,
        include_images=False, include_formatting=False, deduplicate=False,
        # dates from the page's markup only: no year guessed from the body text
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    meta: dict[str, str] = {}
    text = ""
    if doc is not None:
        text = doc.text or ""
        for key, attr in (("title", "title"), ("date", "date"), ("site", "sitename"), ("url", "url")):
            value = getattr(doc, attr, None)
            if value and str(value).strip():
                meta[key] = " ".join(str(value).split())
    if not text.strip():
        title, text = plain_html_text(page)
        if title and "title" not in meta:
            meta["title"] = title
    lines = [ln.strip() for ln in clean_extracted(text).split("\n")]
    return "\n".join(ln for ln in lines if ln), encoding, meta
