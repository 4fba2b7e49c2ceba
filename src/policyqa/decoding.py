"""Bytes to text: the encodings Chinese documents come in, and saved web pages.

``decode_bytes`` reads text files: a BOM (UTF-8/16/32), else strict UTF-8, else the legacy
codecs that decode strictly (GB18030, Big5/CP950), choosing between them by how common the
decoded characters are, with charset-normalizer only when that is too close to call; text
with many control characters is refused as not text. ``decode_html`` puts a page's declared
charset first. ``plain_html_text`` is the plain walk of a page used when trafilatura finds
no main text.

Decoding of text files, in order:
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
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

from .errors import LoadError
from .text import fold

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


def _commonness(text: str) -> float:
    """Share of non-ASCII characters that are common Chinese characters or punctuation
    (GB2312 level 1 and its punctuation rows, after folding traditional to simplified)."""
    folded = fold(text)
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


_CHARSET_RE = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)"""
    rb"""|<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""",
    re.IGNORECASE,
)
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
                    "big5": "cp950", "big5-hkscs": "big5hkscs"}


def decode_html(raw: bytes, source: str = "<bytes>") -> tuple[str, str]:
    """Decode a saved page: BOM, then the declared charset, then the text-file detection."""
    if any(raw.startswith(bom) for bom, _ in _BOMS):
        return decode_bytes(raw, source)
    declared = _declared_charset(raw[:8192])
    if declared:
        try:
            return raw.decode(declared), declared
        except UnicodeDecodeError:
            pass
    try:
        return decode_bytes(raw, source)
    except LoadError:
        if not declared or b"\x00" in raw:
            raise
        return raw.decode(declared, errors="replace"), declared  # a few bad bytes in a real page


def _declared_charset(head: bytes) -> str | None:
    m = _CHARSET_RE.search(head)
    if not m:
        return None
    name = (m.group(1) or m.group(2)).decode("ascii").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


class _PlainText(HTMLParser):
    _SKIP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "template",
             "head", "form", "iframe", "svg", "select", "button"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
              "article", "table", "ul", "ol", "dd", "dt", "blockquote", "pre", "hr", "main"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skip = 0
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        if tag in self._SKIP:
            self.skip += 1
        if tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag in self._SKIP and self.skip:
            self.skip -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self.parts.append(data)


def plain_html_text(page: str) -> tuple[str, str]:
    """(title, text) of a page by a plain walk of its body — the fallback extraction."""
    parser = _PlainText()
    parser.feed(page)
    parser.close()
    lines = []
    for line in "".join(parser.parts).split("\n"):
        line = " ".join(line.split()).strip(" |")
        if line:
            lines.append(line)
    return " ".join("".join(parser.title).split()), "\n".join(lines)


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_extracted(text: str) -> str:
    """Extracted text (Word, PDF, HTML): newlines normalised; control characters other than
    tab and newline become spaces."""
    return _CONTROLS.sub(" ", normalize_newlines(text))
