"""Corpus files → decoded text. The only module that knows file formats and encodings.

Rules
-----
* ``walk_corpus(root)`` walks the folder iteratively (no recursion limit) and returns the
  regular files to load (sorted by source name) and the entries it refused, each a
  ``SkippedEntry`` (a ``LoadError``) with its source name and reason, never opened:
  hidden names (starting with ".": the folder is not entered), symbolic links, anything
  that is not a regular file or folder, and folders more than ``MAX_DEPTH`` levels deep.
  ``iter_corpus_files(root)`` is its list of files. Unsupported files are listed too, so
  callers can report them; ``load_file`` raises ``LoadError`` for them.
* Symbolic links are never followed. A link leading outside the corpus folder (to
  /etc/passwd, say), a dangling link and a link loop are reported as such; a link to a file
  or folder inside the corpus is reported as indexed under its target's own name, because
  the walk reaches the target anyway and following the link would index the same text
  twice. The corpus root itself may be a link (the user chose it). ``load_file`` opens
  every path component below the root with ``O_NOFOLLOW`` relative to its parent folder,
  so a file or folder swapped for a link after the walk is refused, not followed.
* Source names (``source_name``): the path relative to the root, POSIX separators. A name
  component whose bytes are not UTF-8 (an archive unzipped from Windows leaves GBK names)
  is shown decoded as GB18030 — unless a sibling really has that name, or the bytes are
  not GB18030 either; then each undecodable byte is written ``\\xNN``
  (``bytes.decode("utf-8", "backslashreplace")``). Source names are therefore valid
  Unicode (they survive JSON and UTF-8), and ``corpus_path(root, source)`` maps one back to
  the file: the component as written if it exists, else the sibling whose shown name it is.
* Supported formats: ``SUPPORTED_SUFFIXES``. Plain text and Markdown are read as text
  (decoding below). Word, PDF and saved web pages are *extracted* (design §3): their
  ``SourceFile.text`` is the extracted text, which the index stores, and every offset
  indexes it.

  - ``.docx`` (python-docx): body paragraphs and tables in document order (content
    controls included), one line per non-empty paragraph, one line per table row
    (a merged cell read once, the other columns it spans left empty) rendered by
    ``spreadsheets.table_lines``: the header's names with
    each value (``指标：毛入园率 | 目标：90%以上``), cells joined by " | " in tables
    without a header row. Automatic list numbering is not rendered by Word's XML, so
    numbered paragraphs keep their text as written (no invented numbers).
    ``meta["title"]`` from the core properties when set. Before parsing, the zip is checked
    (``containers.check_ooxml``): a member ``word/document.xml``, total declared
    uncompressed size at most ``min(50 × max_bytes, 200 MiB)`` and a compression ratio at
    most 100 (zip bombs); OLE files (password-encrypted .docx, old .doc) are named as such.
  - ``.xlsx``, ``.csv`` (``spreadsheets``): a section per sheet, one line per row with the
    header repeated; ``.doc``, ``.wps`` (``office_convert``): converted to .docx by
    LibreOffice headless, then read as .docx.
  - ``.pdf`` (pypdf): the text layer page by page, pages separated by ``PAGE_SEPARATOR``;
    ``meta["pages"]`` is a JSON list of the start offset of every page (``page_of`` maps an
    offset to its 1-based page). A page whose text layer has fewer than ``_MIN_LAYER_CHARS``
    visible characters is read by OCR (``ocr.py``; ``meta["ocr_pages"]`` lists them) and
    keeps whichever text is longer. Page images (``.png``, ``.jpg``/``.jpeg``, ``.tif``/
    ``.tiff``, ``.bmp``; a TIFF's frames are its pages) are read by OCR the same way. A PDF
    encrypted with a user password, or with no text on any page, is rejected with what to do;
    so is a file OCR cannot read (corrupt, too many pixels or pages, too slow).
  - ``.html``/``.htm`` (trafilatura): the main text (navigation, headers, footers and other
    site chrome dropped) and ``meta["title"]``, ``meta["date"]`` (from the page's markup
    only, never guessed from body text), ``meta["site"]`` (and
    ``meta["url"]`` when the page names itself). Bytes are decoded with the charset the
    page declares (``<meta charset>``, ``http-equiv`` or the XML declaration; GB2312/GBK
    read as GB18030), else as text files are. When trafilatura finds no main text, a plain
    extraction of the body (skipping script/style/nav/header/footer/aside) is used.
  - Extracted text has control characters (other than tab and newline) replaced by
    spaces and newlines normalised; ``SourceFile.encoding`` is the page charset for HTML
    and the format name (``"docx"``, ``"pdf"``) otherwise.
  Any unexpected exception from a parser becomes ``LoadError(source, "cannot read FMT: …")``.
* Text files are decoded by ``decoding.decode_bytes`` (BOM, strict UTF-8, GB18030/Big5 by
  character commonness, charset-normalizer last); newlines are normalised as Python's text
  mode does, and every offset indexes that text (design §3).
* ``sha256`` and ``size`` are of the raw bytes on disk.
* Every failure is a ``LoadError(source, reason)`` whose reason says what is wrong and,
  where it helps, what to do.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import stat
import io
import json
import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from .containers import DOCX, check_ooxml
from .decoding import decode_bytes, decode_html, normalize_newlines, plain_html_text
from .containers import short_error as _short
from .errors import LoadError
from .ocr import IMAGE_FORMATS, OcrError, OcrOptions, OcrPage, image_frames, recognise_pages, save_layout
from .ocr_layout import page_text
from .office_convert import read_legacy_word
from .spreadsheets import read_csv, read_xlsx, table_lines
from .types import SourceFile

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".docx", ".pdf", ".html", ".htm",
                                       ".xlsx", ".csv", ".doc", ".wps", *IMAGE_FORMATS)

_FORMATS = {".txt": "txt", ".md": "md", ".docx": "docx", ".pdf": "pdf", ".html": "html", ".htm": "html",
            ".xlsx": "xlsx", ".csv": "csv", ".doc": "doc", ".wps": "wps", **IMAGE_FORMATS}
_OCR_FORMATS = {"pdf", *IMAGE_FORMATS.values()}
# a page whose text layer has fewer visible characters (a page number, a stamp) is also OCRed
_MIN_LAYER_CHARS = 8
DEFAULT_OCR = OcrOptions()  # OCR on, no cache (a build passes its settings and cache folder)
_HINTS: dict[str, str] = {}

PAGE_SEPARATOR = "\n\n"  # between the text of two PDF pages



MAX_DEPTH = 64  # folder levels below the root; real corpora are a few levels deep


class SkippedEntry(LoadError):
    """A corpus entry the walk refused without opening it (hidden name, symbolic link, too deep)."""


@dataclass(frozen=True)
class CorpusWalk:
    files: list[Path]  # regular files to load, sorted by source name
    skipped: list[SkippedEntry]  # sorted by source name


def walk_corpus(root: Path) -> CorpusWalk:
    """Regular files under ``root`` and the entries refused (see the module docstring)."""
    root = Path(root)
    if root.is_file():
        return CorpusWalk([root], [])
    real_root = os.path.realpath(root)
    files: list[tuple[str, Path]] = []
    skipped: list[SkippedEntry] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            skipped.append(SkippedEntry(source_name(folder, root), f"cannot list folder: {e.strerror or e}"))
            continue
        for entry in entries:
            path = Path(entry.path)
            source = source_name(path, root)
            reason = _refusal(entry, depth, root, real_root)
            if reason:
                skipped.append(SkippedEntry(source, reason))
            elif entry.is_dir(follow_symlinks=False):
                stack.append((path, depth + 1))
            else:
                files.append((source, path))
    files.sort(key=lambda f: f[0])
    skipped.sort(key=lambda e: e.source)
    return CorpusWalk([p for _, p in files], skipped)


def iter_corpus_files(root: Path) -> list[Path]:
    """All regular, non-hidden files under ``root`` (no links), sorted by source name."""
    return walk_corpus(root).files


def _refusal(entry: os.DirEntry, depth: int, root: Path, real_root: str) -> str | None:
    """Why the walk does not read ``entry``, or None for a regular file or folder to enter."""
    is_dir = entry.is_dir(follow_symlinks=False)
    if entry.name.startswith("."):
        return f"hidden {'folder' if is_dir else 'file'} (name starts with '.'): not read"
    if entry.is_symlink():
        return _link_refusal(entry.path, root, real_root)
    if is_dir:
        if depth + 1 > MAX_DEPTH:
            return f"folder nested more than {MAX_DEPTH} levels deep: not read; move its files higher up"
        return None
    if not entry.is_file(follow_symlinks=False):
        return "not a regular file (a device, pipe or socket): not read"
    return None


def _link_refusal(path: str, root: Path, real_root: str) -> str:
    """The reason a symbolic link is not followed, naming where it leads when in the corpus."""
    try:
        target = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return "symbolic link to a missing file (dangling): not followed"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop: not followed"
        return f"symbolic link that cannot be resolved ({e.strerror or e}): not followed"
    if os.path.commonpath([real_root, target]) != real_root:
        return ("symbolic link to a file outside the corpus folder: not followed; "
                "copy the file into the corpus folder to index it")
    inside = source_name(Path(target), Path(real_root)) if target != real_root else "."
    return f"symbolic link to '{inside}' inside the corpus: not followed (files are indexed once, under their own names)"


def source_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators (the file name if ``root`` is it);
    names that are not UTF-8 are shown as the module docstring says."""
    path, root = Path(path), Path(root)
    if path == root:
        return _shown_name(path.name, path.parent)
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # not under root: the whole path, undecodable bytes escaped
        return os.fsencode(path.as_posix()).decode("utf-8", "backslashreplace")
    shown, folder = [], root
    for part in parts:
        shown.append(_shown_name(part, folder))
        folder = folder / part
    return "/".join(shown)


def _shown_name(name: str, folder: Path) -> str:
    """One name component as valid Unicode: UTF-8, else GB18030, else ``\\xNN`` escapes."""
    raw = os.fsencode(name)  # the bytes on disk (undecodable ones arrive as surrogates)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        decoded = raw.decode("gb18030")
        if not os.path.lexists(folder / decoded):  # a sibling with that real name keeps it
            return decoded
    except (UnicodeDecodeError, ValueError):
        pass
    return raw.decode("utf-8", "backslashreplace")


def corpus_path(root: Path, source: str) -> Path:
    """The path of the corpus entry named ``source`` (the inverse of ``source_name``)."""
    root = Path(root)
    if root.is_file():
        return root
    path = root
    for part in source.split("/"):
        candidate = path / part
        if not os.path.lexists(candidate):
            try:
                names = os.listdir(path)
            except OSError:
                names = []
            candidate = next((path / n for n in names if _shown_name(n, path) == part), candidate)
        path = candidate
    return path


def load_file(path: Path, root: Path, max_bytes: int, ocr: OcrOptions | None = DEFAULT_OCR) -> SourceFile:
    """Read and decode one corpus file; raise ``LoadError`` naming it and the reason.
    ``ocr`` reads scanned PDF pages and images (None: OCR off)."""
    path = Path(path)
    source = source_name(path, root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(no extension)"
        reason = f"unsupported file type '{shown}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        if suffix in _HINTS:
            reason += f" ({_HINTS[suffix]})"
        raise LoadError(source, reason)
    raw, mtime_ns = _read_bytes(path, Path(root), source, max_bytes)
    fmt = _FORMATS[suffix]
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        if fmt in _OCR_FORMATS:
            text, encoding, meta = _read_paged(fmt, raw, source, sha256, ocr)
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
    "pdf": "PDF has no text layer (scanned?) and OCR found no text on its pages",
    "html": "no text found in the page",
    "xlsx": "empty workbook: no values in its sheets",
    "csv": "empty table: no values in its rows",
    "doc": "empty document: no text in its paragraphs or tables",
    "wps": "empty document: no text in its paragraphs or tables",
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


def _clean_extracted(text: str) -> str:
    """Newlines normalised; control characters other than tab/newline become spaces."""
    text = normalize_newlines(text)
    return _CONTROLS.sub(" ", text)


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ---------------------------------------------------------------- text / markdown


def _read_text(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    text, encoding = decode_bytes(raw, source)
    return normalize_newlines(text), encoding, {}


# ---------------------------------------------------------------- docx


def _read_docx(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    check_ooxml(raw, source, max_bytes, DOCX)
    import docx  # python-docx, imported on first use

    document = docx.Document(io.BytesIO(raw))
    lines = [line for line in _docx_lines(document.element.body, document.part) if line.strip()]
    meta: dict[str, str] = {}
    title = (document.core_properties.title or "").strip()
    if title:
        meta["title"] = title
    return _clean_extracted("\n".join(lines)), "docx", meta


def _docx_lines(container, part) -> list[str]:
    """Paragraphs and table rows of a body/cell element, in document order."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out: list[str] = []
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            out.append(Paragraph(child, part).text)
        elif child.tag == qn("w:tbl"):
            out.extend(_table_rows(Table(child, part), part))
        elif child.tag == qn("w:sdt"):  # content control: its content is body text
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                out.extend(_docx_lines(content, part))
    return out


def _table_rows(table, part) -> list[str]:
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:  # a merged cell spans columns: read
                cells.append("")  # once, its other columns empty so later values keep their names
                continue
            previous = cell._tc
            inner = [line.strip() for line in _docx_lines(cell._tc, part)]
            cells.append(" ".join(" ".join(line.split()) for line in inner if line))
        if len(cells) > 1 and all(cell._tc is previous for cell in row.cells):
            cells = cells[:1]  # one cell across the whole row (a title or a note)
        rows.append(cells)
    return table_lines(rows)


# ---------------------------------------------------------------- pdf


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
            texts.append(_clean_extracted(pages[n].extract_text() or "").strip())
        except Exception as e:  # noqa: BLE001 — name the page, never a traceback
            raise LoadError(source, f"cannot read pdf: page {n + 1}: {_short(e)}") from None
    return reader, texts


def _read_paged(fmt: str, raw: bytes, source: str, sha256: str,
                ocr: OcrOptions | None) -> tuple[str, str, dict[str, str]]:
    """A PDF (text layer where a page has one, OCR elsewhere) or an image file (OCR of each
    frame): pages joined by ``PAGE_SEPARATOR``, their starts in ``meta["pages"]``."""
    if fmt == "pdf":
        reader, texts = _read_pdf_layer(raw, source)
        todo = [n for n, t in enumerate(texts) if len("".join(t.split())) < _MIN_LAYER_CHARS]
    else:
        if ocr is None:
            raise LoadError(source, "image not read: OCR is turned off (setting ocr)")
        reader, texts = None, [""] * _frames(raw, source, ocr)
        todo = list(range(len(texts)))
    recognised = _ocr_pages(fmt, raw, source, sha256, todo, ocr) if todo and ocr is not None else {}
    placed: dict[int, list] = {}
    for n, page in recognised.items():
        ocr_text, lines = page_text(page.lines)
        if len(ocr_text) > len(texts[n]):  # (a page number alone does not beat a scan's text)
            texts[n], placed[n] = ocr_text, lines
    if not any(texts):
        raise LoadError(source, _EMPTY[fmt] if ocr is not None else _NO_LAYER)
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + len(PAGE_SEPARATOR)
    meta = {"pages": json.dumps(starts), "page_count": str(len(texts))}
    if placed:
        meta["ocr_pages"] = json.dumps([n + 1 for n in sorted(placed)])
        _save_layout(ocr, sha256, starts, placed, recognised)
    title = _pdf_title(reader) if reader is not None else ""
    if title:
        meta["title"] = title
    return PAGE_SEPARATOR.join(texts), fmt, meta


_NO_LAYER = "PDF has no text layer (scanned?): turn the setting ocr on to read it"


def _frames(raw: bytes, source: str, ocr: OcrOptions) -> int:
    try:
        return image_frames(raw, ocr)
    except OcrError as e:
        raise LoadError(source, e.reason) from None


def _ocr_pages(fmt: str, raw: bytes, source: str, sha256: str, todo: list[int],
               ocr: OcrOptions) -> dict[int, OcrPage]:
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


# ---------------------------------------------------------------- html


def _read_html(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    page, encoding = decode_html(raw, source)
    import trafilatura  # imported on first use

    doc = trafilatura.bare_extraction(
        page, with_metadata=True, include_tables=True, include_comments=False,
        include_images=False, include_formatting=False, deduplicate=False,
        # dates from the page's markup only: no year guessed from the body text
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    meta: dict[str, str] = {}
    text = ""
    if doc is not None:
        text = doc.text or ""
        for key, attr in (("title", "title"), ("date", "date"), ("site", "sitename"), ("url", "url")):
            value = getattr(doc, attr, None)
            if value and str(value).strip():
                meta[key] = " ".join(str(value).split())
    if not text.strip():
        title, text = plain_html_text(page)
        if title and "title" not in meta:
            meta["title"] = title
    lines = [ln.strip() for ln in _clean_extracted(text).split("\n")]
    return "\n".join(ln for ln in lines if ln), encoding, meta


def _read_csv(raw: bytes, source: str, max_bytes: int) -> tuple[str, str, dict[str, str]]:
    return read_csv(raw, source, max_bytes, decode=decode_bytes)  # text files' decoding


_READERS: dict[str, Callable[[bytes, str, int], tuple[str, str, dict[str, str]]]] = {
    "txt": _read_text,
    "md": _read_text,
    "docx": _read_docx,
    "html": _read_html,
    "xlsx": read_xlsx,
    "csv": _read_csv,
    "doc": partial(read_legacy_word, read_docx=_read_docx),
    "wps": partial(read_legacy_word, read_docx=_read_docx),
}


def _read_bytes(path: Path, root: Path, source: str, max_bytes: int) -> tuple[bytes, int]:
    """The raw bytes of a regular file and its modification time (taken before reading: a
    change during the read shows as a newer time)."""
    too_big = f"larger than the limit of {max_bytes} bytes; raise the setting max_file_bytes to index it"
    try:
        fd = _open_inside(path, root)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):  # O_NOFOLLOW met a link (Linux: ENOTDIR for folders)
            raise LoadError(source, "changed while the corpus was read (now a symbolic link or not "
                            "a folder): not followed") from None
        raise LoadError(source, f"cannot read file: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise LoadError(source, "not a regular file: not read")
            if st.st_size > max_bytes:
                raise LoadError(source, f"file is {st.st_size} bytes, {too_big}")
            raw = fh.read(max_bytes + 1)
        except OSError as e:
            raise LoadError(source, f"cannot read file: {e.strerror or e}") from None
    if len(raw) > max_bytes:  # grew while we looked
        raise LoadError(source, f"file is {too_big}")
    if not raw:
        raise LoadError(source, "empty file")
    return raw, st.st_mtime_ns


_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_NONBLOCK", 0))  # a pipe swapped in must not block the build
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_inside(path: Path, root: Path) -> int:
    """Open ``path`` without following a symbolic link anywhere below ``root``: each folder
    is opened relative to its parent with ``O_NOFOLLOW`` (no check-then-open race)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    if not parts:  # the root itself (a one-file corpus) or a path given on its own
        return os.open(path, _READ_FLAGS | (_NOFOLLOW if path != root else 0))
    if os.open not in os.supports_dir_fd:  # (Windows: no dir_fd; links need privileges there)
        return os.open(path, _READ_FLAGS | _NOFOLLOW)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], _READ_FLAGS | _NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)
