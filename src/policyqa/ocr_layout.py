"""Reading order of recognised text boxes (``page_text``): rows top to bottom (boxes whose
centres are within half a character height form one row), left to right within a row; a
two-column page column by column under full-width titles; a skewed page laid out
straightened; a row reaching the right margin runs on into the next unindented row of the
same paragraph (no space between CJK characters). Pure geometry: no model, no images.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

_MIN_SKEW = math.radians(0.2)  # a page skewed more is laid out straightened


@dataclass(frozen=True)
class OcrLine:
    """One recognised text box: its text as recognised, its confidence, its bounding box
    ``(x0, y0, x1, y1)`` in pixels of the upright page image and the detected quadrilateral
    (``x, y`` of its corners clockwise from the top left; a skewed line's box is taller)."""

    text: str
    score: float
    box: tuple[int, int, int, int]
    quad: tuple[int, ...] = ()

    @property
    def mid(self) -> float:
        """The vertical centre of the line."""
        return sum(self.quad[1::2]) / 4 if len(self.quad) == 8 else (self.box[1] + self.box[3]) / 2

    @property
    def thickness(self) -> float:
        """The height of its characters (the quadrilateral's side, not the skewed box's)."""
        if len(self.quad) != 8:
            return float(self.box[3] - self.box[1])
        q = self.quad
        return (((q[6] - q[0]) ** 2 + (q[7] - q[1]) ** 2) ** 0.5 + ((q[4] - q[2]) ** 2 + (q[5] - q[3]) ** 2) ** 0.5) / 2


@dataclass(frozen=True)
class PlacedLine:
    """Where a recognised box's text sits in the page text (``[start, end)``)."""

    start: int
    end: int
    line: OcrLine


# ---------------------------------------------------------------- reading order


def _rows(lines: Sequence[OcrLine]) -> list[list[OcrLine]]:
    """Boxes grouped into rows (centres closer than half the smaller character height),
    rows top to bottom, boxes left to right."""
    rows: list[list[OcrLine]] = []
    for ln in sorted(lines, key=lambda b: b.mid):
        if rows and _same_row(rows[-1], ln):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [sorted(r, key=lambda b: b.box[0]) for r in rows]


def _same_row(row: list[OcrLine], ln: OcrLine) -> bool:
    last = row[-1]
    return abs(ln.mid - last.mid) <= 0.5 * min(ln.thickness, last.thickness)


_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")


def _joiner(left: str, right: str) -> str:
    """What goes between two pieces of one paragraph: nothing beside CJK characters or
    punctuation, a space between two Latin words or numbers."""
    if not left or not right or _CJK.match(left[-1]) or _CJK.match(right[0]):
        return ""
    return " " if left[-1].isalnum() and right[0].isalnum() else ""


def _height(row: list[OcrLine]) -> float:
    return max(b.thickness for b in row)


def _mid(row: list[OcrLine]) -> float:
    return sum(b.mid for b in row) / len(row)


def _runs_on(prev: list[OcrLine], nxt: list[OcrLine], left: int, right: int) -> bool:
    """True when row ``nxt`` continues the paragraph of row ``prev``: ``prev`` reaches the
    right margin, ``nxt`` starts at the left margin, close below, of the same size."""
    h = max(_height(prev), 1)
    gap = _mid(nxt) - _mid(prev) - (_height(nxt) + h) / 2
    return (prev[-1].box[2] >= right - 1.5 * h and nxt[0].box[0] <= left + 0.8 * h
            and gap <= 1.2 * h and 0.7 <= _height(nxt) / h <= 1.4)


def _gutter(lines: Sequence[OcrLine]) -> tuple[int, int] | None:
    """The empty vertical band between two text columns, or None for a one-column page: the
    widest x-range inside the text that no box narrower than 60% of the text width covers,
    at least two character heights wide, with at least 30% of the boxes (and 3) wholly on each
    side, the two sides side by side (overlapping vertically by half)."""
    left, right = min(b.box[0] for b in lines), max(b.box[2] for b in lines)
    width = right - left
    heights = sorted(b.box[3] - b.box[1] for b in lines)
    narrow = sorted((b.box[0], b.box[2]) for b in lines if b.box[2] - b.box[0] < 0.6 * width)
    best, reach = None, left
    for x0, x1 in narrow:
        if x0 - reach > (best[1] - best[0] if best else 0) and reach > left:
            best = (reach, x0)
        reach = max(reach, x1)
    if best is None or best[1] - best[0] < 2 * heights[len(heights) // 2]:
        return None
    on_left = [b for b in lines if b.box[2] <= best[0]]
    on_right = [b for b in lines if b.box[0] >= best[1]]
    if min(len(on_left), len(on_right)) < max(3, 0.3 * len(lines)):
        return None
    return best if _overlap(_span(on_left), _span(on_right)) >= 0.5 else None


def _span(lines: Sequence[OcrLine]) -> tuple[int, int]:
    return min(b.box[1] for b in lines), max(b.box[3] for b in lines)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Vertical overlap of two ranges as a share of the shorter one."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0])) / max(1, min(a[1] - a[0], b[1] - b[0]))


def _blocks(lines: Sequence[OcrLine]) -> list[list[OcrLine]]:
    """Boxes in reading order as blocks: the whole page, or for a two-column page, runs of the
    left column then the right column between boxes spanning both (a title, a table)."""
    gutter = _gutter(lines)
    if gutter is None:
        return [list(lines)]
    blocks: list[list[OcrLine]] = []
    section: list[OcrLine] = []
    for b in sorted(lines, key=lambda b: b.box[1]):
        if b.box[0] < gutter[0] and b.box[2] > gutter[1]:  # spans both columns
            blocks += [[x for x in section if x.box[2] <= gutter[0]], [x for x in section if x.box[2] > gutter[0]], [b]]
            section = []
        else:
            section.append(b)
    blocks += [[x for x in section if x.box[2] <= gutter[0]], [x for x in section if x.box[2] > gutter[0]]]
    return [blk for blk in blocks if blk]


class _Text:
    """Page text being assembled, with where each box's text went."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.placed: list[PlacedLine] = []
        self.pos = 0

    def add(self, piece: str, line: OcrLine | None = None) -> None:
        if line is not None:
            self.placed.append(PlacedLine(self.pos, self.pos + len(piece), line))
        self.parts.append(piece)
        self.pos += len(piece)

    def last(self) -> str:
        return self.parts[-1] if self.parts else ""


def _add_block(out: _Text, lines: list[OcrLine]) -> None:
    rows = _rows(lines)
    left = min(r[0].box[0] for r in rows)
    right = max(r[-1].box[2] for r in rows)
    for i, row in enumerate(rows):
        if out.parts:
            out.add(_joiner(out.last(), row[0].text) if i and _runs_on(rows[i - 1], row, left, right) else "\n")
        for j, b in enumerate(row):
            if j:
                gap = b.box[0] - row[j - 1].box[2]
                out.add(" " if gap > _height(row) else _joiner(row[j - 1].text, b.text))
            out.add(b.text, b)


def _skew(lines: Sequence[OcrLine]) -> float:
    """The page's skew (radians, clockwise positive): the median slope of the top edges of
    its horizontal lines' quadrilaterals."""
    slopes = sorted(math.atan2(q[3] - q[1], q[2] - q[0]) for q in (ln.quad for ln in lines)
                    if len(q) == 8 and q[2] - q[0] > 2 * abs(q[7] - q[1]))
    return slopes[len(slopes) // 2] if slopes else 0.0


def _turned_back(ln: OcrLine, angle: float) -> OcrLine:
    """``ln`` with its corners turned by ``-angle`` about the origin (layout only)."""
    c, s = math.cos(angle), math.sin(angle)
    pts = [(x * c + y * s, -x * s + y * c) for x, y in zip(ln.quad[0::2], ln.quad[1::2])]
    xs, ys = [x for x, _ in pts], [y for _, y in pts]
    quad = tuple(int(round(v)) for pt in pts for v in pt)
    return OcrLine(ln.text, ln.score, (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))), quad)


def page_text(lines: Sequence[OcrLine]) -> tuple[str, list[PlacedLine]]:
    """The page's text in reading order and where each box's text sits in it. A skewed
    page is laid out as if straightened (its boxes turned back by the median skew)."""
    lines = [b for b in lines if b.text]
    angle = _skew(lines)
    if abs(angle) > _MIN_SKEW and all(len(b.quad) == 8 for b in lines):
        straight = [_turned_back(b, angle) for b in lines]
        original = {id(t): b for t, b in zip(straight, lines)}
    else:
        straight, original = lines, {id(b): b for b in lines}
    out = _Text()
    if straight:
        for block in _blocks(straight):
            _add_block(out, block)
    return "".join(out.parts), [PlacedLine(p.start, p.end, original[id(p.line)]) for p in out.placed]
