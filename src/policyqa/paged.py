"""PDFs and page images → text page by page: a PDF's text layer where a page has one, OCR elsewhere."""

from __future__ import annotations

import bisect
import io
import json

from .containers import short_error as _short
from .decoding import clean_extracted
from .errors import LoadError
from .ocr import IMAGE_FORMATS, OcrError, OcrOptions, OcrPage, PagesRead, image_frames, recognise_pages, save_layout
from .ocr_layout import page_text
from .pdf_tables import pdf_table_texts
from .types import SourceFile

# a page whose text layer has fewer visible characters (a page number, a stamp) is also OCRed
_MIN_LAYER_CHARS = 8
PAGE_SEPARATOR = "\n\n"  # between the text of two PDF pages
EMPTY_PAGED = {
    "pdf": "PDF has no text layer (scanned?) and OCR found no text on its pages",
    **{fmt: "no text found: OCR read nothing in the image" for fmt in IMAGE_FORMATS.values()},
}


def page_of(sf: SourceFile, offset: int) -> int | None:
    """1-based PDF page holding ``sf.text[offset]``; None for files without pages or
    offsets outside the text."""
    starts = sf.meta.get("pages")
    if not starts or not 0 <= offset <= len(sf.text):
        return None
    page = bisect.bisect_right(json.loads(starts), offset)
    return page or None


def _read_pdf_layer(raw: bytes, source: str):
    """The pypdf reader of a PDF and the text layer of each page (stripped)."""
    if b"%PDF-" not in raw[:1024]:
        raise LoadError(source, "corrupt pdf: no %PDF header (not a PDF file)")
    from pypdf import PdfReader  # imported on first use
    from pypdf.errors import DependencyError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
        if reader.is_encrypted and not _pdf_decrypts(reader):
            raise LoadError(source, "encrypted PDF: remove the password and add it again")
        pages = reader.pages
        count = len(pages)
    except DependencyError:  # AES without the optional crypto library
        raise LoadError(source, "encrypted PDF: remove the password and add it again") from None
    except PdfReadError as e:
        raise LoadError(source, f"corrupt pdf: {_short(e)}") from None
    texts: list[str] = []
    for n in range(count):
        try:
            texts.append(clean_extracted(pages[n].extract_text() or "").strip())
        except Exception as e:  # noqa: BLE001 — name the page, never a traceback
            raise LoadError(source, f"cannot read pdf: page {n + 1}: {_short(e)}") from None
    return reader, texts


def read_paged(fmt: str, raw: bytes, source: str, sha256: str,
               ocr: OcrOptions | None) -> tuple[str, str, dict[str, str]]:
    """A PDF (its pypdf text layer page by page) or an image file (OCR of each frame; a TIFF's
    frames are its pages): pages joined by ``PAGE_SEPARATOR``, their start offsets in
    ``meta["pages"]`` (``page_of``). A PDF page whose layer has fewer than ``_MIN_LAYER_CHARS``
    visible characters is read by OCR too and keeps whichever text is longer
    (``meta["ocr_pages"]`` lists the pages OCR gave). A layer page holding a table (aligned
    runs of text, ``pdf_tables``) is read from pdfium's text runs instead, each table row with
    the header's names, as .docx tables and spreadsheets are. A PDF encrypted with a user password, or
    with no text on any page, is refused with what to do."""
    if fmt == "pdf":
        reader, texts = _read_pdf_layer(raw, source)
        todo = [n for n, t in enumerate(texts) if len("".join(t.split())) < _MIN_LAYER_CHARS]
        for n, text in _layer_tables(raw, [n for n in range(len(texts)) if n not in todo]).items():
            texts[n] = text
    else:
        if ocr is None:
            raise LoadError(source, _IMAGE_OCR_OFF)
        reader, texts = None, [""] * _frames(raw, source, ocr)
        todo = list(range(len(texts)))
    read = _ocr_pages(fmt, raw, source, sha256, todo, ocr) if todo and ocr is not None else PagesRead({})
    recognised = read.pages
    placed: dict[int, list] = {}
    for n, page in recognised.items():
        ocr_text, lines = page_text(page.lines)
        if len(ocr_text) > len(texts[n]):  # (a page number alone does not beat a scan's text)
            texts[n], placed[n] = ocr_text, lines
    if not any(texts):
        if read.failed:
            raise LoadError(source, _nothing_read(read.failed, len(texts)))
        raise LoadError(source, EMPTY_PAGED[fmt] if ocr is not None else _NO_LAYER)
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + len(PAGE_SEPARATOR)
    meta = {"pages": json.dumps(starts), "page_count": str(len(texts))}
    if read.failed:  # a failed page stays (its layer's text, or empty): later pages keep their numbers
        meta["ocr_failed"] = json.dumps([n + 1 for n in sorted(read.failed)])
        meta[_WARNING] = _partly_read(read.failed, len(texts))
    if placed:
        meta["ocr_pages"] = json.dumps([n + 1 for n in sorted(placed)])
        meta["ocr_model"] = json.dumps(ocr.model)
        meta["ocr_dpi"] = json.dumps(ocr.dpi)
        _save_layout(ocr, sha256, starts, placed, recognised)
    title = _pdf_title(reader) if reader is not None else ""
    if title:
        meta["title"] = title
    return PAGE_SEPARATOR.join(texts), fmt, meta


_NO_LAYER = "PDF has no text layer (scanned?): turn the setting ocr on to read it"
_IMAGE_OCR_OFF = "image not read: OCR is turned off (setting ocr)"


def ocr_outdated(entries: dict[str, dict], ocr: bool, model: str, dpi: int) -> bool:
    """Whether an index's file entries (manifest ``files`` and ``skipped``, by source) were read
    with other OCR settings than these: pages read by another model or at another dpi, OCR
    since turned off, or scans refused while it was off. A server's start-up check uses it,
    since the files' bytes alone do not show such a change."""
    for entry in entries.values():
        if entry.get("ocr_pages"):
            if not ocr or entry.get("ocr_model", model) != model or entry.get("ocr_dpi", dpi) != dpi:
                return True
        elif ocr and entry.get("reason") in (_NO_LAYER, _IMAGE_OCR_OFF):
            return True
    return False
_WARNING = "ocr_warning"  # meta key: the pages OCR failed on, for the build's report


def load_warnings(sf: SourceFile) -> list[str]:
    """What a build reports about a file it indexes only in part (pages OCR failed on)."""
    return [sf.meta[_WARNING]] if _WARNING in sf.meta else []


def _partly_read(failed: dict[int, str], pages: int) -> str:
    """E.g. "page 3 not recognised (OCR timed out after 120 s; …); the other 4 pages are indexed"."""
    nums = sorted(failed)
    which = f"page {nums[0] + 1}" if len(nums) == 1 else f"pages {', '.join(str(n + 1) for n in nums)}"
    reasons = sorted(set(failed.values()))
    why = reasons[0] if len(reasons) == 1 else "; ".join(f"page {n + 1}: {failed[n]}" for n in nums)
    rest = pages - len(nums)
    others = "the other page is indexed" if rest == 1 else f"the other {rest} pages are indexed"
    return f"{which} not recognised ({why}); {others}; the next build tries again"


def _nothing_read(failed: dict[int, str], pages: int) -> str:
    """Why a file whose pages all failed is not indexed (one page: its own reason)."""
    if pages == 1:
        return next(iter(failed.values()))
    shown = "; ".join(f"page {n + 1}: {failed[n]}" for n in sorted(failed)[:3])
    return f"no page recognised ({shown}{'; …' if len(failed) > 3 else ''})"


def _layer_tables(raw: bytes, pages: list[int]) -> dict[int, str]:
    """Text-layer pages holding a table, as ``pdf_tables`` renders them (header repeated)."""
    if not pages:
        return {}
    try:
        found = pdf_table_texts(raw, pages)
    except Exception:  # noqa: BLE001 — pdfium may refuse a file pypdf reads: its layer stays as extracted
        return {}
    return {n: clean_extracted(text).strip() for n, text in found.items()}


def _frames(raw: bytes, source: str, ocr: OcrOptions) -> int:
    try:
        return image_frames(raw, ocr.max_pixels)
    except OcrError as e:
        raise LoadError(source, e.reason) from None


def _ocr_pages(fmt: str, raw: bytes, source: str, sha256: str, todo: list[int],
               ocr: OcrOptions) -> PagesRead:
    if len(todo) > ocr.max_pages:
        raise LoadError(source, f"{len(todo)} pages to OCR, more than the limit of {ocr.max_pages}; "
                        "raise the setting ocr_max_pages to read it")
    try:
        return recognise_pages("pdf" if fmt == "pdf" else "image", raw, sha256, todo, ocr)
    except OcrError as e:
        raise LoadError(source, e.reason) from None


def _save_layout(ocr: OcrOptions | None, sha256: str, starts: list[int], placed: dict[int, list],
                 pages: dict[int, OcrPage]) -> None:
    """Each recognised line's span in the file's text and its box, beside the OCR cache."""
    if ocr is None or ocr.cache_dir is None:
        return
    lines = [[n + 1, starts[n] + p.start, starts[n] + p.end, *p.line.box]
             for n in sorted(placed) for p in placed[n]]
    info = {str(n + 1): {"angle": pages[n].angle, "width": pages[n].width, "height": pages[n].height,
                         "dpi": pages[n].dpi} for n in sorted(placed)}
    save_layout(ocr.cache_dir, sha256, {"lines": lines, "pages": info})


def _pdf_decrypts(reader) -> bool:
    """True when the PDF opens with an empty user password (permissions-only protection)."""
    from pypdf import PasswordType

    return reader.decrypt("") != PasswordType.NOT_DECRYPTED


def _pdf_title(reader) -> str:
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except Exception:  # noqa: BLE001 — a broken info dictionary only costs the title
        return ""
    return " ".join(str(title).split()) if title else ""
