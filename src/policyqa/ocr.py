"""OCR of scanned PDF pages and page images (rapidocr, offline): options, and pages read through the cache by a worker."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from .ocr_cache import OCR_CACHE, OcrCache, prune_cache, read_layout, save_layout
from .ocr_images import image_frames
from .ocr_types import DEFAULT_OCR_MODEL, IMAGE_FORMATS, OCR_MODELS, OcrError, OcrPage, PageTask
from .ocr_worker import OcrWorker

__all__ = ["DEFAULT_OCR_MODEL", "IMAGE_FORMATS", "OCR_CACHE", "OCR_MODELS", "OcrError", "OcrOptions", "OcrPage", "OcrWorker", "PageTask", "PagesRead", "image_frames",
           "prune_cache", "read_layout", "recognise_pages", "save_layout"]


@dataclass(frozen=True)
class OcrOptions:
    """A run's OCR limits. A page is rendered at ``dpi`` (a huge page at fewer, to stay within
    ``max_pixels``); an image declaring more than ``max_pixels`` is refused before it is
    decoded; a page past ``page_timeout_s`` is given up (its worker killed). Pages are cached
    under ``cache_dir`` (None: not cached), keyed by ``model`` (the recognition model, one of
    ``OCR_MODELS``; a worker given must run the same one)."""

    dpi: int = 200
    model: str = DEFAULT_OCR_MODEL
    max_pages: int = 200
    max_pixels: int = 60_000_000
    page_timeout_s: float = 120.0
    cache_dir: Path | None = None
    # the recognition process this run owns (None: each call starts and closes its own)
    worker: OcrWorker | None = field(default=None, compare=False, repr=False)
    # called with (page number, pages to recognise) before each page is recognised
    on_page: Callable[[int, int], None] | None = field(default=None, compare=False)


def _cache_key(kind: str, opts: OcrOptions) -> dict[str, Any]:
    return {"kind": kind, "dpi": opts.dpi if kind == "pdf" else 0, "engine": _ENGINES.get(opts.model, opts.model)}


# the cache key's engine per model ("rapidocr-ppocrv4" as before models could be chosen:
# pages cached then stay valid for v4, and are read again for v6)
_ENGINES = {"ppocr-v4": "rapidocr-ppocrv4", "ppocr-v6": "rapidocr3.10-ppocrv6-small"}


@dataclass(frozen=True)
class PagesRead:
    """What OCR made of a file's pages: those recognised, and why each other one failed."""

    pages: dict[int, OcrPage]
    failed: dict[int, str] = field(default_factory=dict)


def recognise_pages(kind: str, raw: bytes, sha256: str, pages: Sequence[int], opts: OcrOptions) -> PagesRead:
    """OCR ``pages`` (0-based) of a PDF (``kind="pdf"``) or image frames, through the cache. A
    page that fails (past its time limit, a crash, a corrupt frame) is listed in ``failed``
    and not cached, so the next build tries it again; an engine that cannot start raises."""
    dpi = opts.dpi if kind == "pdf" else 0
    cache = OcrCache.open(opts.cache_dir, sha256, _cache_key(kind, opts))
    todo = [n for n in pages if n not in cache.pages]
    if todo and opts.worker is None:
        with OcrWorker(opts.model) as worker:  # a caller reading one file: a worker for this file only
            return recognise_pages(kind, raw, sha256, pages, replace(opts, worker=worker))
    if todo and getattr(opts.worker, "model", opts.model) != opts.model:
        raise ValueError(f"the OCR worker runs {opts.worker.model!r}, the options ask for {opts.model!r}")
    failed: dict[int, str] = {}
    for i, n in enumerate(todo):
        if opts.on_page:
            opts.on_page(i + 1, len(todo))
        try:
            cache.pages[n] = opts.worker.run(PageTask(kind, raw, n, dpi, opts.max_pixels), opts.page_timeout_s)
        except OcrError as e:
            if not e.of_file:  # the engine's fault: every page would fail alike
                raise
            failed[n] = e.reason
            continue
        cache.save()
    return PagesRead({n: cache.pages[n] for n in pages if n in cache.pages}, failed)
