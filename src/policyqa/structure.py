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
    years;
  * doc_type — fixed vocabulary ``DOC_TYPES`` looked up in the title: "督导" wins whenever it
    occurs (a 督导工作计划 is a supervision plan), otherwise the type word occurring first
    (工作总结及下半年工作思路 → 总结); None if the title has none;
  * region — place names ending in 省/市/县/区/旗/州/盟, matched on the folded text: the
    longest word that jieba's bundled dictionary tags as a place ("ns": 藁城市, 石家庄市,
    合肥市; read once, lazily) counts 1; an unknown two-character name + suffix (颍州区) that
    passes the filters counts 0.5, so it must be seen twice. Filters: generic words (全市,
    我区, 城区, 地区, 开发区, 城市, 责任区, 教育强市 …), names with numerals, pronouns or
    function characters, ordinary dictionary words (协助市, 参加省), a suffix followed by
    级/长/域/场. A name in the title wins; else the highest count (ties: county level over
    city over province, then the first seen), at least 1. Returned simplified ("颍州区");
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
from functools import lru_cache
from pathlib import PurePosixPath

from .text import has_cjk, is_cjk, matching_copy, parse_number, trim
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

_REGION_SUFFIX_RANK = {"区": 2, "县": 2, "旗": 2, "市": 1, "州": 1, "盟": 1, "省": 0}
_REGION_AFTER_BAD = set("级长域场别")
_REGION_NAME_BAD = set(
    "省市县区旗盟全我本该各此其这那每一二三四五六七八九十百千万两几多诸在和对等的被了与及向从把将给让到至"
)
_PLACE_NAME_BAD = set("省市县区旗盟全我本该各此其这那每")  # for dictionary place names
_REGION_GENERIC_WORDS = {"大城市", "文明城市", "卫生城市", "中小城市", "大中城市", "县市区", "东三省"}
_REGION_FIRST_BAD = set("在对和与及的为是了把将向从由按据经被给让使以到至等于年月日号中上下内外并或受同即如赴来去往回入出现成建设推进动展开级管属有地所个新老原跨")
_REGION_GENERIC_NAMES = {
    "卫生", "文明", "智慧", "中心", "工业", "港口", "旅游", "花园", "园林", "宜居", "生态", "新兴",
    "核心", "特大", "大中", "中小", "教育", "国家", "全国", "示范", "先进", "重点", "试点", "实验",
    "开发", "经济", "高新", "保税", "自由", "贸易", "行政", "城乡", "城镇", "农村", "山区", "边远",
    "贫困", "民族", "自治", "少数", "责任", "服务", "管理", "创建", "建设", "辖属", "直辖", "省辖",
    "地级", "县级", "所在", "周边", "相关", "有关", "兄弟", "外地", "本地", "当地", "城区", "郊区",
}
_REGION_GENERIC_TAILS = {
    "城市", "都市", "超市", "上市", "地区", "社区", "校区", "园区", "景区", "辖区", "山区", "牧区",
    "片区", "学区", "新区", "老区", "郊区", "小区", "街区", "矿区", "灾区", "特区", "专区", "政区",
    "选区", "禁区", "盲区", "误区", "分区", "城区", "强市", "名市", "强县", "名县", "强区", "强省",
    "大省",
}


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
        docs.append(_document(sf, mt, n, title, doc_segs, blocks, file_meta))
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
    return _document(sf, mt, 1, title or _stem(sf.source), segs, blocks, file_meta)


def _document(
    sf: SourceFile, mt: str, n: int, title: str, segs: list[_Seg],
    blocks: tuple[Block, ...], file_meta: DocMeta,
) -> Document:
    return Document(
        doc_id=f"{sf.source}#{n}",
        source=sf.source,
        title=title,
        start=segs[0].start,
        end=segs[-1].end,
        metadata=_doc_meta(title, matching_copy(title), segs, mt, file_meta),
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


def _doc_meta(title: str, title_mt: str, segs: list[_Seg], mt: str, file_meta: DocMeta) -> DocMeta:
    body = "\n".join(mt[s.start:s.end] for s in segs)
    return DocMeta(
        year=_year(title_mt, body, file_meta.date),
        region=_region(title_mt, body),
        doc_type=_doc_type(title_mt),
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


@lru_cache(maxsize=1)
def _place_lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """(words jieba's dictionary tags as place names "ns", its other two-character words).

    Read once, lazily, from the dictionary file jieba ships; empty sets without jieba."""
    try:
        import jieba
    except ImportError:  # pragma: no cover - jieba is a declared dependency
        return frozenset(), frozenset()
    places, others = set(), set()
    with jieba.dt.get_dict_file() as fh:
        for raw in fh:
            parts = (raw.decode("utf-8") if isinstance(raw, bytes) else raw).split()
            if len(parts) < 3:
                continue
            if parts[2] == "ns":
                places.add(parts[0])
            elif len(parts[0]) == 2:
                others.add(parts[0])
    return frozenset(places), frozenset(others)


def _plausible_short_name(name: str, suffix: str, others: frozenset[str]) -> bool:
    return (
        is_cjk(name)
        and name not in others
        and not any(c in _REGION_NAME_BAD for c in name)
        and name[0] not in _REGION_FIRST_BAD
        and name not in _REGION_GENERIC_NAMES
        and name[-1] + suffix not in _REGION_GENERIC_TAILS
        and name[-1] + suffix not in others
    )


def _dictionary_place(text: str, i: int, places: frozenset[str]) -> str | None:
    """The longest dictionary place name ending with the suffix at ``i``."""
    for n in (5, 4, 3, 2):
        word = text[i - n:i + 1] if i >= n else ""
        if (
            word in places
            and is_cjk(word[:-1])
            and word not in _REGION_GENERIC_WORDS
            and not any(c in _PLACE_NAME_BAD for c in word[:-1])
        ):
            return word
    return None


def _region_candidates(text: str) -> list[tuple[str, int, float]]:
    """(name, position, weight) of every plausible place name "XX省/市/县/区/旗/州/盟" in a
    matching copy: the longest dictionary place name (jieba tag "ns") ending at the suffix
    (weight 1), else a two-character name unknown to the dictionary that passes the
    generic-word filters (weight 0.5: it must be seen twice to count)."""
    places, others = _place_lexicon()
    out = []
    for i, suffix in enumerate(text):
        if suffix not in _REGION_SUFFIX_RANK or i < 2 or text[i + 1:i + 2] in _REGION_AFTER_BAD:
            continue
        word = _dictionary_place(text, i, places)
        if word is not None:
            out.append((word, i + 1 - len(word), 1.0))
        elif _plausible_short_name(text[i - 2:i], suffix, others):
            out.append((text[i - 2:i + 1], i - 2, 0.5))
    return out


def _region(title: str, body: str) -> str | None:
    in_title = _region_candidates(title)
    if in_title:
        return max(in_title, key=lambda c: _REGION_SUFFIX_RANK[c[0][-1]])[0]
    scores: Counter[str] = Counter()
    first: dict[str, int] = {}
    for name, pos, weight in _region_candidates(body):
        scores[name] += weight
        first.setdefault(name, pos)
    ranked = sorted(scores, key=lambda n: (-scores[n], -_REGION_SUFFIX_RANK[n[-1]], first[n]))
    return ranked[0] if ranked and scores[ranked[0]] >= 1 else None
