"""Recognition of one page image in the worker process: rapidocr, the page turned upright as a whole."""

from __future__ import annotations

import os
from typing import Any, Sequence

from .ocr_layout import OcrLine


_GOOD_QUALITY = 0.9  # mean confidence above which an upright-looking page is not read again
_TRIAL_SIDE = 1280  # longest side (pixels) of the copy orientation trials read
_PROBE_LINES = 8  # boxes recognised alone to find which way up a page is
_MIN_SCORE = 0.5  # confidence under which a recognised box is not indexed


def load_engine() -> Any:
    """The rapidocr engine (PP-OCRv4 models from its wheel); the worker loads it once."""
    from rapidocr_onnxruntime import RapidOCR

    # few threads: the first inference with one per core took seconds more on a busy machine
    # every box with its confidence (text_score 0): the weak ones tell which way up a page is
    return RapidOCR(text_score=0.0, intra_op_num_threads=max(1, min(4, (os.cpu_count() or 2) // 2)))


def _read(engine: Any, img) -> list[OcrLine]:
    """Every box found and its text, however weak (``_kept`` drops the weak ones)."""
    result, _ = engine(img, use_cls=False)
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


def _probe(engine: Any, img, lines: Sequence[OcrLine], angle: int) -> float:
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
        result, _ = engine(crop, use_det=False, use_cls=False)
        for text, conf in result or []:
            score += float(conf) * len(str(text).strip())
    return score


def recognise(engine: Any, img) -> tuple[int, list[OcrLine], Any]:
    """(angle, lines, upright image) of a page image (numpy BGR array). Read as given; unless
    that reads well, its longest boxes are recognised alone turned each way (``_probe``) and
    the page is read again turned the way they read best. A page where nothing was found is
    tried turned on a scaled-down copy instead (``_trials``). rapidocr's per-line angle
    classifier is never used: it drops lines."""
    found = _read(engine, img)
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


def _trials(engine: Any, img) -> tuple[int, list[OcrLine] | None]:
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
