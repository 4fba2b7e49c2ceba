"""Recognition of one page image in the worker process: rapidocr (PP-OCRv6 or v4), the page turned upright as a whole."""

from __future__ import annotations

import os
from typing import Any, Protocol, Sequence

from .ocr_layout import OcrLine
from .ocr_types import DEFAULT_OCR_MODEL, OCR_MODELS


_GOOD_QUALITY = 0.9  # mean confidence above which an upright-looking page is not read again
_TRIAL_SIDE = 1280  # longest side (pixels) of the copy orientation trials read
_EMPTY_SIDE = 1000  # longest side of the copy read when nothing was found on the page as given
_PROBE_LINES = 8  # boxes recognised alone to find which way up a page is
_MIN_SCORE = 0.5  # confidence under which a recognised box is not indexed


def load_engine(model: str = DEFAULT_OCR_MODEL) -> "Engine":
    """The recognition engine of ``model`` (one of ``OCR_MODELS``, its files from its wheel);
    the worker loads it once."""
    if model == "ppocr-v6":
        return _PpocrV6()
    if model == "ppocr-v4":
        return _PpocrV4()
    raise ValueError(f"unknown OCR model {model!r}; known: {', '.join(OCR_MODELS)}")


def _threads() -> int:
    # few threads: the first inference with one per core took seconds more on a busy machine
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class Engine(Protocol):
    """What recognition needs of a model, whichever package runs it."""

    def page(self, img) -> list[tuple[Any, str, float]]:
        """(4 corner points, text, confidence) of every box found in ``img``, however weak."""

    def line(self, img) -> list[tuple[str, float]]:
        """(text, confidence) of ``img`` read as one line (no detection)."""


class _PpocrV4:
    """PP-OCRv4 through rapidocr-onnxruntime 1.4.4: results are lists of (points, text, score)."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # every box with its confidence (text_score 0): the weak ones tell which way up a page is
        self._ocr = RapidOCR(text_score=0.0, intra_op_num_threads=_threads())

    def page(self, img) -> list[tuple[Any, str, float]]:
        result, _ = self._ocr(img, use_cls=False)
        return [(points, str(text), float(score)) for points, text, score in result or []]

    def line(self, img) -> list[tuple[str, float]]:
        result, _ = self._ocr(img, use_det=False, use_cls=False)
        return [(str(text), float(score)) for text, score in result or []]


class _PpocrV6:
    """PP-OCRv6 small (det + rec bundled in the wheel) through rapidocr 3.10: a result object
    with ``boxes`` (N×4×2 array), ``txts`` and ``scores``, or None of them when nothing was read."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        # text_score 0 as for v4; no per-line angle classifier (it drops lines, as v4's did)
        self._ocr = RapidOCR(params={"Global.text_score": 0.0, "Global.use_cls": False,
                                     "Global.log_level": "error",
                                     "EngineConfig.onnxruntime.intra_op_num_threads": _threads()})

    def page(self, img) -> list[tuple[Any, str, float]]:
        out = self._ocr(img, use_det=True, use_cls=False, use_rec=True)
        boxes, txts, scores = (getattr(out, a, None) for a in ("boxes", "txts", "scores"))
        if boxes is None or txts is None or scores is None:
            return []
        return [(box.tolist(), str(text), float(score)) for box, text, score in zip(boxes, txts, scores)]

    def line(self, img) -> list[tuple[str, float]]:
        out = self._ocr(img, use_det=False, use_cls=False, use_rec=True)
        txts, scores = getattr(out, "txts", None), getattr(out, "scores", None)
        if txts is None or scores is None:
            return []
        return [(str(text), float(score)) for text, score in zip(txts, scores)]


def _read(engine: Engine, img) -> list[OcrLine]:
    """Every box found and its text, however weak (``_kept`` drops the weak ones)."""
    out = []
    for points, text, score in engine.page(img):
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


def _probe(engine: Engine, img, lines: Sequence[OcrLine], angle: int) -> float:
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
        for text, conf in engine.line(crop):
            score += conf * len(text.strip())
    return score


def recognise(engine: Engine, img) -> tuple[int, list[OcrLine], Any]:
    """(angle, lines, upright image) of a page image (numpy BGR array). Read as given; unless
    that reads well, its longest boxes are recognised alone turned each way (``_probe``) and
    the page is read again turned the way they read best. A page where nothing was found is
    read scaled down (``_read_small``), then tried turned on a scaled-down copy (``_trials``). rapidocr's per-line angle
    classifier is never used: it drops lines."""
    found = _read(engine, img)
    if not found:
        found = _read_small(engine, img)
    lines = _kept(found)
    if _reads_well(found):
        return 0, lines, img
    again = None
    if found:
        scores = {angle: _probe(engine, img, found, angle) for angle in (0, 90, 180, 270)}
        best = max(scores, key=lambda a: (scores[a], -a))
    else:
        best, again = _trials(engine, img)
    if best == 0:
        return 0, lines, img
    turned = _turn(img, best)
    again = _kept(again if again is not None else _read(engine, turned))
    if _upright_score(again) < _upright_score(lines):
        return 0, lines, img
    return best, again, turned


def _read_small(engine: Engine, img) -> list[OcrLine]:
    """What a scaled-down copy of the page reads, in the page's pixels: PP-OCRv6's detector
    finds nothing on an A4 page holding one short line at 150–200 dpi, but finds it at half
    the size."""
    small = _small(img, _EMPTY_SIDE)
    if small is img:
        return []
    f = img.shape[1] / small.shape[1]
    return [OcrLine(ln.text, ln.score, tuple(int(round(v * f)) for v in ln.box), tuple(int(round(v * f)) for v in ln.quad))
            for ln in _read(engine, small)]


def _trials(engine: Engine, img) -> tuple[int, list[OcrLine] | None]:
    """The turn (degrees) under which a scaled-down copy of the page reads best, and what it
    read when the page was small enough to be read as it is (else None)."""
    small = _small(img)
    trials: dict[int, list[OcrLine]] = {}
    for angle in (90, 270, 180):
        trials[angle] = _read(engine, _turn(small, angle))
        if _reads_well(trials[angle]):
            break
    best = max(trials, key=lambda a: (_upright_score(_kept(trials[a])), -a))
    if _upright_score(_kept(trials[best])) <= 0:
        return 0, None
    return best, trials[best] if small is img else None
