"""Checks on Office Open XML containers (.docx, .xlsx) before a parser inflates anything.

``check_ooxml(raw, source, max_bytes, kind)`` refuses, as a ``LoadError`` naming the file:
an OLE file (a password-encrypted OOXML file, or an old binary .doc/.xls saved under the new
suffix), bytes that are not a zip archive, an archive without the part that makes it that
kind of document (``word/document.xml``, ``xl/workbook.xml``), and zip bombs: more than
``ZIP_MAX_MEMBERS`` members, a total declared uncompressed size above
``min(50 × max_bytes, ZIP_MAX_TOTAL)`` or a compression ratio above ``ZIP_MAX_RATIO`` (of the
whole archive or of its worst member, once they unpack to more than 1 MiB).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from .errors import LoadError

ZIP_MAX_RATIO = 100  # declared uncompressed / compressed size, above → zip bomb
ZIP_MAX_TOTAL = 200 * 2**20  # bytes, uncompressed, whatever max_bytes says
ZIP_MAX_MEMBERS = 10_000
_ZIP_RATIO_FLOOR = 2**20  # ratios of smaller totals/members are not checked
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class OoxmlKind:
    """What one kind of OOXML file is called and must contain."""

    name: str  # "docx", shown in reasons
    main_part: str  # the member every such file has
    app: str  # the program named in the advice
    old_format: str  # what an OLE file under this suffix probably is
    unlock: str  # where the password is removed


DOCX = OoxmlKind("docx", "word/document.xml", "Word/WPS", "old Word .doc format (OLE file), not .docx: "
                 "open it in Word/WPS, save as .docx and add it again",
                 "Word: File › Info › Protect Document")
XLSX = OoxmlKind("xlsx", "xl/workbook.xml", "Excel/WPS", "old Excel .xls format (OLE file), not .xlsx: "
                 "open it in Excel/WPS, save as .xlsx and add it again",
                 "Excel: File › Info › Protect Workbook")


def check_ooxml(raw: bytes, source: str, max_bytes: int, kind: OoxmlKind) -> None:
    """Raise ``LoadError`` unless ``raw`` is a sound, safely sized ``kind`` container."""
    if raw.startswith(OLE_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in raw:
            raise LoadError(source, f"encrypted {kind.name}: remove the password ({kind.unlock}) "
                            "and add it again")
        raise LoadError(source, kind.old_format)
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise LoadError(source, f"corrupt {kind.name}: not a zip archive (damaged, truncated or "
                        f"not a {kind.name} file); open and save it again in {kind.app}")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise LoadError(source, f"corrupt {kind.name}: {short_error(e)}") from None
    if kind.main_part not in {i.filename for i in infos}:
        raise LoadError(source, f"corrupt {kind.name}: the archive has no {kind.main_part} "
                        f"(not a {kind.name} file)")
    bomb = f"suspicious {kind.name} (zip bomb?)"
    if len(infos) > ZIP_MAX_MEMBERS:
        raise LoadError(source, f"{bomb}: {len(infos)} files inside; refused")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    limit = min(50 * max_bytes, ZIP_MAX_TOTAL)
    if total > limit:
        raise LoadError(source, f"{bomb}: it unpacks to {total} bytes, more than the limit of "
                        f"{limit} bytes (50 × max_file_bytes, at most {ZIP_MAX_TOTAL}); refused")
    worst = max(infos, key=lambda i: i.file_size / max(i.compress_size, 1))
    for size, comp in ((total, packed), (worst.file_size, worst.compress_size)):
        if size > _ZIP_RATIO_FLOOR and size / max(comp, 1) > ZIP_MAX_RATIO:
            raise LoadError(source, f"{bomb}: compression ratio {size // max(comp, 1)}:1 is "
                            f"above {ZIP_MAX_RATIO}:1; refused")


def short_error(e: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    name = type(e).__name__
    text = f"{name}: {msg}" if msg else name
    return text if len(text) <= 200 else text[:197] + "..."
