"""Offline OCR of scanned PDF pages and page images (rapidocr-onnxruntime, PP-OCRv4 Chinese).

* Recognition runs in a worker process (``OcrWorker``, spawned on first use) that renders the
  page itself (pypdfium2 for PDF pages, Pillow for images), so a page that hangs past
  ``page_timeout_s`` or crashes the engine is killed without taking the build with it. The
  engine is created lazily inside the worker; importing this module loads no model.
* rapidocr's per-line angle classifier is never used (it drops lines). A page is turned
  upright as a whole: it is read as rendered; when its boxes mostly stand upright or its
  confidence is low, its longest boxes are recognised alone turned 0/90/180/270 degrees and
  the page is read again turned the way they scored highest (confidence × characters of
  horizontal lines). Finding nothing at all, it tries the turns on a scaled-down copy.
* A page is rendered at ``dpi`` (a huge page at fewer, to stay within ``max_pixels``); an
  image declaring more than ``max_pixels`` is refused before it is decoded.
* ``page_text`` puts the boxes in reading order (a skewed page laid out straightened, a
  two-column page column by column): rows top to bottom (boxes whose centres are within half
  a character height form one row), left to right within a row; a row that reaches the right margin
  runs on into the next unindented row of the same paragraph (no space between CJK
  characters), other rows end with a newline. Recognised text is kept as the engine wrote it
  (its own punctuation, no NFKC): offsets index it exactly.
* Results are cached per file content (``<cache_dir>/<sha256>.json``) page by page, so a
  reindex never repeats OCR; a failure is cached with the time limit it met.
"""

from __future__ import annotations

import atexit
import io
import json
import math
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

CACHE_VERSION = 2  # 2: each line's quadrilateral
OCR_CACHE = "ocr-cache"  # the cache folder's name inside the index folder
IMAGE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tif", ".tiff": "tif", ".bmp": "bmp"}
_GOOD_QUALITY = 0.9  # mean confidence above which an upright-looking page is not read again
_TRIAL_SIDE = 1280  # longest side (pixels) of the copy orientation trials read
_PROBE_LINES = 8  # boxes recognised alone to find which way up a page is
_MIN_SCORE = 0.5  # confidence under which a recognised box is not indexed
_MIN_SKEW = math.radians(0.2)  # a page skewed more is laid out straightened
_START_TIMEOUT_S = 300  # for the worker to import and load its models


class OcrError(Exception):
    """OCR of a page failed; ``reason`` says why (shown as the file's skip reason).
    ``of_file``: the file's own fault (cached, not tried again), not the engine's."""

    def __init__(self, reason: str, of_file: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.of_file = of_file


@dataclass(frozen=True)
class OcrOptions:
    dpi: int = 200
    max_pages: int = 200
    max_pixels: int = 60_000_000
    page_timeout_s: float = 120.0
    cache_dir: Path | None = None
    # called with (page number, pages to recognise) before each page is recognised
    on_page: Callable[[int, int], None] | None = field(default=None, compare=False)


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
class OcrPage:
    lines: tuple[OcrLine, ...]
    angle: int  # degrees (counter-clockwise) the rendered page was turned to read it upright
    width: int  # of the upright page image, pixels
    height: int
    dpi: int  # 0 for an image file (its own pixels)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "OcrPage":
        lines = tuple(OcrLine(x["text"], float(x["score"]), tuple(int(v) for v in x["box"]),
                              tuple(int(v) for v in x.get("quad", ()))) for x in d["lines"])
        return cls(lines, int(d["angle"]), int(d["width"]), int(d["height"]), int(d["dpi"]), float(d["seconds"]))


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


# ---------------------------------------------------------------- recognition (worker side)

_ENGINE = None  # the worker process's engine, created on first use


def _engine():
    global _ENGINE
    if _ENGINE is None:
        from rapidocr_onnxruntime import RapidOCR

        # few threads: the first inference with one per core took seconds more on a busy machine
        # every box with its confidence (text_score 0): the weak ones tell which way up a page is
        _ENGINE = RapidOCR(text_score=0.0, intra_op_num_threads=max(1, min(4, (os.cpu_count() or 2) // 2)))
    return _ENGINE


def _read(img) -> list[OcrLine]:
    """Every box found and its text, however weak (``_kept`` drops the weak ones)."""
    result, _ = _engine()(img, use_cls=False)
    out = []
    for points, text, score in result or []:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if not str(text).strip():
            continue
        quad = tuple(int(round(v)) for p in points for v in p[:2])
        out.append(OcrLine(str(text).strip(), float(score), (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))),
                           quad if len(quad) == 8 else ()))
    return out


def _kept(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """The lines recognised confidently enough to index (rapidocr's own default threshold)."""
    return [ln for ln in lines if ln.score >= _MIN_SCORE]


def _wide(ln: OcrLine) -> bool:
    return ln.box[2] - ln.box[0] >= 0.8 * (ln.box[3] - ln.box[1])


def _tall(lines: Sequence[OcrLine]) -> bool:
    """True when the boxes (weighted by their long side) mostly stand upright: a page on its side."""
    def long_side(ln: OcrLine) -> int:
        return max(ln.box[2] - ln.box[0], ln.box[3] - ln.box[1])

    upright = sum(long_side(ln) for ln in lines if ln.box[3] - ln.box[1] > 1.2 * (ln.box[2] - ln.box[0]))
    return upright > sum(long_side(ln) for ln in lines if _wide(ln))


def _upright_score(lines: Sequence[OcrLine]) -> float:
    """Confidence × characters of the boxes that read as horizontal lines."""
    return sum(ln.score * len(ln.text) for ln in lines if _wide(ln))


def _quality(lines: Sequence[OcrLine]) -> float:
    chars = sum(len(ln.text) for ln in lines)
    return sum(ln.score * len(ln.text) for ln in lines) / chars if chars else 0.0


def _reads_well(lines: Sequence[OcrLine]) -> bool:
    return bool(lines) and not _tall(lines) and _quality(lines) >= _GOOD_QUALITY


def _turn(img, angle: int):
    import numpy as np

    return img if angle == 0 else np.ascontiguousarray(np.rot90(img, angle // 90))


def _small(img, side: int = _TRIAL_SIDE):
    """The page scaled down for orientation trials (``img`` itself when small already)."""
    import cv2

    h, w = img.shape[:2]
    if max(h, w) <= side:
        return img
    f = side / max(h, w)
    return cv2.resize(img, (max(int(w * f), 1), max(int(h * f), 1)), interpolation=cv2.INTER_AREA)


def _probe(img, lines: Sequence[OcrLine], angle: int) -> float:
    """Confidence × characters of the page's longest boxes recognised alone, each turned by
    ``angle`` (a box that would stand upright after turning scores nothing)."""
    h, w = img.shape[:2]
    score = 0.0
    longest = sorted(lines, key=lambda ln: -max(ln.box[2] - ln.box[0], ln.box[3] - ln.box[1]))
    for ln in longest[:_PROBE_LINES]:
        x0, y0, x1, y1 = max(ln.box[0], 0), max(ln.box[1], 0), min(ln.box[2], w), min(ln.box[3], h)
        crop = _turn(img[y0:y1, x0:x1], angle)
        if crop.size == 0 or crop.shape[0] > 1.2 * crop.shape[1]:
            continue
        result, _ = _engine()(crop, use_det=False, use_cls=False)
        for text, conf in result or []:
            score += float(conf) * len(str(text).strip())
    return score


def recognise(img) -> tuple[int, list[OcrLine], Any]:
    """(angle, lines, upright image) of a page image (numpy BGR array). Read as given; unless
    that reads well, its longest boxes are recognised alone turned each way (``_probe``) and
    the page is read again turned the way they read best. A page where nothing was found is
    tried turned on a scaled-down copy instead (``_trials``)."""
    found = _read(img)
    lines = _kept(found)
    if _reads_well(found):
        return 0, lines, img
    again = None
    if found:
        scores = {angle: _probe(img, found, angle) for angle in (0, 90, 180, 270)}
        best = max(scores, key=lambda a: (scores[a], -a))
    else:
        best, again = _trials(img)
    if best == 0:
        return 0, lines, img
    turned = _turn(img, best)
    again = _kept(again if again is not None else _read(turned))
    if _upright_score(again) < _upright_score(lines):
        return 0, lines, img
    return best, again, turned


def _trials(img) -> tuple[int, list[OcrLine] | None]:
    """The turn (degrees) under which a scaled-down copy of the page reads best, and what it
    read when the page was small enough to be read as it is (else None)."""
    small = _small(img)
    trials: dict[int, list[OcrLine]] = {}
    for angle in (90, 270, 180):
        trials[angle] = _read(_turn(small, angle))
        if _reads_well(trials[angle]):
            break
    best = max(trials, key=lambda a: (_upright_score(_kept(trials[a])), -a))
    if _upright_score(_kept(trials[best])) <= 0:
        return 0, None
    return best, trials[best] if small is img else None


def _render_pdf_page(raw: bytes, index: int, dpi: int, max_pixels: int):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(raw)
    try:
        page = pdf[index]
        w, h = page.get_size()  # points
        scale = dpi / 72
        if w * h * scale * scale > max_pixels:
            scale = (max_pixels / (w * h)) ** 0.5  # a huge page is read at a lower resolution
        return _bgr(page.render(scale=scale).to_pil())
    finally:
        pdf.close()


def _bgr(pil_image):
    """The engine's input: a BGR array, transparency laid on white."""
    import numpy as np
    from PIL import Image

    if pil_image.mode in ("RGBA", "LA", "PA") or "transparency" in pil_image.info:
        rgba = pil_image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, "white")
        pil_image = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(pil_image.convert("RGB"))[:, :, ::-1])


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)  # what Pillow raises on bad data


def _load_image_frame(raw: bytes, frame: int, max_pixels: int):
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > max_pixels:
                raise OcrError(_too_many_pixels(im.width, im.height, max_pixels))
            im.seek(frame)
            return _bgr(ImageOps.exif_transpose(im))  # a phone photo's orientation tag applied
    except Image.DecompressionBombError as e:
        raise OcrError(_bomb(e, max_pixels)) from None
    except _DECODE_ERRORS as e:
        raise OcrError(f"corrupt image: {type(e).__name__}: {str(e)[:200]}") from None


def ocr_page_task(task: tuple) -> OcrPage:
    """Render and recognise one page: ``("pdf", raw, index, dpi, max_pixels)`` or
    ``("image", raw, frame, 0, max_pixels)``. Runs in the worker process."""
    kind, raw, index, dpi, max_pixels = task
    t0 = time.perf_counter()
    img = _render_pdf_page(raw, index, dpi, max_pixels) if kind == "pdf" else _load_image_frame(raw, index, max_pixels)
    angle, lines, upright = recognise(img)
    h, w = upright.shape[:2]
    return OcrPage(tuple(lines), angle, int(w), int(h), dpi if kind == "pdf" else 0, time.perf_counter() - t0)


def _send(fh, obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(struct.pack("<Q", len(body)) + body)
    fh.flush()


def _recv_exact(fd: int, n: int, deadline: float | None) -> bytes:
    parts, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _recv(fd: int, deadline: float | None) -> Any:
    (n,) = struct.unpack("<Q", _recv_exact(fd, 8, deadline))
    return pickle.loads(_recv_exact(fd, n, deadline))


def _worker_main() -> None:
    """The worker's loop: tasks on stdin, results on stdout (pickled, length first);
    anything a library prints goes to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    fd = sys.stdin.fileno()
    try:
        _engine()  # the model loads before the first page's time limit starts
        _send(out, ("ready", None))
    except Exception as e:  # noqa: BLE001 — reported as the file's skip reason
        _send(out, ("error", f"the OCR engine cannot start: {type(e).__name__}: {str(e)[:200]}"))
        return
    while True:
        try:
            task = _recv(fd, None)
        except EOFError:
            return
        try:
            reply = ("ok", ocr_page_task(task).to_json())
        except OcrError as e:
            reply = ("error", e.reason)
        except Exception as e:  # noqa: BLE001 — reported as the file's skip reason
            reply = ("error", f"OCR failed: {type(e).__name__}: {str(e)[:200]}")
        _send(out, reply)


# ---------------------------------------------------------------- the worker process (build side)


class OcrWorker:
    """One recognition process (a fresh interpreter), started on first use and killed
    on a timeout (a fresh one starts for the next page)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def run(self, task: tuple, timeout_s: float) -> OcrPage:
        with self._lock:
            return self._run(task, timeout_s)

    def _run(self, task: tuple, timeout_s: float) -> OcrPage:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
            self._ready()
        proc = self._proc
        try:
            _send(proc.stdin, task)
            status, value = _recv(proc.stdout.fileno(), time.monotonic() + timeout_s)
        except TimeoutError:
            self.close(kill=True)
            raise OcrError(f"page took longer than {timeout_s:g} s (setting ocr_page_timeout_s)") from None
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            self.close(kill=True)
            raise OcrError("the OCR process stopped (out of memory or a crash)") from None
        if status != "ok":
            raise OcrError(value)
        return OcrPage.from_json(value)

    def _ready(self) -> None:
        """Wait for the new process to load its engine (not counted in any page's time)."""
        try:
            status, value = _recv(self._proc.stdout.fileno(), time.monotonic() + _START_TIMEOUT_S)
        except TimeoutError:
            self.close(kill=True)
            raise OcrError(f"the OCR engine did not start within {_START_TIMEOUT_S} s", of_file=False) from None
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            self.close(kill=True)
            raise OcrError("the OCR process stopped while starting (out of memory or a crash)", of_file=False) from None
        if status != "ready":
            self.close(kill=True)
            raise OcrError(value, of_file=False)

    def _start(self) -> None:
        # this very package (not another installed copy), its folder on the path only while
        # the module is imported: the libraries it loads later come from the usual places
        folder = str(Path(__file__).resolve().parents[1])
        boot = (f"import sys; sys.path.insert(0, {folder!r}); import policyqa.ocr as m; "
                f"sys.path.remove({folder!r}); m._worker_main()")
        self._proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, close_fds=True)

    def close(self, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        else:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for fh in (proc.stdin, proc.stdout):
            try:
                fh.close()
            except OSError:
                pass


_WORKER = OcrWorker()  # (no process until the first page)
atexit.register(_WORKER.close)


def run_page(task: tuple, timeout_s: float) -> OcrPage:
    return _WORKER.run(task, timeout_s)


def close_worker() -> None:
    """Stop the recognition process (a build calls this when parsing is done: a server does
    not keep the engine's memory between reindexes)."""
    _WORKER.close()


def prune_cache(cache_dir: Path, keep: set[str]) -> list[str]:
    """Remove the cached results of files no longer in the corpus (hashes not in ``keep``)."""
    removed = []
    try:
        entries = list(os.scandir(cache_dir))
    except OSError:
        return removed
    for entry in entries:
        sha = entry.name.split(".")[0]
        if entry.name.endswith((".json", ".tmp")) and sha not in keep:
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except OSError:
                pass
    return removed


# ---------------------------------------------------------------- cache


@dataclass
class OcrCache:
    """Recognised pages of one file (by content hash), read and written as JSON."""

    path: Path | None
    key: dict[str, Any]
    pages: dict[int, OcrPage] = field(default_factory=dict)
    failure: dict[str, Any] | None = None
    layout: dict[str, Any] | None = None  # lines' spans in the file's text (``save_layout``)

    @classmethod
    def open(cls, cache_dir: Path | None, sha256: str, key: dict[str, Any]) -> "OcrCache":
        path = None if cache_dir is None else Path(cache_dir) / f"{sha256}.json"
        cache = cls(path, key)
        if path is None:
            return cache
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cache
        if data.get("version") == CACHE_VERSION and data.get("key") == key:
            cache.pages = {int(n): OcrPage.from_json(p) for n, p in data.get("pages", {}).items()}
            cache.failure = data.get("failure")
            cache.layout = data.get("layout")
        return cache

    def save(self) -> None:
        if self.path is None:
            return
        data = {"version": CACHE_VERSION, "key": self.key, "failure": self.failure, "layout": self.layout,
                "pages": {str(n): p.to_json() for n, p in sorted(self.pages.items())}}
        _write_json(self.path, data)


def _bomb(error: Exception, limit: int) -> str:
    return (f"image refused as a decompression bomb ({str(error).split(',')[0]}), more than the limit of "
            f"{limit}; raise the setting ocr_max_pixels to read it")


def _cache_key(kind: str, opts: OcrOptions) -> dict[str, Any]:
    return {"kind": kind, "dpi": opts.dpi if kind == "pdf" else 0, "engine": "rapidocr-ppocrv4"}


def save_layout(cache_dir: Path, sha256: str, layout: dict[str, Any]) -> None:
    """Record where each recognised line of a file sits in its text: ``layout["lines"]`` holds
    ``[page, start, end, x0, y0, x1, y1]`` (offsets into the file's text, box in pixels of
    the upright page ``layout["pages"][page]``: angle, width, height, dpi)."""
    path = Path(cache_dir) / f"{sha256}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if data.get("layout") != layout:
        data["layout"] = layout
        _write_json(path, data)


def read_layout(cache_dir: Path, sha256: str) -> dict[str, Any] | None:
    """The layout ``save_layout`` recorded for a file, or None."""
    try:
        return json.loads((Path(cache_dir) / f"{sha256}.json").read_text(encoding="utf-8")).get("layout")
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written costs time, not results


def _too_many_pixels(w: int, h: int, limit: int) -> str:
    return (f"image is {w}×{h} = {w * h} pixels, more than the limit of {limit} (a decompression "
            "bomb?); raise the setting ocr_max_pixels to read it")


def recognise_pages(kind: str, raw: bytes, sha256: str, pages: Sequence[int], opts: OcrOptions) -> dict[int, OcrPage]:
    """OCR ``pages`` (0-based) of a PDF (``kind="pdf"``) or image frames, through the cache."""
    dpi = opts.dpi if kind == "pdf" else 0
    cache = OcrCache.open(opts.cache_dir, sha256, _cache_key(kind, opts))
    if cache.failure and cache.failure.get("timeout_s") == opts.page_timeout_s:
        raise OcrError(cache.failure["reason"])
    todo = [n for n in pages if n not in cache.pages]
    for i, n in enumerate(todo):
        if opts.on_page:
            opts.on_page(i + 1, len(todo))
        try:
            cache.pages[n] = run_page((kind, raw, n, dpi, opts.max_pixels), opts.page_timeout_s)
        except OcrError as e:
            reason = f"OCR of page {n + 1}: {e.reason}" if kind == "pdf" or len(pages) > 1 else e.reason
            if e.of_file:  # (an engine that cannot start is tried again next time)
                cache.failure = {"reason": reason, "timeout_s": opts.page_timeout_s}
                cache.save()
            raise OcrError(reason, e.of_file) from None
        cache.save()
    return {n: cache.pages[n] for n in pages}


def image_frames(raw: bytes, opts: OcrOptions) -> int:
    """The number of frames (pages) of an image file, its size checked first (header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > opts.max_pixels:
                raise OcrError(_too_many_pixels(im.width, im.height, opts.max_pixels))
            return int(getattr(im, "n_frames", 1) or 1)
    except UnidentifiedImageError:
        raise OcrError("corrupt image: not a PNG, JPEG, TIFF or BMP file that can be read") from None
    except Image.DecompressionBombError as e:
        raise OcrError(_bomb(e, opts.max_pixels)) from None
    except _DECODE_ERRORS as e:
        raise OcrError(f"corrupt image: {type(e).__name__}: {str(e)[:200]}") from None
