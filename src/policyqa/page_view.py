"""A cited passage of a scanned page shown on the page itself.

The page image is not stored twice: it is rendered again from the corpus file (the scan is
the kept image), turned upright as OCR turned it, and the recognised lines the passage spans
are boxed, using the layout the OCR cache keeps (``ocr_cache.save_layout``: each line's span
in the file's text and its box in pixels of the upright page). A file that changed since it
was indexed shows no region (its boxes belong to other bytes).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .corpus_walk import corpus_path, read_corpus_bytes
from .errors import LoadError
from .ocr import read_layout
from .ocr_images import load_image_frame, render_pdf_page

Box = tuple[int, int, int, int]
MAX_SIDE = 1400  # the longer side of the image sent to the page: legible, and ~150 KB as JPEG


@dataclass(frozen=True)
class PageRegion:
    """Page ``page`` (1-based) of ``source`` as a JPEG, with the passage's lines boxed."""

    source: str
    page: int
    image: bytes  # JPEG
    width: int
    height: int
    boxes: tuple[Box, ...]  # in the image's pixels


def passage_boxes(layout: dict[str, Any], start: int, end: int) -> tuple[int, list[Box]] | None:
    """(page, boxes) of the recognised lines overlapping ``[start, end)``, on the page holding
    most of the passage's characters; None when no recognised line overlaps it."""
    overlap: dict[int, int] = {}
    boxes: dict[int, list[Box]] = {}
    for page, s, e, x0, y0, x1, y1 in layout.get("lines", []):
        shared = min(e, end) - max(s, start)
        if shared > 0 or (s == e and start <= s < end):
            overlap[page] = overlap.get(page, 0) + max(shared, 0)
            boxes.setdefault(page, []).append((int(x0), int(y0), int(x1), int(y1)))
    if not overlap:
        return None
    page = max(overlap, key=lambda p: (overlap[p], -p))
    return page, boxes[page]


def upright_page(raw: bytes, fmt: str, page: int, info: dict[str, Any], max_pixels: int):
    """The page image (BGR array) as OCR read it: rendered at its dpi, turned by its angle."""
    import numpy as np

    if fmt == "pdf":
        img = render_pdf_page(raw, page - 1, int(info.get("dpi") or 200), max_pixels)
    else:
        img = load_image_frame(raw, page - 1, max_pixels)
    angle = int(info.get("angle") or 0)
    return img if angle % 360 == 0 else np.ascontiguousarray(np.rot90(img, angle // 90))


def draw_region(img, boxes: Sequence[Box], layout_size: tuple[int, int], max_side: int = MAX_SIDE
                ) -> tuple[bytes, int, int, tuple[Box, ...]]:
    """JPEG of ``img`` (BGR) scaled to ``max_side`` with ``boxes`` (given in pixels of a page of
    ``layout_size``) shaded and outlined; the boxes as drawn."""
    from PIL import Image, ImageDraw

    page = Image.fromarray(img[:, :, ::-1].copy()).convert("RGB")
    lw, lh = layout_size
    sx, sy = page.width / max(lw, 1), page.height / max(lh, 1)  # a page rendered at a capped size
    scale = min(1.0, max_side / max(page.width, page.height))
    if scale < 1.0:
        page = page.resize((max(1, round(page.width * scale)), max(1, round(page.height * scale))))
    drawn = tuple((round(x0 * sx * scale), round(y0 * sy * scale), round(x1 * sx * scale), round(y1 * sy * scale))
                  for x0, y0, x1, y1 in boxes)
    shade = Image.new("RGBA", page.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(shade)
    pad = max(2, round(4 * scale))
    for x0, y0, x1, y1 in drawn:
        pen.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=(255, 214, 0, 90),
                      outline=(220, 38, 38, 255), width=max(2, round(3 * scale)))
    out = Image.alpha_composite(page.convert("RGBA"), shade).convert("RGB")
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=80)
    return buf.getvalue(), out.width, out.height, drawn


def page_region(corpus: Path, source: str, known: dict[str, Any], cache_dir: Path, start: int, end: int,
                max_bytes: int, max_pixels: int) -> PageRegion | None:
    """The region of ``[start, end)`` of ``source`` on its page, when OCR read that page and
    the file still has the bytes it was indexed from (``known``: its manifest entry); else None.
    The file is read as a build reads it (inside the corpus only, links refused)."""
    if not known.get("ocr_pages") or not known.get("sha256"):
        return None
    layout = read_layout(cache_dir, known["sha256"])
    found = passage_boxes(layout, start, end) if layout else None
    if found is None:
        return None
    page, boxes = found
    info = (layout.get("pages") or {}).get(str(page)) or {}
    try:
        raw, _ = read_corpus_bytes(corpus_path(corpus, source), Path(corpus), source, max_bytes)
    except LoadError:
        return None
    if hashlib.sha256(raw).hexdigest() != known["sha256"]:
        return None
    try:
        img = upright_page(raw, known.get("format", "pdf"), page, info, max_pixels)
    except Exception:  # noqa: BLE001 — a page that cannot be rendered again (pdfium, a bad frame) shows no region, never an error
        return None
    size = (int(info.get("width") or img.shape[1]), int(info.get("height") or img.shape[0]))
    jpeg, w, h, drawn = draw_region(img, boxes, size)
    return PageRegion(source, page, jpeg, w, h, drawn)
