"""Corpus files → decoded text. The only module that knows file formats and encodings.

Rules
-----
* ``iter_corpus_files(root)`` lists every regular file under ``root`` (recursively, sorted by
  POSIX relative path), skipping hidden files and hidden directories (names starting with
  ".") and not descending into symlinked directories. Unsupported files are listed too, so
  callers can report them; ``load_file`` raises ``LoadError`` for them.
* Supported formats: ``SUPPORTED_SUFFIXES`` (plain text and Markdown, read as text).
* Decoding, in order:
    1. a byte-order mark decides: UTF-8 (``utf-8-sig``), UTF-32 LE/BE, UTF-16 LE/BE.
       The BOM is **not** part of ``SourceFile.text``: offsets index the text after the
       BOM is stripped (the BOM is one character, U+FEFF, in every encoding);
    2. NUL bytes without a BOM → binary, rejected;
    3. strict UTF-8;
    4. strict GB18030 (a superset of GBK/GB2312), Big5 and CP950 (Big5 with the Microsoft
       extensions). When more than one of them decodes the bytes to different text, the
       decoding made of common characters wins (share of GB2312 level-1 characters after
       folding traditional→simplified with OpenCC; garbage decodings are full of rare
       characters, kana and private-use code points); charset-normalizer breaks the tie
       when the two are too close to call. We try these obvious candidates ourselves
       because charset-normalizer alone mis-guesses short Chinese texts;
    5. charset-normalizer's best guess as the last resort.
  Decoded text with many control characters is rejected as binary.
* Newlines are normalised exactly as Python's text mode (universal newlines) does:
  ``"\\r\\n"`` and lone ``"\\r"`` become ``"\\n"``. All offsets index this text (design §3).
* ``sha256`` and ``size`` are of the raw bytes on disk.
* Every failure is a ``LoadError(source, reason)`` whose reason says what is wrong and,
  where it helps, what to do.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from .errors import LoadError
from .types import SourceFile

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md")

_FORMATS = {".txt": "txt", ".md": "md"}

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_LEGACY_CANDIDATES: tuple[str, ...] = ("gb18030", "big5", "cp950")
_NOT_TEXT = "not text: binary data or unknown encoding"
_MAX_CONTROL_RATIO = 0.01
_MIN_SCORE_GAP = 0.05


def iter_corpus_files(root: Path) -> list[Path]:
    """All regular, non-hidden files under ``root``, sorted by relative POSIX path."""
    root = Path(root)
    if root.is_file():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = Path(dirpath) / name
            if not name.startswith(".") and path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: source_name(p, root))


def source_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators (the file name if ``root`` is it)."""
    path, root = Path(path), Path(root)
    if path == root:
        return path.name
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def load_file(path: Path, root: Path, max_bytes: int) -> SourceFile:
    """Read and decode one corpus file; raise ``LoadError`` naming it and the reason."""
    path = Path(path)
    source = source_name(path, root)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(no extension)"
        raise LoadError(
            source,
            f"unsupported file type '{shown}'; supported: {', '.join(SUPPORTED_SUFFIXES)}",
        )
    raw = _read_bytes(path, source, max_bytes)
    text, encoding = decode_bytes(raw, source)
    text = normalize_newlines(text)
    if not text.strip():
        raise LoadError(source, "empty file: it contains only whitespace")
    return SourceFile(
        source=source,
        text=text,
        encoding=encoding,
        fmt=_FORMATS[suffix],
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
    )


def _read_bytes(path: Path, source: str, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                source,
                f"file is {size} bytes, larger than the limit of {max_bytes} bytes; "
                "raise the setting max_file_bytes to index it",
            )
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as e:
        raise LoadError(source, f"cannot read file: {e.strerror or e}") from None
    if len(raw) > max_bytes:  # grew while we looked
        raise LoadError(
            source,
            f"file is larger than the limit of {max_bytes} bytes; "
            "raise the setting max_file_bytes to index it",
        )
    if not raw:
        raise LoadError(source, "empty file")
    return raw


def normalize_newlines(text: str) -> str:
    """Universal newlines, as Python's text mode reads them: CRLF and CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_bytes(raw: bytes, source: str = "<bytes>") -> tuple[str, str]:
    """Decode ``raw``; return ``(text, codec name)``. Raises ``LoadError`` if not text."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom):].decode(codec.replace("-sig", ""))
            except UnicodeDecodeError:
                raise LoadError(source, f"{_NOT_TEXT} (invalid {codec} after its BOM)") from None
            return _checked(text, source), codec
    if b"\x00" in raw:
        raise LoadError(source, _NOT_TEXT)
    try:
        return _checked(raw.decode("utf-8"), source), "utf-8"
    except UnicodeDecodeError:
        pass
    decoded = _strict_candidates(raw)
    if decoded:
        codec = _pick(raw, decoded)
        return _checked(decoded[codec], source), codec
    guess = _normalizer_guess(raw, None)
    if guess is None:
        raise LoadError(source, _NOT_TEXT)
    return _checked(guess[0], source), guess[1]


def _strict_candidates(raw: bytes) -> dict[str, str]:
    """Legacy codecs that decode ``raw`` strictly; codecs giving identical text collapse."""
    out: dict[str, str] = {}
    for codec in _LEGACY_CANDIDATES:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if text not in out.values():
            out[codec] = text
    return out


def _pick(raw: bytes, decoded: dict[str, str]) -> str:
    """Choose among legacy decodings: the one whose text is made of common characters.

    Garbage (GBK bytes read as Big5 or the reverse) is mostly rare characters, kana or
    private-use code points; real text, folded to simplified, is mostly GB2312 level-1
    characters. charset-normalizer decides only when the scores are too close to call.
    """
    if len(decoded) == 1:
        return next(iter(decoded))
    scores = {codec: _commonness(text) for codec, text in decoded.items()}
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    if scores[ranked[0]] - scores[ranked[1]] >= _MIN_SCORE_GAP:
        return ranked[0]
    guess = _normalizer_guess(raw, list(decoded))
    if guess is not None:
        for codec, text in decoded.items():
            if text == guess[0]:
                return codec
    return next(iter(decoded))  # candidate order: GB18030 first


@lru_cache(maxsize=1)
def _t2s():  # the converter is built once, on first use (never at import)
    import opencc

    return opencc.OpenCC("t2s")


def _commonness(text: str) -> float:
    """Share of non-ASCII characters that are common Chinese characters or punctuation
    (GB2312 level 1 and its punctuation rows, after folding traditional to simplified)."""
    folded = _t2s().convert(text)
    total = common = 0
    for ch in folded:
        if ord(ch) < 128:
            continue
        total += 1
        try:
            lead = ch.encode("gb2312")[0]
        except UnicodeEncodeError:
            continue
        common += 0xB0 <= lead <= 0xD7 or 0xA1 <= lead <= 0xA3
    return common / total if total else 0.0


def _normalizer_guess(raw: bytes, candidates: list[str] | None) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes  # imported lazily: only legacy files need it

    kwargs = {"cp_isolation": candidates} if candidates else {}
    best = from_bytes(raw, **kwargs).best()
    if best is None:
        return None
    return str(best), best.encoding


def _checked(text: str, source: str) -> str:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if text and controls / len(text) > _MAX_CONTROL_RATIO:
        raise LoadError(source, _NOT_TEXT)
    return text
