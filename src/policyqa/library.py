"""Library management: adding and removing corpus files safely.

Uploaded file names are untrusted. ``safe_name`` keeps only the final path component,
drops control and reserved characters, refuses hidden names and unsupported types, and
caps the length (keeping the extension), so nothing is ever written outside the corpus
folder. Writes go to a temporary file first and are renamed into place.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

from .errors import PolicyQAError
from .loaders import SUPPORTED_SUFFIXES, corpus_path

MAX_NAME_BYTES = 150
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def supported_suffixes() -> tuple[str, ...]:
    return tuple(SUPPORTED_SUFFIXES)


def safe_name(filename: str) -> str:
    """A file name safe to create inside the corpus folder, or PolicyQAError."""
    raw = unicodedata.normalize("NFC", filename or "")
    # Both separators count, whatever the platform the name came from.
    base = PureWindowsPath(PurePosixPath(raw.replace("\\", "/")).name).name
    base = _BAD_CHARS.sub("_", base).strip().strip(".")
    if not base or base in {".", ".."}:
        raise PolicyQAError(f"file name {filename!r} has no usable name: rename the file and upload it again")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    allowed = supported_suffixes()
    if suffix not in allowed:
        raise PolicyQAError(f"{base}: unsupported file type {suffix or '(none)'}; supported: {', '.join(allowed)}")
    stem = stem.lstrip(".") or "document"
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def inside(corpus: Path, source: str) -> Path:
    """The path of ``source`` under ``corpus``; refuses anything that escapes it."""
    root = corpus.resolve()
    path = corpus_path(root, source).resolve()
    if root != path and root not in path.parents:
        raise PolicyQAError(f"{source!r} is outside the corpus folder")
    return path


def numbered_name(name: str, k: int) -> str:
    """``name`` with `` (k)`` before its extension: 名称.docx → 名称(2).docx (the stem is cut
    to keep the name within MAX_NAME_BYTES)."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = f"({k})" + (f".{suffix}" if dot else "")
    while stem and len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return (stem or "document") + suffix


def unused_name(name: str, taken: Callable[[str], bool]) -> str:
    """``name`` when ``taken(name)`` is false, else the first free 名称(2).docx, 名称(3).docx …"""
    if not taken(name):
        return name
    k = 2
    while taken(numbered_name(name, k)):
        k += 1
    return numbered_name(name, k)


def add_file(corpus: Path, filename: str, data: bytes, max_bytes: int) -> str:
    """Write an uploaded file into the corpus folder; returns its source name. A file of
    the same name is never replaced: the upload is saved as 名称(2).docx (the first free
    number) and both are kept; the name returned says which."""
    name = safe_name(filename)
    if len(data) > max_bytes:
        raise PolicyQAError(
            f"{name}: {len(data):,} bytes is over the {max_bytes:,}-byte limit (setting max_file_bytes)"
        )
    if not data:
        raise PolicyQAError(f"{name}: the file is empty")
    corpus.mkdir(parents=True, exist_ok=True)
    tmp = inside(corpus, name).with_name(f".{name}.upload-{os.getpid()}")
    tmp.write_bytes(data)
    try:
        while True:  # link, not rename: a name another upload took meanwhile is never replaced
            chosen = unused_name(name, lambda n: os.path.lexists(inside(corpus, n)))
            target = inside(corpus, chosen)
            try:
                os.link(tmp, target)
                return chosen
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links: rename (checked just above)
                os.replace(tmp, target)
                return chosen
    finally:
        tmp.unlink(missing_ok=True)


def remove_file(corpus: Path, source: str) -> None:
    path = inside(corpus, source)
    if not path.is_file():
        raise PolicyQAError(f"{source!r} is not in the corpus folder")
    path.unlink()
