"""OCR results cached per file content (``<index_dir>/ocr-cache/<sha256>.json``) and each line's place in the text."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ocr_types import OcrPage

CACHE_VERSION = 2  # 2: each line's quadrilateral
OCR_CACHE = "ocr-cache"  # the cache folder's name inside the index folder


@dataclass
class OcrCache:
    """Recognised pages of one file (by content hash), read and written as JSON."""

    path: Path | None
    key: dict[str, Any]
    pages: dict[int, OcrPage] = field(default_factory=dict)
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
            cache.layout = data.get("layout")
        return cache

    def save(self) -> None:
        if self.path is None:
            return
        data = {"version": CACHE_VERSION, "key": self.key, "layout": self.layout,
                "pages": {str(n): p.to_json() for n, p in sorted(self.pages.items())}}
        _write_json(self.path, data)


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
