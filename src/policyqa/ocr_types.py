"""What OCR passes around: a page task, a recognised page, the error naming why a page failed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .ocr_layout import OcrLine

# recognition models: "ppocr-v6" (PP-OCRv6 small, package rapidocr 3.10: simplified and
# traditional Chinese) and "ppocr-v4" (PP-OCRv4, package rapidocr-onnxruntime 1.4.4: no 準 綜 隊 …)
OCR_MODELS = ("ppocr-v6", "ppocr-v4")
DEFAULT_OCR_MODEL = "ppocr-v6"

IMAGE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tif", ".tiff": "tif", ".bmp": "bmp"}


class OcrError(Exception):
    """OCR of a page failed; ``reason`` says why (shown in the build's report).
    ``of_file``: the file's own fault, not the engine's (which fails every page alike)."""

    def __init__(self, reason: str, of_file: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.of_file = of_file


@dataclass(frozen=True)
class PageTask:
    """One page for the worker: page ``index`` (0-based) of a PDF (``kind="pdf"``, rendered at
    ``dpi``) or frame ``index`` of an image file (``kind="image"``, its own pixels, dpi 0)."""

    kind: str
    raw: bytes
    index: int
    dpi: int
    max_pixels: int


@dataclass(frozen=True)
class OcrPage:
    """A recognised page: its lines as the engine wrote them (no NFKC: offsets index them)."""

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
