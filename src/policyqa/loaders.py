"""Corpus files → decoded ``SourceFile``: the format of each file and the reader for it."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Callable

from .containers import short_error as _short
from .corpus_walk import (MAX_DEPTH, CorpusWalk, SkippedEntry, corpus_path, iter_corpus_files, read_corpus_bytes,
                          source_name, walk_corpus)
from .decoding import decode_bytes
from .errors import LoadError
from .ocr import IMAGE_FORMATS, OcrOptions
from .office_convert import read_legacy_word
from .paged import EMPTY_PAGED, PAGE_SEPARATOR, load_warnings, ocr_outdated, page_of, read_paged
from .spreadsheets import read_csv, read_xlsx
from .text_readers import read_docx, read_html, read_text
from .types import SourceFile

# (the corpus walk's and the PDF reader's names, for the modules that import them from here)
__all__ = ["DEFAULT_OCR", "MAX_DEPTH", "PAGE_SEPARATOR", "SUPPORTED_SUFFIXES", "CorpusWalk", "SkippedEntry",
           "corpus_path", "decode_bytes", "iter_corpus_files", "load_file", "load_warnings", "ocr_outdated", "page_of", "source_name", "walk_corpus"]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".docx", ".pdf", ".html", ".htm",
                                       ".xlsx", ".csv", ".doc", ".wps", *IMAGE_FORMATS)
_FORMATS = {".txt": "txt", ".md": "md", ".docx": "docx", ".pdf": "pdf", ".html": "html", ".htm": "html",
            ".xlsx": "xlsx", ".csv": "csv", ".doc": "doc", ".wps": "wps", **IMAGE_FORMATS}
_OCR_FORMATS = {"pdf", *IMAGE_FORMATS.values()}
DEFAULT_OCR = OcrOptions()  # OCR on, no cache (a build passes its settings, cache folder and worker)
_HINTS: dict[str, str] = {}


def load_file(path: Path, root: Path, max_bytes: int, ocr: OcrOptions | None = DEFAULT_OCR) -> SourceFile:
    """Read and decode one corpus file; raise ``LoadError`` naming it and the reason (what is
    wrong and, where it helps, what to do). ``ocr`` reads scanned PDF pages and images (None:
    OCR off). The file is opened without following links (``corpus_walk.read_corpus_bytes``);
    ``sha256`` and ``size`` are of its raw bytes. ``SourceFile.text`` is what every offset
    indexes: decoded text for .txt/.md (``decoding.decode_bytes``, newlines normalised as
    Python's text mode does), the extracted text for the other formats (design §3), with
    control characters other than tab and newline replaced by spaces:

    * .docx, .html: ``text_readers``; .xlsx, .csv: ``spreadsheets`` (a line per row, the header
      repeated); .doc, .wps: converted to .docx by LibreOffice (``office_convert``).
    * .pdf and page images (.png, .jpg/.jpeg, .tif/.tiff, .bmp): ``paged``, page by page,
      ``meta["pages"]`` the start offset of each page.

    Any unexpected exception from a parser becomes ``LoadError(source, "cannot read FMT: …")``."""
    path = Path(path)
    source = source_name(path, root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(no extension)"
        reason = f"unsupported file type '{shown}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        if suffix in _HINTS:
            reason += f" ({_HINTS[suffix]})"
        raise LoadError(source, reason)
    raw, mtime_ns = read_corpus_bytes(path, Path(root), source, max_bytes)
    fmt = _FORMATS[suffix]
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        if fmt in _OCR_FORMATS:
            text, encoding, meta = read_paged(fmt, raw, source, sha256, ocr)
        else:
            text, encoding, meta = _READERS[fmt](raw, source, max_bytes)
    except LoadError:
        raise
    except Exception as e:  # a parser's own failure (corrupt input, library bug): never a traceback
        raise LoadError(source, f"cannot read {fmt}: {_short(e)}") from None
    if not text.strip():
        raise LoadError(source, _EMPTY[fmt])
    return SourceFile(
        source=source,
        text=text,
        encoding=encoding,
        fmt=fmt,
        sha256=sha256,
        size=len(raw),
        meta=meta,
        mtime_ns=mtime_ns,
    )


_EMPTY = {
    "txt": "empty file: it contains only whitespace",
    "md": "empty file: it contains only whitespace",
    "docx": "empty document: no text in its paragraphs or tables",
    "html": "no text found in the page",
    "xlsx": "empty workbook: no values in its sheets",
    "csv": "empty table: no values in its rows",
    "doc": "empty document: no text in its paragraphs or tables",
    "wps": "empty document: no text in its paragraphs or tables",
    **EMPTY_PAGED,
}


def _read_csv(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    return read_csv(raw, source, max_bytes, decode=decode_bytes)  # text files' decoding


_READERS: dict[str, Callable[[bytes, str, int], tuple[str, str, dict[str, str]]]] = {
    "txt": read_text,
    "md": read_text,
    "docx": read_docx,
    "html": read_html,
    "xlsx": read_xlsx,
    "csv": _read_csv,
    "doc": partial(read_legacy_word, read_docx=read_docx),
    "wps": partial(read_legacy_word, read_docx=read_docx),
}
