"""Tables in a PDF's text layer, found by the alignment of its text runs (pypdfium2 text rectangles)."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Sequence

from .spreadsheets import table_lines

_MIN_ROWS = 3  # a header and two rows: fewer aligned lines are more likely a letterhead
_CELL_GAP = 1.0  # line heights between two runs that start a new cell (a word space is ~0.3)
_WORD_SPACE = 0.2  # line heights between two runs that a space separates
_ROW_GAP = 2.5  # line heights between two rows of one table at most
_PROSE_CHARS = 12  # a column whose median cell is this long is running text (two-column layout)


@dataclass(frozen=True)
class Run:
    """A run of text on a page and its box (PDF units, y upwards)."""

    text: str
    left: float
    bottom: float
    right: float
    top: float


@dataclass(frozen=True)
class Cell:
    text: str
    left: float
    right: float


@dataclass(frozen=True)
class Line:
    cells: tuple[Cell, ...]
    top: float
    bottom: float

    @property
    def height(self) -> float:
        return max(self.top - self.bottom, 1.0)


def page_runs(textpage) -> list[Run]:
    """The text rectangles pdfium finds on a page (``PdfTextPage.count_rects``/``get_rect``),
    each with the text inside it (``get_text_bounded``)."""
    runs = []
    for i in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(i)
        text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
        if text:
            runs.append(Run(text, left, bottom, right, top))
    return runs


def text_lines(runs: Sequence[Run]) -> list[Line]:
    """Runs grouped into lines (a run whose middle lies within a line's height joins it), top
    to bottom; runs of a line closer than ``_CELL_GAP`` line heights form one cell."""
    lines: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: (-r.top, r.left)):
        middle = (run.top + run.bottom) / 2
        if lines and lines[-1][0].bottom <= middle <= lines[-1][0].top:
            lines[-1].append(run)
        else:
            lines.append([run])
    out = []
    for group in lines:
        group.sort(key=lambda r: r.left)
        height = max(max(r.top - r.bottom for r in group), 1.0)
        cells: list[Cell] = []
        for run in group:
            gap = run.left - cells[-1].right if cells else 0.0
            if cells and gap < _CELL_GAP * height:
                text = _join(cells[-1].text, run.text, spaced=gap >= _WORD_SPACE * height)
                cells[-1] = Cell(text, cells[-1].left, max(cells[-1].right, run.right))
            else:
                cells.append(Cell(run.text, run.left, run.right))
        out.append(Line(tuple(cells), max(r.top for r in group), min(r.bottom for r in group)))
    return out


def _join(a: str, b: str, spaced: bool) -> str:
    """Two runs of one cell: a word space kept between Latin letters or digits, none in CJK."""
    return f"{a} {b}" if spaced and a[-1].isascii() and b[0].isascii() else a + b


def _columns(header: Line, row: Line) -> list[str] | None:
    """``row``'s cells placed in the header's columns (bounds halfway between header cells),
    or None when a cell straddles a bound or two cells fall in one column."""
    cells = header.cells
    bounds = [float("-inf")] + [(a.right + b.left) / 2 for a, b in zip(cells, cells[1:])] + [float("inf")]
    placed = [""] * len(cells)
    for cell in row.cells:
        column = next(j for j in range(len(cells)) if (cell.left + cell.right) / 2 < bounds[j + 1])
        if placed[column] or cell.left < bounds[column] or cell.right > bounds[column + 1]:
            return None
        placed[column] = cell.text
    return placed


def _is_prose(rows: list[list[str]]) -> bool:
    """True when every column reads like running text: two columns of a page, not a table."""
    return all(median(len(row[j]) for row in rows) >= _PROSE_CHARS for j in range(len(rows[0])))


@dataclass(frozen=True)
class Table:
    first: int  # index of its header line
    last: int  # index of its last row (inclusive)
    rows: list[list[str]]


def find_tables(lines: Sequence[Line]) -> list[Table]:
    """Runs of at least ``_MIN_ROWS`` lines of two or more cells, each aligned with the first
    (the header) column by column and close below the line before."""
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        header = lines[i]
        rows = [[c.text for c in header.cells]]
        j = i + 1
        while len(header.cells) >= 2 and j < len(lines) and len(lines[j].cells) >= 2:
            gap = lines[j - 1].bottom - lines[j].top
            placed = _columns(header, lines[j])
            if placed is None or gap > _ROW_GAP * header.height:
                break
            rows.append(placed)
            j += 1
        if len(rows) >= _MIN_ROWS and not _is_prose(rows):
            tables.append(Table(i, j - 1, rows))
            i = j
        else:
            i += 1
    return tables


def page_text_with_tables(runs: Sequence[Run]) -> str | None:
    """The page's text with each table rendered by ``table_lines`` (the header's names with
    every value, so a row reads on its own) and other lines as their cells joined by a
    space; None when the page has no table (its text layer is kept as extracted)."""
    lines = text_lines(runs)
    tables = find_tables(lines)
    if not tables:
        return None
    out: list[str] = []
    i = 0
    for table in tables:
        out.extend(" ".join(c.text for c in line.cells) for line in lines[i:table.first])
        out.extend(table_lines(table.rows))
        i = table.last + 1
    out.extend(" ".join(c.text for c in line.cells) for line in lines[i:])
    return "\n".join(out)


def pdf_table_texts(raw: bytes, pages: Sequence[int]) -> dict[int, str]:
    """For each of ``pages`` (0-based) that holds a table, its text as ``page_text_with_tables``
    gives it."""
    import pypdfium2 as pdfium  # imported on first use

    out: dict[int, str] = {}
    pdf = pdfium.PdfDocument(raw)
    try:
        for n in pages:
            textpage = pdf[n].get_textpage()
            try:
                text = page_text_with_tables(page_runs(textpage))
            finally:
                textpage.close()
            if text is not None:
                out[n] = text
    finally:
        pdf.close()
    return out
