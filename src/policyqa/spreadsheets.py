"""Tables → lines of text: spreadsheets (.xlsx, .csv) and the rendering of any table's rows.

Rendering (``table_lines``, also used for the tables of .docx files): one line per non-empty
row, so a row is one line of the file and a chunk holding it reads on its own.
  * Leading rows with a single non-empty cell in a table at least two columns wide are title
    lines (a merged "2024年各县区学前教育统计表" above the header), written as that cell;
  * the next row is the header when it is sensible: at least two non-empty cells, none
    longer than ``MAX_HEADER_CELL`` characters, at most half of them numbers. Each later row
    is written with the header's names, ``县区：颍州区 | 毛入园率：92.5% | 普惠率：85%``
    (empty values left out, a value under an unnamed column written bare, a row that is one
    cell merged across the table written bare; a row repeating the header, as tables split
    over pages do, written once);
  * a table without a sensible header (one column, a single row, a blank or numeric first
    row, a layout table of paragraphs) keeps its cells joined by " | ", one line per row
    (empty rows dropped). Spreadsheets drop their empty rows and columns first, so their
    header is the first non-empty row.
Cell text has its whitespace runs (newlines inside a cell included) collapsed to one space
and control characters removed.

Spreadsheets:
  * ``.xlsx`` (openpyxl, ``read_only=True``, ``data_only=True``: a formula reads as the
    value Excel cached when it saved the file; a file written by a program that never
    computed it reads empty there). The zip is checked first (``containers.check_ooxml``).
    Every worksheet, in workbook order, becomes a section: a line with the sheet's name,
    then its rows rendered as above. Merged cells are read once (the value sits in the
    first cell of the range); empty rows and columns are skipped. Numbers are written as
    Excel shows them where practical: percent formats as "92.5%", the decimals and
    thousands separators of the number format, otherwise at most 9 significant digits (no
    float noise); dates as 2024-03-01 (2024年3月1日 when the format is written so), times
    as 08:30. At most ``MAX_CELLS`` cells are read in a workbook (the cells of each stored
    row up to its last used column, gaps included; the stored sheet size is not trusted); a
    bigger one is refused.
  * ``.csv``: bytes decoded as text files are (the loaders' ``decode_bytes``: BOM,
    UTF-8, GBK/GB18030, Big5), the delimiter sniffed among , ; tab | (comma when unsure),
    rendered as one table; ``MAX_CELLS`` applies too.
The returned text is the rows' lines joined by "\\n": it is what the index stores and what
every offset indexes. Boilerplate detection (``clean``) is not run on these formats
(``TABLE_FORMATS``): a spreadsheet has no site chrome, and rows naming 日期, 来源, 电话 or 邮箱
look like it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import zip_longest
from typing import Callable, Iterable, Sequence

from .containers import XLSX, check_ooxml, short_error
from .errors import LoadError

CELL_SEP = " | "
NAME_SEP = "："  # between a header name and the row's value
MAX_TITLE_ROWS = 3
MAX_HEADER_CELL = 40  # characters; longer first-row cells are text, not column names
MAX_CELLS = 1_000_000  # per workbook or CSV file
GENERAL_DIGITS = 9  # significant digits of a number in Excel's "General" format
CSV_DELIMITERS = ",;\t|"
# Formats read here. Their text is the user's own table: ingest looks for no scraped-page
# boilerplate in it (rows such as "日期：2024-03-01 | …" or "电话：… | 邮箱：…" would match).
TABLE_FORMATS: frozenset[str] = frozenset({"xlsx", "csv"})

Reader = tuple[str, str, dict[str, str]]
Decoder = Callable[[bytes, str], tuple[str, str]]

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NUMBER = re.compile(r"^[+-]?[\d,]*\.?\d+%?$")


# ---------------------------------------------------------------- rendering


def clean_cell(text: str) -> str:
    """A cell's text on one line: control characters dropped, whitespace runs → one space."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def table_lines(rows: Iterable[Sequence[str]]) -> list[str]:
    """One line per non-empty row, the header's names repeated (see the module docstring)."""
    table = [[clean_cell(c) for c in row] for row in rows]
    headless = bool(table) and not any(table[0])  # a table whose first row is blank names nothing
    table = [row for row in table if any(row)]
    if not table:
        return []
    if headless:
        return [CELL_SEP.join(row) for row in table]
    width = max(_filled(row) for row in table)
    titles = 0
    while width >= 2 and titles < min(MAX_TITLE_ROWS, len(table) - 2) and _filled(table[titles]) == 1:
        titles += 1
    lines = [next(c for c in row if c) for row in table[:titles]]
    body = table[titles:]
    header = body[0]
    if len(body) < 2 or not _is_header(header):
        return lines + [CELL_SEP.join(row) for row in body]
    lines.append(CELL_SEP.join(c for c in header if c))
    for row in body[1:]:
        if row[:len(header)] != header:
            lines.append(_named_row(header, row))
    return lines


def _filled(row: Sequence[str]) -> int:
    return sum(1 for c in row if c)


def _is_header(row: Sequence[str]) -> bool:
    names = [c for c in row if c]
    numbers = sum(1 for c in names if _NUMBER.match(c))
    return len(names) >= 2 and all(len(c) <= MAX_HEADER_CELL for c in names) and numbers * 2 <= len(names)


def _named_row(header: Sequence[str], row: Sequence[str]) -> str:
    if len(row) == 1 < len(header):  # one cell merged across the table: a note, not a value
        return row[0]
    pairs = [f"{name}{NAME_SEP}{value}" if name else value
             for name, value in zip_longest(header, row, fillvalue="") if value]
    return CELL_SEP.join(pairs)


def trimmed(table: list[list[str]]) -> list[list[str]]:
    """The table without its empty rows and the columns that are empty in every row (a
    sheet's data rarely starts at A1)."""
    table = [[clean_cell(c) for c in row] for row in table]
    table = [row for row in table if any(row)]
    width = max((len(r) for r in table), default=0)
    keep = [i for i in range(width) if any(i < len(r) and r[i] for r in table)]
    return [[r[i] if i < len(r) else "" for i in keep] for r in table]


# ---------------------------------------------------------------- cell values


@dataclass(frozen=True)
class NumberFormat:
    """The parts of an Excel number format that decide how a number is written."""

    decimals: int | None  # None: "General" (no fixed decimals)
    percent: bool = False
    grouping: bool = False  # thousands separators
    scientific: bool = False

    @classmethod
    def parse(cls, code: str | None) -> NumberFormat:
        # only the positive section counts; quoted text, [colours] and \escapes say nothing
        section = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.', "", (code or "General").split(";")[0])
        if section.strip().lower() in ("general", "@", "") or not re.search(r"[0#?]", section):
            return cls(None, percent="%" in section)
        fraction = re.search(r"\.([0#?]+)", section)
        return cls(
            decimals=len(fraction.group(1)) if fraction else 0,
            percent="%" in section,
            grouping=bool(re.search(r"[0#?],[0#?]", section)),
            scientific="E" in section.upper(),
        )


def format_number(value: float | int, code: str | None) -> str:
    """``value`` written as Excel shows it under the number format ``code`` (practically)."""
    fmt = NumberFormat.parse(code)
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:  # inf / nan
        return str(value)
    if fmt.percent:
        number *= 100
    if fmt.scientific and fmt.decimals is not None:
        text = f"{float(number):.{fmt.decimals}E}"
    elif fmt.decimals is None:
        text = _general(number)
    else:
        rounded = number.quantize(Decimal(1).scaleb(-fmt.decimals), rounding=ROUND_HALF_UP)
        text = f"{rounded:,f}" if fmt.grouping else f"{rounded:f}"
    return text + ("%" if fmt.percent else "")


def _general(number: Decimal) -> str:
    """At most ``GENERAL_DIGITS`` significant digits, no exponent, no trailing zeros."""
    if number == 0:
        return "0"
    if number == number.to_integral_value() and abs(number) < Decimal(10) ** 15:
        return f"{number.to_integral_value():f}"
    decimals = min(15, max(0, GENERAL_DIGITS - 1 - number.adjusted()))
    text = f"{number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value: object, code: str | None) -> str:
    """A cell's value as text: numbers by their format, dates as dates, text as is."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format_number(value, code)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return _date(value.date(), code)
        return f"{_date(value.date(), code)} {_time(value.time())}"
    if isinstance(value, dt.date):
        return _date(value, code)
    if isinstance(value, dt.time):
        return _time(value)
    return str(value)


def _date(day: dt.date, code: str | None) -> str:
    if code and "年" in code:
        return f"{day.year}年{day.month}月" + (f"{day.day}日" if "d" in code.lower() else "")
    return day.isoformat()


def _time(t: dt.time) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


# ---------------------------------------------------------------- readers


@dataclass
class _CellBudget:
    """Cells read so far in one file, against ``limit``."""

    source: str
    limit: int
    used: int = 0

    def spend(self, n: int, where: str) -> None:
        self.used += n
        if self.used > self.limit:
            raise LoadError(self.source, f"spreadsheet too large: more than {self.limit} cells "
                            f"({where}); delete the empty or unneeded rows and columns, or split "
                            "it into smaller files")


def read_xlsx(raw: bytes, source: str, max_bytes: int, max_cells: int = MAX_CELLS) -> Reader:
    """An .xlsx workbook as text: a section per worksheet (see the module docstring)."""
    check_ooxml(raw, source, max_bytes, XLSX)
    import openpyxl  # imported on first use

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except LoadError:
        raise
    except Exception as e:  # noqa: BLE001 — a damaged workbook is the user's file, not a bug
        raise LoadError(source, f"corrupt xlsx: {short_error(e)}; open and save it again in "
                        "Excel/WPS") from None
    budget = _CellBudget(source, max_cells)
    lines: list[str] = []
    try:
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # the stored size may be wrong or huge; read what is there
            rows = trimmed(_sheet_rows(sheet, budget))
            rendered = table_lines(rows)
            if rendered:
                lines.append(clean_cell(sheet.title) or "Sheet")
                lines.extend(rendered)
        meta = _xlsx_meta(workbook)
    except LoadError:
        raise
    except Exception as e:  # noqa: BLE001 — a broken sheet part: name the file, never a traceback
        raise LoadError(source, f"corrupt xlsx: {short_error(e)}; open and save it again in "
                        "Excel/WPS") from None
    finally:
        workbook.close()
    return "\n".join(lines), "xlsx", meta


def _sheet_rows(sheet, budget: _CellBudget) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in sheet.iter_rows():
        if not row:  # a gap between stored rows: nothing to read
            continue
        budget.spend(len(row), f"sheet '{sheet.title}'")
        rows.append([format_value(cell.value, getattr(cell, "number_format", None)) for cell in row])
    return rows


def _xlsx_meta(workbook) -> dict[str, str]:
    title = clean_cell(str(getattr(workbook.properties, "title", None) or ""))
    return {"title": title} if title else {}


def read_csv(raw: bytes, source: str, max_bytes: int, decode: Decoder, max_cells: int = MAX_CELLS) -> Reader:
    """A CSV file as one table; ``decode`` is the text-file decoding (bytes, source) → (text, codec)."""
    text, encoding = decode(raw, source)
    budget = _CellBudget(source, max_cells)
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), dialect=_dialect(text)):
            budget.spend(max(len(row), 1), "the whole file")
            rows.append(row)
    except csv.Error as e:
        raise LoadError(source, f"corrupt csv: {short_error(e)}") from None
    return "\n".join(table_lines(trimmed(rows))), encoding, {}


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """The file's delimiter and quoting as sniffed from its start; plain commas when unsure."""
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=CSV_DELIMITERS)
    except csv.Error:
        return csv.excel
