"""Compilations → documents, heading hierarchy, metadata.

``parse_documents(sf, noise)`` works on the file's kept text (everything outside the noise
spans from ``clean.find_noise``), matched on ``text.matching_copy`` (traditional folded to
simplified, full-width ASCII to half-width, same length) and reported with the original
characters. All offsets index ``sf.text``.

Segments. A *line* is the text between two "\\n". Each line minus the noise spans falling in
it, stripped of surrounding whitespace, gives zero or more *segments*; every segment becomes
one ``Block`` (so no block ever overlaps noise, and empty ones vanish).

Documents. A compilation is recognised by marker segments numbered 1, 2, 3 … in order (any
candidate that does not continue the sequence is ignored):
  * "…title…篇三" — a title line ending in 篇N ("2023年…计划(精选13篇)篇三"), or a bare "篇三";
  * "篇三:《title》" (the 《》 optional);
  * "第三篇" optionally followed by ":title".
Document n runs from its marker to the last kept character before marker n+1. Text before
the first marker (the compilation title, repeated titles) belongs to no document.
``doc_id = f"{source}#{n}"``. Titles: the title on the marker line, else the compilation
title (first title-like line before the first marker), else the file stem — counters such as
"(精选13篇)"/"(共6篇)" removed — followed by " " + the marker ("… 篇三", "… 第三篇").
Without markers the file is one document ("#1") spanning all kept text; its title is the
first title-like segment among the first five (short, no sentence punctuation at its end,
not numbered; a trailing ".docx"-style extension is dropped), else the file stem.

Blocks and headings. ``heading_path`` = (marker label, e.g. "篇二"/"第二篇", in compilations)
+ the open headings. Numbering forms, full- or half-width, and their fixed ranks:
  1 "第X章" / "第X部分" / "第X编"      2 "第X节"      3 "一、" / "一." and "第X条"
  4 "（一）" / "(一)" / "〔一〕"         5 "1." / "1、" / "1．"
  6 "（1）" / "(1)" / "(1.)"           7 "①" / "1)"
A numbered segment closes every open heading of the same or a lower rank, then opens itself,
labelled by its numbering and first clause (up to the first "。，,：:；;", at most 30
characters after the numbering), e.g. "（一）加强师德建设" for "（一）加强师德建设,在全区营造…".
It is a *heading* block when short (≤ 40 characters, no sentence end inside it), otherwise a
*text* block (a numbered paragraph) — either way the following lines sit under it.
Labels drop trailing punctuation. A numbered segment that directly continues a long body
paragraph ending without sentence punctuation is a page-split artefact (Word previews number
their pages "2、", "3、" mid-sentence): it stays plain text and changes no heading. Marker
lines and a single document's title line are heading blocks too (the title's path is just
itself; it does not open a level). Other segments are "text" under the current path.

Metadata (``DocMeta``):
  * year — the first 19xx/20xx in the title; else the first "19xx年/20xx年" in the document's
    kept text; else the year of the file's date line. Placeholders ("20xx年", "xxxx年") are no
    years. A piece of a compilation reads only its own title (the one on its marker line,
    unless that repeats the compilation's) and its own text below the marker line: the
    compilation's title and the page's date line are the compilation's, so a piece that
    states no year has none;
  * doc_type — fixed vocabulary ``DOC_TYPES`` looked up in the (full) title: "督导" wins
    whenever it occurs (a 督导工作计划 is a supervision plan), otherwise the type word
    occurring first (工作总结及下半年工作思路 → 总结); None if the title has none;
  * region, region_code, region_level — a division of the official gazetteer
    (``gazetteer``: names and codes of provinces, cities and counties, current and former),
    matched on the folded text, from the same title and text as the year: the lowest-level
    division the title names; else the body's most often named one (see
    ``gazetteer.most_frequent``: equally frequent counties of one city give the city, unrelated
    ones give none). Returned as the division's official simplified name ("颍州区");
  * site — the most frequent web domain in the file (shown with "www." when seen so), else
    the value of a "来源:" line that names a site (not "网络整理"-like);
  * date — the first "时间/日期/上传时间/发布时间: 2023-12-04" (also 2023年12月4日) in the
    file, as "YYYY-MM-DD".
File-level values (site, date) come from the whole text, noise included, since those lines
are exactly what the cleaner drops.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath

from .gazetteer import Division, load_gazetteer, most_frequent, most_specific
from .text import has_cjk, matching_copy, parse_number, trim
from .types import Block, DocMeta, Document, SourceFile, Span

DOC_TYPES: tuple[str, ...] = (
    "督导", "总结", "思路", "计划", "方案", "要点", "规划", "意见", "报告", "办法", "通知", "讲话",
)

_CN_NUM = "一二三四五六七八九十"
_NUM = rf"[{_CN_NUM}百零〇\d]"

_MARKER_TAIL = re.compile(rf"^(?P<title>.{{0,60}}?)\s*(?P<m>篇[{_CN_NUM}]{{1,3}})\s*$")
_MARKER_HEAD = re.compile(
    rf"^(?P<m>篇[{_CN_NUM}]{{1,3}})\s*:\s*(?P<title>《[^》]{{1,50}}》|[^。;!?]{{1,50}})$"
)
_MARKER_NTH = re.compile(
    rf"^(?P<m>第[{_CN_NUM}\d]{{1,3}}篇)\s*(?::\s*(?P<title>[^。;!?]{{1,50}}))?$"
)
_COUNTER = re.compile(r"\s*[(][^()]{0,8}?\d{1,3}\s*篇[)]\s*$")
_EXTENSION = re.compile(r"\.(?:docx?|pdf|txt|md|wps|html?)$", re.I)
_SENTENCE_MARK = re.compile(r"[。!?;]")
_END_PUNCT = "。.,;:!?、"
_CONTINUED_ENDINGS = tuple("。!?;:…\"”」』)]】")

_HEADING_FORMS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (1, re.compile(rf"^第{_NUM}{{1,4}}\s*(?:章|部分|编)")),
    (2, re.compile(rf"^第{_NUM}{{1,4}}\s*节")),
    (3, re.compile(rf"^第{_NUM}{{1,4}}\s*条")),
    (3, re.compile(rf"^[{_CN_NUM}百零〇]{{1,3}}\s*[、.](?!\d)")),
    (4, re.compile(rf"^[(〔【]\s*[{_CN_NUM}百]{{1,3}}\s*[)〕】]")),
    (5, re.compile(r"^\d{1,2}\s*(?:、|\.(?!\d))")),
    (6, re.compile(r"^[(〔]\s*\d{1,2}\s*\.?\s*[)〕]")),
    (7, re.compile(r"^(?:[①-⑳]|\d{1,2}\))")),
)
_SHORT_HEADING = 40
_LABEL_MAX = 30
_CLAUSE_END = re.compile(r"[。,:;]")

_YEAR_IN_TITLE = re.compile(r"(?<![\d])((?:19|20)\d{2})(?!\d)")
_YEAR_IN_TEXT = re.compile(r"(?<![\dxX])((?:19|20)\d{2})\s*年")
_DATE = re.compile(
    r"(?:发布|上传|更新|发表|录入)?(?:时间|日期)\s*:\s*((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})"
    r"\s*[-/.月]\s*(\d{1,2})"
)
_DOMAIN = re.compile(
    r"(?<![\w.-])((?:www\.)?[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,62})*"
    r"\.(?:com|cn|net|org|gov|edu|info|cc|top|vip)(?:\.cn)?)(?![\w-])",
    re.I,
)
_SOURCE_LINE = re.compile(r"(?:^|\n)[\s•·]*(?:来源|文章来源|信息来源)\s*:\s*([^\s:]{2,20})")
_SITE_NOT_A_NAME = re.compile(r"网络|网友|整理|原创|本站|互联网|免责")

@dataclass(frozen=True)
class _Seg:
    start: int
    end: int
    first: bool  # no kept text precedes it on its line


@dataclass(frozen=True)
class _Marker:
    seg_index: int
    number: int
    label: str  # original characters, e.g. "篇二" / "第二篇"
    title: str  # title on the marker line (counter removed), "" if none


# ---------------------------------------------------------------- public


def parse_documents(sf: SourceFile, noise: list[Span]) -> list[Document]:
    """Split ``sf`` into documents with blocks, headings and metadata."""
    mt = matching_copy(sf.text)
    segs = _segments(sf.text, noise)
    if not segs:
        return []
    file_meta = _file_meta(sf.text, mt)
    markers = _find_markers(segs, sf.text, mt)
    if not markers:
        return [_single_document(sf, mt, segs, file_meta)]
    base = _compilation_title(segs[: markers[0].seg_index], sf, mt)
    docs = []
    for n, marker in enumerate(markers, start=1):
        stop = markers[n].seg_index if n < len(markers) else len(segs)
        doc_segs = segs[marker.seg_index:stop]
        title = f"{marker.title or base} {marker.label}"
        blocks = _blocks(doc_segs, sf.text, mt, prefix=(marker.label,), title_seg=doc_segs[0])
        meta = _piece_meta(title, _own_title(marker, base), doc_segs[1:], mt, file_meta)
        docs.append(_document(sf, n, title, doc_segs, blocks, meta))
    return docs


def heading_rank(text: str) -> int | None:
    """Rank (1 = highest) of the numbering ``text`` starts with; None if not numbered.
    ``text`` should be a matching copy (half-width, simplified)."""
    for rank, pattern in _HEADING_FORMS:
        if pattern.match(text):
            return rank
    return None


# ---------------------------------------------------------------- segments & markers


def _segments(text: str, noise: list[Span]) -> list[_Seg]:
    segs: list[_Seg] = []
    pos, ni = 0, 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        while ni < len(noise) and noise[ni][1] <= start:
            ni += 1
        cuts, cur, j = [], start, ni
        while j < len(noise) and noise[j][0] < end:
            cuts.append((cur, max(cur, noise[j][0])))
            cur = max(cur, noise[j][1])
            j += 1
        if cur < end:
            cuts.append((cur, end))
        first = True
        for a, b in cuts:
            a, b = trim(text, a, b)
            if b > a:
                segs.append(_Seg(a, b, first))
                first = False
    return segs


def _marker_of(seg: _Seg, index: int, text: str, mt: str) -> _Marker | None:
    body = mt[seg.start:seg.end]
    for pattern in (_MARKER_HEAD, _MARKER_NTH, _MARKER_TAIL):
        m = pattern.match(body)
        if m is None:
            continue
        label = text[seg.start + m.start("m"):seg.start + m.end("m")]
        digits = re.sub(r"[第篇]", "", mt[seg.start + m.start("m"):seg.start + m.end("m")])
        title = ""
        if m.group("title"):
            t0, t1 = seg.start + m.start("title"), seg.start + m.end("title")
            title = _clean_title(text[t0:t1], mt[t0:t1])
        return _Marker(index, int(parse_number(digits) or 0), label, title)
    return None


def _find_markers(segs: list[_Seg], text: str, mt: str) -> list[_Marker]:
    found: list[_Marker] = []
    for i, seg in enumerate(segs):
        if not seg.first or seg.end - seg.start > 70:
            continue
        marker = _marker_of(seg, i, text, mt)
        if marker is not None and marker.number == len(found) + 1:
            found.append(marker)
    return found


def _clean_title(original: str, matching: str) -> str:
    """Drop 《》, a "(精选13篇)" counter and a file extension; keep original characters."""
    m = _COUNTER.search(matching)
    end = m.start() if m else len(matching)
    m = _EXTENSION.search(matching[:end])
    end = m.start() if m else end
    return original[:end].strip().strip("《》").strip()


def _is_title_like(body: str) -> bool:
    return (
        0 < len(body) <= 50
        and has_cjk(body)
        and body[-1] not in "。,;:!?、"
        and heading_rank(body) is None
    )


def _compilation_title(preamble: list[_Seg], sf: SourceFile, mt: str) -> str:
    for seg in preamble:
        if _is_title_like(mt[seg.start:seg.end]):
            return _clean_title(sf.text[seg.start:seg.end], mt[seg.start:seg.end])
    return _stem(sf.source)


def _stem(source: str) -> str:
    return PurePosixPath(source).stem


# ---------------------------------------------------------------- documents


def _single_document(sf: SourceFile, mt: str, segs: list[_Seg], file_meta: DocMeta) -> Document:
    title_seg = next((s for s in segs[:5] if _is_title_like(mt[s.start:s.end])), None)
    title = _stem(sf.source)
    if title_seg is not None:
        a, b = title_seg.start, title_seg.end
        title = _clean_title(sf.text[a:b], mt[a:b])
    blocks = _blocks(segs, sf.text, mt, prefix=(), title_seg=title_seg)
    title = title or _stem(sf.source)
    title_mt = matching_copy(title)
    meta = _doc_meta(title_mt, title_mt, _joined(segs, mt), file_meta, file_meta.date)
    return _document(sf, 1, title, segs, blocks, meta)


def _own_title(marker: _Marker, base: str) -> str:
    """The piece's own title: the one on its marker line unless that repeats the
    compilation's ("2023年…计划(精选13篇)篇一")."""
    own = matching_copy(marker.title)
    return "" if own == matching_copy(base) else own


def _document(
    sf: SourceFile, n: int, title: str, segs: list[_Seg], blocks: tuple[Block, ...], meta: DocMeta,
) -> Document:
    return Document(
        doc_id=f"{sf.source}#{n}",
        source=sf.source,
        title=title,
        start=segs[0].start,
        end=segs[-1].end,
        metadata=meta,
        blocks=blocks,
    )


# ---------------------------------------------------------------- blocks & headings


def _label(original: str, matching: str) -> str:
    """Numbering + first clause (≤ 30 characters after the numbering), end punctuation off."""
    number = next(m for m in (p.match(matching) for _, p in _HEADING_FORMS) if m)
    clause = _CLAUSE_END.search(matching, number.end())
    end = clause.start() if clause else len(matching)
    end = min(end, number.end() + _LABEL_MAX)
    return original[:end].rstrip(_END_PUNCT + "。，；：！？、． ")


def _is_short_heading(body: str) -> bool:
    return len(body) <= _SHORT_HEADING and not _SENTENCE_MARK.search(body[:-1])


def _continues_paragraph(blocks: list[Block], mt: str) -> bool:
    """True when the previous block is a long body paragraph cut mid-sentence."""
    if not blocks or blocks[-1].kind != "text":
        return False
    prev = mt[blocks[-1].start:blocks[-1].end]
    return len(prev) >= 60 and not prev.endswith(_CONTINUED_ENDINGS)


def _open_heading(stack: list[tuple[int, str]], rank: int, label: str) -> None:
    """Close the open headings of the same or a lower rank, then open this one."""
    while stack and stack[-1][0] >= rank:
        stack.pop()
    stack.append((rank, label))


def _blocks(
    segs: list[_Seg], text: str, mt: str, prefix: tuple[str, ...], title_seg: _Seg | None,
) -> tuple[Block, ...]:
    stack: list[tuple[int, str]] = []
    blocks: list[Block] = []
    for seg in segs:
        body, original = mt[seg.start:seg.end], text[seg.start:seg.end]
        if seg is title_seg:
            own = prefix or (_clean_title(original, body),)
            blocks.append(Block(seg.start, seg.end, "heading", own))
            continue
        rank = heading_rank(body) if seg.first else None
        kind = "text"
        if rank is not None and not _continues_paragraph(blocks, mt):
            _open_heading(stack, rank, _label(original, body))
            kind = "heading" if _is_short_heading(body) else "text"
        path = prefix + tuple(label for _, label in stack)
        blocks.append(Block(seg.start, seg.end, kind, path))
    return tuple(blocks)


# ---------------------------------------------------------------- metadata


def _file_meta(text: str, mt: str) -> DocMeta:
    date = None
    m = _DATE.search(mt)
    if m:
        date = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return DocMeta(date=date, site=_site(text, mt))


def _site(text: str, mt: str) -> str | None:
    domains = [d.lower() for d in _DOMAIN.findall(text)]
    if domains:
        bare = Counter(d.removeprefix("www.") for d in domains)
        best = bare.most_common(1)[0][0]  # ties: the first seen
        return f"www.{best}" if f"www.{best}" in domains else best
    for m in _SOURCE_LINE.finditer(mt):
        name = m.group(1)
        if not _SITE_NOT_A_NAME.search(name):
            start = m.start(1)
            return text[start:start + len(name)]
    return None


def _joined(segs: list[_Seg], mt: str) -> str:
    return "\n".join(mt[s.start:s.end] for s in segs)


def _piece_meta(title: str, own_title: str, segs: list[_Seg], mt: str, file_meta: DocMeta) -> DocMeta:
    """A compilation's piece: year and region from its own title and text only — the
    compilation's title and the page's date line belong to the compilation."""
    return _doc_meta(matching_copy(title), own_title, _joined(segs, mt), file_meta, None)


def _doc_meta(type_title: str, title: str, body: str, file_meta: DocMeta, date: str | None) -> DocMeta:
    region = _region(title, body)
    return DocMeta(
        year=_year(title, body, date),
        region=region.name if region else None,
        region_code=region.code if region else None,
        region_level=region.level if region else None,
        doc_type=_doc_type(type_title),
        site=file_meta.site,
        date=file_meta.date,
    )


def _year(title: str, body: str, date: str | None) -> int | None:
    for pattern, where in ((_YEAR_IN_TITLE, title), (_YEAR_IN_TEXT, body)):
        for m in pattern.finditer(where):
            year = int(m.group(1))
            if 1949 <= year <= 2099:
                return year
    return int(date[:4]) if date else None


def _doc_type(title: str) -> str | None:
    if "督导" in title:
        return "督导"
    found = [(title.find(t), t) for t in DOC_TYPES if t in title]
    return min(found)[1] if found else None


def _region(title: str, body: str) -> Division | None:
    """A division named in the title (the lowest level), else the body's most frequent."""
    gazetteer = load_gazetteer()
    in_title, in_body = gazetteer.find(title), gazetteer.find(body)
    return most_specific(in_title, in_body) or most_frequent(in_body, gazetteer)
