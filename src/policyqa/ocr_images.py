"""Page images for OCR: a PDF page rendered, an image file's frames decoded, their pixel counts checked first."""

from __future__ import annotations

import io
import struct

from .ocr_types import OcrError

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)  # what Pillow raises on bad data


def render_pdf_page(raw: bytes, index: int, dpi: int, max_pixels: int):
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


def load_image_frame(raw: bytes, frame: int, max_pixels: int):
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


def image_frames(raw: bytes, max_pixels: int) -> int:
    """The number of frames (pages) of an image file, its size checked first (header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > max_pixels:
                raise OcrError(_too_many_pixels(im.width, im.height, max_pixels))
            return int(getattr(im, "n_frames", 1) or 1)
    except UnidentifiedImageError:
        raise OcrError("corrupt image: not a PNG, JPEG, TIFF or BMP file that can be read") from None
    except Image.DecompressionBombError as e:
        raise OcrError(_bomb(e, max_pixels)) from None
    except _DECODE_ERRORS as e:
        raise OcrError(f"corrupt image: {type(e).__name__}: {str(e)[:200]}") from None


def _bomb(error: Exception, limit: int) -> str:
    return (f"image refused as a decompression bomb ({str(error).split(',')[0]}), more than the limit of "
            f"{limit}; raise the setting ocr_max_pixels to read it")


def _too_many_pixels(w: int, h: int, limit: int) -> str:
    return (f"image is {w}×{h} = {w * h} pixels, more than the limit of {limit} (a decompression "
            "bomb?); raise the setting ocr_max_pixels to read it")
