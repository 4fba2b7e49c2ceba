"""Boilerplate detection as spans: nothing is deleted, no offset ever shifts.

``find_noise(text)`` returns sorted, merged, non-overlapping ``[start, end)`` spans of
scraped-page boilerplate; everything outside them is the document's own text. Matching runs
on ``text.matching_copy(text)``: traditional folded to simplified (OpenCC ``t2s``) and full-width
ASCII folded to half-width, *only* when that copy has exactly the length of ``text``
(otherwise the original is matched), so every match offset is an offset into ``text``.

Rules are written for kinds of noise, not for particular sites:

Whole lines (a "line" is the text between two newlines; leading bullets such as "•" and
whitespace are ignored when testing):
  * navigation / breadcrumbs: "当前位置:…", "您的位置:…", "首页 > …", or ≥2 " > " separators;
  * metadata lines: "来源:", "作者:", "移动端:", "上传人:", "编辑:", "浏览:", "链接地址:",
    "时间:/日期:/上传时间: 2023…", "导语:" (≤200 chars);
  * prev/next and page tools: "上一篇", "下一篇", "返回顶部", "打印本页", "分享到" …;
  * short widget lines (≤30 chars): "点击查看更多", "展开阅读全文", "资源描述", "发表回复",
    "登录后才能评论", "立即下载" …; button rows ("返回 下载 相关 举报");
  * standalone page numbers ("第3页", "- 3 -", "3/14", "Page 3 of 14") and short lines with
    neither a CJK character nor a letter ("(0)", "12。"), numbering such as "(1)" excepted;
  * intro / comment blurbs of scraped pages (≤300 chars) with phrases such as "小编",
    "供大家参考", "以资借鉴", "欢迎阅读", "仅供参考", "一文来源于网友上传", "对我很有帮助";
  * a run of ≥2 "•"-bulleted short lines (a page widget) once one of them is noise;
  * a short line (≤20 chars) whose neighbouring non-empty lines are both noise
    (an uploader name between widget lines).

From a clause to the end of its line (the whole line when little text precedes it):
  * copyright / contact / ICP / repost lines: "©", "版权所有", "ICP备", "公网安备", "客服QQ",
    "不代表本站观点", "本站…", "免责声明", "转载请…", "侵犯…请联系/通知…删除",
    "本内容由…收集整理", "《X》由…整理/会员分享", "可在线阅读"; or two weak contact cues
    ("电话:", "微信:", "QQ:", "邮箱:", "版权"…) on one line.

Inside a line (only the match):
  * page markers "第1页 / 共14页", "第 14 页 共 14 页", "共14页 第1页", "名称.docx_第1页";
  * uploader banners "文本为Word版本,下载可任意编辑" (with a page-split "1、" just before it);
  * mojibake runs of "??" / U+FFFD at a line start.

Lists of unrelated articles:
  * after a heading line such as "相关推荐", "推荐专题", "相关资源", "相关搜索", "最近更新",
    "热门推荐", "猜你喜欢", "相关范文推荐", "相关文章", "推荐阅读": the marker and the list-like
    lines after it (short lines, "title(精选13篇)"-style counter lines and their one-line
    blurbs, other noise) are noise; when the list runs to the end of the file, everything
    from the marker to the end is; a short line followed by a prose paragraph ends the list
    (it heads a section that comes after it);
  * with no marker: a tail block of ≥3 "title(N篇)" entries (each optionally followed by a
    one-line blurb) running to the end of the file is noise from its first title on.

Spans separated only by whitespace are merged into one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import matching_copy

Span = tuple[int, int]

# ---------------------------------------------------------------- patterns

_SENTENCE_END = re.compile(r"^.{11,}[。！？!?]$")

_BULLETS = " \t\u3000\u00a0•·▪►■◆●○◇*"

_NAV_START = re.compile(r"^(?:当前位置|您的位置|你的位置|您现在的位置|现在的位置|所在位置)\s*[:>]")
_CRUMB_START = re.compile(r"^(?:首页|主页|网站首页)\s*[>»›/]")
_CRUMB_SEP = re.compile(r"\s[>»›]\s")
_META_START = re.compile(
    r"^(?:来源|文章来源|信息来源|作者|编辑|责任编辑|责编|移动端|手机版|手机访问|上传人|上传者|"
    r"发布人|发布者|浏览|浏览次数|浏览量|阅读量|阅读次数|点击数|点击量|点击次数|字号|原文链接|"
    r"链接地址|本文链接|本文地址|文章链接|网址|出处|标签|导语|导读)\s*[:]"
    r"|^(?:时间|日期|发布时间|发布日期|发表时间|发表日期|上传时间|更新时间|更新日期|录入时间)"
    r"\s*[:]\s*\d{4}",
    re.I,
)
_TOOLS_START = re.compile(
    r"^(?:上一篇|下一篇|上一页|下一页|上一章|下一章|上一条|下一条|返回顶部|返回首页|返回列表|"
    r"打印本页|打印此页|关闭窗口|分享到)"
)
_WIDGET = re.compile(
    r"点击查看更多|查看更多|展开阅读全文|阅读全文|资源描述|发表回复|发表评论|登录后才能评论|"
    r"网友评论|评论列表|我要评论|立即下载|免费下载|下载文档|收藏本文|加入收藏|扫一扫|二维码"
)
_BUTTONS = re.compile(
    r"^(?:(?:返回|下载|相关|举报|收藏|分享|打印|关闭|评论|点赞|复制|上传|登录|注册)\s*[|/·]?\s*){2,}$"
)
_PAGE_LINE = re.compile(
    r"^(?:第\s*\d+\s*页|[-—–]\s*\d+\s*[-—–]|\d+\s*/\s*\d+|page\s*\d+(?:\s*of\s*\d+)?)$", re.I
)
_NUMBERING_ONLY = re.compile(r"^[(\[]?[1-9]\d?[)\].、]?$")
_CJK_OR_LETTER = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")
_BLURB = re.compile(
    r"小编|供大家参考|以资借鉴|欢迎阅读|仅供参考|供您参考|欢迎参考|欢迎借鉴|一文来源|网友上传|"
    r"希望.{0,12}帮助(?:到)?(?:大家|你|您)|本文将从|对我很有帮助|没想到还有这么|精心整理|"
    r"精心收集|为大家(?:整理|准备|收集|带来|分享|推荐)|(?:下面|以下)是.{0,30}范文"
)
_COPYRIGHT_STRONG = re.compile(
    r"©|\(c\)\s*\d{4}|copyright|版权所有|版权归|ICP备|ICP证|公网安备|备案号|客服\s*QQ|"
    r"不代表本站|本站|免责声明|转载请|如若转载|如需转载|未经授权|"
    r"侵犯.{0,20}(?:请|立即|及时).{0,20}(?:联系|通知|告知).{0,20}删除|侵权.{0,10}删除|联系删除|"
    r"本内容由.{0,30}(?:收集|整理|发布|提供)|》\s*由[:]?.{0,30}?(?:整理|收集|分享|提供|发布)|"
    r"由会员分享|可在线阅读|更多相关《|请在.{0,60}上搜索",
    re.I,
)
_COPYRIGHT_WEAK = re.compile(
    r"电话\s*[:]|微信\s*[:]|QQ\s*[:]|邮箱\s*[:]|e-?mail\s*[:]|传真\s*[:]|联系我们|版权", re.I
)
_SENTENCE_END = re.compile(r"[。!?！？]")
_INLINE = re.compile(
    r"第\s*\d+\s*页\s*[/]?\s*共\s*\d+\s*页"
    r"|共\s*\d+\s*页\s*[,/]?\s*第\s*\d+\s*页"
    r"|[^\s。,;:!?、]{1,60}?\.(?:docx?|pdf|pptx?|xlsx?|wps|txt)_第\s*\d+\s*页"
    r"|(?:(?<=\n)|^)[ \t]*\d{1,3}、(?=文本为\s*word)"
    r"|文本为\s*word\s*版本\s*[,]?\s*下载(?:后)?可(?:任意)?编辑"
    r"|(?:(?<=\n)|^)[ \t]*[?\ufffd]{2,}",
    re.I,
)
_LIST_MARKER = re.compile(
    r"^(?:相关推荐|推荐专题|相关资源|相关搜索|最近更新|热门推荐|猜你喜欢|相关范文推荐|相关范文|"
    r"相关文章|推荐阅读|延伸阅读|热门文章|最新文章|精彩推荐|相关阅读|为你推荐|为您推荐|热门标签|"
    r"相关专题|推荐文章|文章推荐|热门专题|热门搜索|最新范文|热门范文|精品推荐|相关文档|相关下载)"
    r"\s*[:>»]*$"
)
_COUNTER_TITLE = re.compile(
    r"[(]\s*(?:精选|优秀|模板|实用|优质|通用|汇总|大全|最新|热门|推荐|合集|经典|必备|范文|共|通用版)?"
    r"\s*\d{1,3}\s*篇\s*[)]\s*$"
)
_COMPILATION_MARKER = re.compile(r"篇[一二三四五六七八九十]{1,3}|第[一二三四五六七八九十\d]{1,3}篇")


@dataclass
class _Line:
    start: int  # offset of the first character of the line
    end: int  # offset of its newline (or len(text))
    body: str  # matching-copy text, stripped of whitespace and leading bullets
    bulleted: bool
    noise: bool = False


# ---------------------------------------------------------------- public


def find_noise(text: str) -> list[Span]:
    """Sorted, merged, non-overlapping ``[start, end)`` spans of boilerplate in ``text``."""
    mt = matching_copy(text)
    lines = _split_lines(mt)
    spans: list[Span] = []
    for line in lines:
        spans.extend(_line_spans(mt, line))
    spans.extend(_inline_spans(mt))
    _mark_line_noise_from_spans(lines, spans, mt)
    _mark_bullet_widgets(lines)
    _mark_list_sections(lines)
    _mark_sandwiched(lines)
    spans.extend((ln.start, ln.end) for ln in lines if ln.noise and ln.body)
    tail = _tail_list_start(lines)
    if tail is not None:
        spans.append((tail, len(text)))
    return merge_spans(spans, text)


def merge_spans(spans: list[Span], text: str) -> list[Span]:
    """Sort and merge spans that overlap, touch or are separated only by whitespace."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and (start <= out[-1][1] or not text[out[-1][1]:start].strip()):
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def kept_text(text: str, noise: list[Span]) -> str:
    """The text with the noise spans cut out (for inspection and tests; offsets are lost)."""
    parts, pos = [], 0
    for start, end in noise:
        parts.append(text[pos:start])
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# ---------------------------------------------------------------- line rules


def _split_lines(mt: str) -> list[_Line]:
    lines, pos = [], 0
    for raw in mt.split("\n"):
        stripped = raw.strip(" \t\u3000\u00a0\ufeff")
        body = stripped.lstrip(_BULLETS).strip()
        lines.append(_Line(pos, pos + len(raw), body, stripped.startswith("•")))
        pos += len(raw) + 1
    return lines


def _is_noise_line(body: str) -> bool:
    if not body:
        return False
    if len(body) <= 200 and (
        _NAV_START.match(body) or _META_START.match(body) or _TOOLS_START.match(body)
    ):
        return True
    if _CRUMB_START.match(body) or (len(body) <= 100 and len(_CRUMB_SEP.findall(body)) >= 2):
        return True
    if len(body) <= 30 and (_WIDGET.search(body) or _BUTTONS.match(body)):
        return True
    if _PAGE_LINE.match(body):
        return True
    if len(body) <= 12 and not _CJK_OR_LETTER.search(body) and not _NUMBERING_ONLY.match(body):
        return True
    if _LIST_MARKER.match(body):
        return True
    return len(body) <= 300 and bool(_BLURB.search(body))


def _line_spans(mt: str, line: _Line) -> list[Span]:
    """Whole-line noise sets ``line.noise``; copyright clauses return partial spans."""
    if _is_noise_line(line.body):
        line.noise = True
        return []
    raw = mt[line.start:line.end]
    hit = _COPYRIGHT_STRONG.search(raw)
    if hit is None:
        weak = list(_COPYRIGHT_WEAK.finditer(raw))
        hit = weak[0] if len(weak) >= 2 else None
    if hit is None:
        return []
    return [(line.start + _clause_start(raw, hit.start()), line.end)]


def _clause_start(raw: str, pos: int) -> int:
    """Start of the sentence holding ``pos``; 0 when little text precedes it."""
    ends = [m.end() for m in _SENTENCE_END.finditer(raw, 0, pos)]
    start = ends[-1] if ends else 0
    before = raw[:start]
    return start if len(_CJK_OR_LETTER.findall(before)) >= 10 else 0


def _inline_spans(mt: str) -> list[Span]:
    return [(m.start(), m.end()) for m in _INLINE.finditer(mt) if m.end() > m.start()]


def _mark_line_noise_from_spans(lines: list[_Line], spans: list[Span], mt: str) -> None:
    """A line left with nothing but whitespace/bullets once its spans are cut is noise."""
    covered = bytearray(len(mt))
    for start, end in spans:
        covered[start:end] = b"\x01" * (end - start)
    for line in lines:
        if line.noise or not line.body or not any(covered[line.start:line.end]):
            continue
        chars = zip(mt[line.start:line.end], covered[line.start:line.end])
        rest = "".join(ch for ch, is_noise in chars if not is_noise)
        line.noise = not rest.strip(_BULLETS)


def _nonempty(lines: list[_Line]) -> list[_Line]:
    return [ln for ln in lines if ln.body]


def _mark_bullet_widgets(lines: list[_Line]) -> None:
    run: list[_Line] = []
    for line in _nonempty(lines) + [_Line(0, 0, "end", False)]:
        if line.bulleted and len(line.body) <= 60:
            run.append(line)
            continue
        if len(run) >= 2 and any(ln.noise for ln in run):
            for ln in run:
                ln.noise = True
        run = []


def _is_list_like(line: _Line, prev: _Line | None) -> bool:
    if line.noise or _COUNTER_TITLE.search(line.body):
        return True
    if prev is not None and _COUNTER_TITLE.search(prev.body) and len(line.body) <= 200:
        return True  # a listed article's one-line blurb
    # Link titles are short and never end a sentence; a short full sentence is prose.
    return len(line.body) <= 40 and not _SENTENCE_END.search(line.body)


def _heads_prose(body: list[_Line], j: int) -> bool:
    """A short clean line followed by a prose paragraph is that paragraph's heading (a section
    appended after the list), not one more list entry."""
    line = body[j]
    if line.noise or _COUNTER_TITLE.search(line.body) or j + 1 >= len(body):
        return False
    return not _is_list_like(body[j + 1], line)


def _mark_list_sections(lines: list[_Line]) -> None:
    body = _nonempty(lines)
    i = 0
    while i < len(body):
        if not _LIST_MARKER.match(body[i].body):
            i += 1
            continue
        j = i + 1
        while j < len(body) and _is_list_like(body[j], body[j - 1]):
            if _heads_prose(body, j):
                break
            j += 1
        for ln in body[i:j]:
            ln.noise = True
        i = j


def _mark_sandwiched(lines: list[_Line]) -> None:
    body = _nonempty(lines)
    for k in range(1, len(body) - 1):
        line = body[k]
        if line.noise or len(line.body) > 20 or _COMPILATION_MARKER.search(line.body):
            continue
        if body[k - 1].noise and body[k + 1].noise:
            line.noise = True


def _tail_list_start(lines: list[_Line]) -> int | None:
    """Start offset of a marker-less tail list of ≥3 "title(N篇)" entries, if any."""
    body = [ln for ln in _nonempty(lines) if not ln.noise]
    i, count, first = len(body) - 1, 0, None
    while i >= 0:
        if _COUNTER_TITLE.search(body[i].body) and len(body[i].body) <= 60:
            first, count, i = body[i], count + 1, i - 1
        elif i >= 1 and _COUNTER_TITLE.search(body[i - 1].body) and len(body[i].body) <= 200:
            first, count, i = body[i - 1], count + 1, i - 2
        else:
            break
    return first.start if first is not None and count >= 3 else None
