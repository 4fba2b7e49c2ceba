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

import io
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .ocr_layout import OcrLine

CACHE_VERSION = 2  # 2: each line's quadrilateral
OCR_CACHE = "ocr-cache"  # the cache folder's name inside the index folder
IMAGE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tif", ".tiff": "tif", ".bmp": "bmp"}
_GOOD_QUALITY = 0.9  # mean confidence above which an upright-looking page is not read again
_TRIAL_SIDE = 1280  # longest side (pixels) of the copy orientation trials read
_PROBE_LINES = 8  # boxes recognised alone to find which way up a page is
_MIN_SCORE = 0.5  # confidence under which a recognised box is not indexed
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
    # the recognition process this run owns (None: each call starts and closes its own)
    worker: "OcrWorker | None" = field(default=None, compare=False, repr=False)
    # called with (page number, pages to recognise) before each page is recognised
    on_page: Callable[[int, int], None] | None = field(default=None, compare=False)


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
    """One recognition process (a fresh interpreter), started on first use and killed on a
    page's timeout (a fresh one starts for the next page). Whoever runs OCR owns a worker and
    closes it when done (``with OcrWorker() as worker:``); a closed worker starts no process,
    and ``close`` from another thread stops a page being read at once (a cancelled build)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._closed = False
        self._pages = threading.Lock()  # one page at a time
        self._state = threading.Lock()  # guards _proc/_closed (close may come from another thread)

    def __enter__(self) -> "OcrWorker":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run(self, task: tuple, timeout_s: float) -> OcrPage:
        with self._pages:
            return self._run(task, timeout_s)

    def _run(self, task: tuple, timeout_s: float) -> OcrPage:
        proc = self._process()
        try:
            _send(proc.stdin, task)
            status, value = _recv(proc.stdout.fileno(), time.monotonic() + timeout_s)
        except TimeoutError:
            self._stop(proc)
            raise OcrError(f"page took longer than {timeout_s:g} s (setting ocr_page_timeout_s)") from None
        except (EOFError, OSError, ValueError, pickle.UnpicklingError, struct.error):
            self._stop(proc)
            if self._closed:
                raise OcrError(_CLOSED, of_file=False) from None
            raise OcrError("the OCR process stopped (out of memory or a crash)") from None
        if status != "ok":
            raise OcrError(value)
        return OcrPage.from_json(value)

    def _process(self) -> subprocess.Popen:
        """The running process, a fresh one started (and its engine loaded) if needed."""
        with self._state:
            if self._closed:
                raise OcrError(_CLOSED, of_file=False)
            proc, fresh = self._proc, False
            if proc is None or proc.poll() is not None:
                proc, fresh = self._spawn(), True
                self._proc = proc
        if fresh:
            self._ready(proc)
        return proc

    def _ready(self, proc: subprocess.Popen) -> None:
        """Wait for a new process to load its engine (not counted in any page's time)."""
        try:
            status, value = _recv(proc.stdout.fileno(), time.monotonic() + _START_TIMEOUT_S)
        except TimeoutError:
            self._stop(proc)
            raise OcrError(f"the OCR engine did not start within {_START_TIMEOUT_S} s", of_file=False) from None
        except (EOFError, OSError, ValueError, pickle.UnpicklingError, struct.error):
            self._stop(proc)
            reason = _CLOSED if self._closed else "the OCR process stopped while starting (out of memory or a crash)"
            raise OcrError(reason, of_file=False) from None
        if status != "ready":
            self._stop(proc)
            raise OcrError(value, of_file=False)

    def _spawn(self) -> subprocess.Popen:
        # this very package (not another installed copy), its folder on the path only while
        # the module is imported: the libraries it loads later come from the usual places
        folder = str(Path(__file__).resolve().parents[1])
        boot = (f"import sys; sys.path.insert(0, {folder!r}); import policyqa.ocr as m; "
                f"sys.path.remove({folder!r}); m._worker_main()")
        return subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, close_fds=True)

    def _stop(self, proc: subprocess.Popen) -> None:
        """Kill ``proc`` (a page past its time, a broken pipe); the next page starts a fresh one."""
        with self._state:
            if self._proc is proc:
                self._proc = None
        _kill(proc)

    def close(self) -> None:
        """Stop the process for good (killed: it holds nothing, results are written on this side)."""
        with self._state:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is not None:
            _kill(proc)


_CLOSED = "OCR stopped: its worker was closed (the build ended or was cancelled)"


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    for fh in (proc.stdin, proc.stdout):
        try:
            fh.close()
        except OSError:
            pass


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
    if todo and opts.worker is None:
        with OcrWorker() as worker:  # a caller reading one file: a worker for this file only
            return recognise_pages(kind, raw, sha256, pages, replace(opts, worker=worker))
    for i, n in enumerate(todo):
        if opts.on_page:
            opts.on_page(i + 1, len(todo))
        try:
            cache.pages[n] = opts.worker.run((kind, raw, n, dpi, opts.max_pixels), opts.page_timeout_s)
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
