"""Quantitative targets: extraction from documents (the comparison tables: ``compare.py``).

A *target* is a quantity a document sets out to reach, keep, limit, build, complete, fund,
train or recruit: "学前三年毛入园率达到90%以上", "完成44所标准化学校建设", "辍学率控制在0.5%以内",
"组织500名教师参加72学时的全员培训", "新建公办幼儿园x所" (a placeholder). Extraction runs
sentence by sentence over a document's blocks (``text.sentence_spans``), matching on
``text.matching_copy`` of each sentence (traditional folded to simplified, full-width
digits/percent to half-width, same length), so every offset indexes the original text and
every ``value_text`` is the original characters.

Rules (written for patterns, not for particular sentences):

Quantities
  * a number — Arabic ("90", "1.5", "９０"), Chinese ("一百二十", "两", "十", "九十五点五"), a range
    ("1-2", "3至5", value = the lower bound, ``value_max`` the upper), or a placeholder
    ("x", "xx", "xxx", "X", "x-x": ``placeholder=True``, ``value=None``) — optionally with
    "余"/"多" ("200余名"), followed by a unit from ``UNITS`` (%, ‰, 所, 名, 人, 人次, 个, 项,
    万元, 亿元, 元, 学时, 课时, 小时, 周, 天, 平方米, 辆, 台, 支, 个百分点 …);
  * "百分之N" and "N分之M" / "1/4" fractions (value in percent, unit "%").
  Never quantities: years and dates ("2023年", "9月1日" — they become deadlines), ages
  ("3-5周岁"), document numbers ("〔2015〕55号"), ordinals and section numbers ("第三", "3.",
  "（1）"), frequencies of routine work ("每月一次", "每学期1至2次": 次 is not a unit),
  numbers inside short quoted names and slogans ("“2031”工程", "“六个一”", "“一人一号”"),
  Chinese-numeral counts with 个 ("三个代表", "两个平台", "四个意识"), and a bare "一"
  count (一所/一名) unless a build/recruit verb governs it directly ("引进一所民办高中").

Which quantities are targets
  * a comparator cue governs it: a word before it in its clause (达到/达/不低于/不少于/至少/
    超过/控制在/保持在/提高到/完成/新建/改扩建/建成/创建/培训/培养/招聘/引进/投入/投资/
    安排…), or a bound after it (以上/以下/以内/左右), or a task verb right after it in the
    clause ("5所成人学校达到…标准", "80%的中小学要建立…"), or an indicator ending in 率/比例
    directly before a percentage ("小学适龄儿童年入学率99.9%"), or, failing those, a plan cue
    earlier in the sentence (力争/争取/计划/确保/年内 …: "争取能引进…40名(其中免费师范生10名)");
  * and the sentence up to the end of that clause does not read as a report of what was done
    (了/已/荣获/获…奖/参训/共接待/比去年/同比/累计 …) unless a plan cue (计划/拟/力争/争取/
    确保/要/将/预计/年内/目标 …) stands there too. So a summary's "召开了3次会议", "155人参训",
    "我市获10个特等奖" are not targets; status figures without any cue ("空编1500余个") are not
    either. The labelled sample and its scorer are in ``eval/`` (``eval/score_targets.py``).

Comparators are normalised to ``COMPARATORS``: bounds first (以上/不低于/不少于/至少/超过 →
"不低于"; 以内/以下/控制在/不超过 → "控制在"), then 保持在, 达到 (达到/达/提高到/实现/implicit
率), then the task verbs (完成, 新建, 建成, 创建, 培训, 引进, 招收, 投入), then 力争 (only a plan
cue), and 约 (左右/约).

Indicator: the noun phrase between the governing cue (or the clause start, or the previous
quantity) and the number, with plan cues, region words (全市/我县…), deadlines, connectors and
trailing comparators trimmed ("学前三年毛入园率"); when that leaves less than two characters,
the noun after the unit ("完成44所|标准化学校|建设" → "标准化学校"); when both are empty, the
previous target's indicator in the same sentence ("新建公办幼儿园3所，改扩建5所" → 公办幼儿园).
With "分别" the phrase before 分别 is the indicator of every quantity it distributes.

Deadline: the nearest before the quantity (else the first in the sentence) of "到2025年",
"2025年底(前)", "年底前", "年内", "9月底前", "1月17日前", "暑期", or a bare "2014年".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .compare import (  # noqa: F401 (re-exported: the comparison tables were part of this module)
    CSV_COLUMNS, CompareParams, CompareRow, CompareTable, TargetIndex, checked_topic, compare, indicator_text,
)
from .text import CN_NUMERAL, cn_number, matching_copy, parse_number, sentence_spans  # noqa: F401 (cn_number re-exported)
from .types import Document, Target, targets_from_json, targets_to_json  # noqa: F401 (re-exported)

COMPARATORS = (
    "不低于", "控制在", "保持在", "达到", "完成", "新建", "建成", "创建", "培训", "引进", "招收",
    "投入", "力争", "约",
)


# ------------------------------------------------------------------ numbers

_ARABIC = r"\d+(?:\.\d+)?"
_CN = CN_NUMERAL
_PH = r"(?<![A-Za-z0-9])[xX×]{1,5}(?![A-Za-z])"
_NUM = rf"(?:{_ARABIC}|{_PH}|{_CN})"
UNITS = (
    "万平方米", "平方米", "平米", "万人次", "人次", "万人", "万元", "亿元", "万册", "个百分点", "百分点",
    "学时", "课时", "小时", "个月", "公里", "元", "%", "‰", "所", "名", "人", "个", "项", "辆", "台",
    "支", "套", "间", "座", "门", "册", "周", "天", "家",
)
_UNIT = "|".join(re.escape(u) for u in UNITS)
# A unit followed by one of these characters is the start of another word (3-5周岁, 台阶…).
_UNIT_BLOCK = {
    "周": "岁年末边", "天": "然津", "台": "阶湾", "家": "长庭教访乡属", "人": "民才员身", "名": "校师单次额称誉",
    "所": "有在属", "个": "人性别体", "门": "户", "间": "隔", "元": "月旦", "册": "子", "座": "谈",
    "项": "目", "套": "餐",
}
_QTY = re.compile(
    rf"(?P<num>{_NUM})(?:\s*(?:-|~|—|–|至|到)\s*(?P<num2>{_NUM}))?\s*(?P<approx>余|多)?\s*(?P<unit>{_UNIT})"
)
_PERCENT_CN = re.compile(rf"百分之(?P<num>{_CN}|{_ARABIC})")
_FRACTION = re.compile(rf"(?P<den>{_CN})分之(?P<num>{_CN})|(?<![\d/.])(?P<a>\d{{1,2}})/(?P<b>\d{{1,3}})(?=[\u4e00-\u9fff])")

# Units a Chinese-numeral quantity may take (counts with 个/项/支… are names and slogans).
_CN_UNITS = {"所", "名", "人", "%", "周", "天", "个月", "学时", "课时", "小时", "万元", "亿元", "元", "平方米", "万平方米", "万人", "人次", "万人次"}
_DURATION_UNITS = {"周", "天", "个月", "学时", "课时", "小时"}
_BUILD_VERB_BEFORE = re.compile(r"(?:引进|新建|建成|建设|建好|创建|增加|新增|完成|培养|培育|打造|建)$")


@dataclass
class _Qty:
    start: int  # in sentence coordinates
    end: int
    value: float | None
    value_max: float | None
    unit: str
    placeholder: bool
    num_text: str  # the first number, matching copy


def _is_placeholder(s: str) -> bool:
    return bool(re.fullmatch(r"[xX×]{1,5}", s.strip()))


def _in_short_quote(m: str, start: int, end: int) -> bool:
    """Inside “…”/"…"/「…」 of at most 10 characters (a name or slogan)."""
    left = max(m.rfind("“", 0, start), m.rfind("「", 0, start), m.rfind('"', 0, start))
    if left < 0:
        return False
    closers = [i for i in (m.find("”", end), m.find("」", end), m.find('"', end)) if i >= 0]
    if not closers:
        return False
    right = min(closers)
    between_left = m[left + 1 : start]
    return right - left <= 31 and not re.search(r"[”」\"]", between_left)


def _in_book_title(m: str, start: int) -> bool:
    """Inside 《…》 (a document or programme title)."""
    left = m.rfind("《", 0, start)
    return left >= 0 and m.rfind("》", left, start) < 0 and m.find("》", start) >= 0


def find_quantities(m: str) -> list[_Qty]:
    """Quantities in a matching-copy sentence, excluding non-quantities (see module doc)."""
    out: list[_Qty] = []
    for mt in _QTY.finditer(m):
        num, num2, unit = mt.group("num"), mt.group("num2"), mt.group("unit")
        s, e = mt.start(), mt.end()
        # Chinese numerals: do not eat a preceding word character ("九汲小学…" never reach here)
        if s > 0 and m[s - 1] == "第" or (s > 0 and re.match(r"[\dA-Za-z.]", m[s - 1])):
            continue
        if e < len(m) and unit in _UNIT_BLOCK and m[e] in _UNIT_BLOCK[unit]:
            continue
        ph = _is_placeholder(num)
        cn = not ph and not re.match(r"\d", num)
        if cn:
            val = cn_number(num)
            if val is None:
                continue
            if "万" in num or "亿" in num:
                if re.fullmatch(r"[万亿]", num):
                    continue
            if unit not in _CN_UNITS and num2 is None:
                continue  # 三个代表, 两个平台, 一支队伍, 六项基本功 …
            if unit in ("人", "名") and re.match(r"(?:工程|计划|行动)", m[e : e + 2]):
                continue  # 百人工程, 千人计划
            if val == 1 and num2 is None and unit not in _DURATION_UNITS and not _BUILD_VERB_BEFORE.search(m[max(0, s - 3) : s]):
                continue
            if unit in ("人", "名") and re.search(r"[一二两三四五六七八九十]$", m[max(0, s - 1) : s]):
                continue
        if s > 0 and m[s - 1] == "每":
            continue  # 每两周: a frequency
        if _in_short_quote(m, s, e) or _in_book_title(m, s):
            continue
        if unit in ("%", "‰") and s > 0 and m[s - 1] == "/":
            continue
        value = None if ph else parse_number(num)
        value_max = None
        if num2 is not None:
            value_max = None if _is_placeholder(num2) else parse_number(num2)
        if num2 is not None and not ph and value_max is not None and value is not None and value_max < value:
            continue  # "3-1" is no range
        out.append(_Qty(s, e, value, value_max, unit, ph, num))
    for mt in _PERCENT_CN.finditer(m):
        v = parse_number(mt.group("num"))
        if v is not None and not _overlaps(out, mt.start(), mt.end()):
            out.append(_Qty(mt.start(), mt.end(), v, None, "%", False, mt.group(0)))
    for mt in _FRACTION.finditer(m):
        if mt.group("den"):
            den, num = cn_number(mt.group("den")), cn_number(mt.group("num"))
        else:
            num, den = float(mt.group("a")), float(mt.group("b"))
        if not den or num is None or num >= den:
            continue
        s, e = mt.start(), mt.end()
        if mt.group("den"):  # "十万分之一以下": keep the whole numeral
            pass
        if not _overlaps(out, s, e):
            out.append(_Qty(s, e, 100.0 * num / den, None, "%", False, mt.group(0)))
    out.sort(key=lambda q: q.start)
    return out


def _overlaps(qs: Sequence[_Qty], s: int, e: int) -> bool:
    return any(q.start < e and s < q.end for q in qs)


# ------------------------------------------------------------------ cues

_CLAUSE_SEP = re.compile(r"[,，;；:：。!?！？\n]")
# Comparator words proper: (pattern, normalised comparator).
_BOUND_CUES: list[tuple[str, str]] = [
    (r"不低于|不少于|不小于|至少|超过|高于|多于|不下于", "不低于"),
    (r"控制在|不超过|不高于|低于|少于|不多于|压缩到|降低到|降到|减少到", "控制在"),
    (r"保持在|稳定在|巩固在|保持|稳定|巩固", "保持在"),
    (r"达到|提高到|提升到|提高至|增加到|增长到|增至|升至|实现|为期|达(?![标成])", "达到"),
]
# Task verbs that govern a quantity: (pattern, normalised comparator).
_TASK_CUES: list[tuple[str, str]] = [
    (r"完成|实施|启动|落实|开展|确保|举办|组织|推进|安排|选派|配备|开设|抓好|撤并", "完成"),
    (r"新建|改扩建|扩建|改建|新增|增加|购置|配置|添置|装备|建设|改造|开工|组建|成立", "新建"),
    (r"建成|建好|打造|覆盖", "建成"),
    (r"创建|创成|争创|评定|认定|通过", "创建"),
    (r"培训|轮训|培养|培育|研修|送培|参加", "培训"),
    (r"引进|招聘|补充|录用|选聘|聘用|招考", "引进"),
    (r"招生|招收|录取", "招收"),
    (r"投入|投资|拨付|筹措|提取|资助|统筹|计提|征收|下达", "投入"),
]
_ALL_CUES = _BOUND_CUES + _TASK_CUES
_CUE_RE = re.compile("(?:" + "|".join(f"(?:{p})" for p, _ in _ALL_CUES) + ")(?!率)")
_BOUND_RE = re.compile("(?:" + "|".join(f"(?:{p})" for p, _ in _BOUND_CUES) + ")(?!率)")
_TASK_RE = re.compile("|".join(f"(?:{p})" for p, _ in _TASK_CUES))
_STRICT_BOUND = re.compile(r"不低于|不少于|不小于|至少|超过|控制在|不超过|不高于|低于")
_AFTER_BOUND = re.compile(r"^\s*(?:\)|）)?\s*(?:的)?\s*(?:及以上|以上|或以上)")
_AFTER_LIMIT = re.compile(r"^\s*(?:以内|以下|之内)")
_AFTER_APPROX = re.compile(r"^\s*左右")
# Task verbs after the quantity's noun, in the same clause ("5所成人学校达到…标准").
_AFTER_VERB = re.compile(r"^[^,，;；:：。]{0,16}?(达到|达标|建成|建立|创建|通过|完成|实现|参加|接受|培训|获得|要|力争)")
_PLAN_CUE = re.compile(
    r"计划|拟|力争|争取|确保|保证|预计|目标|年内|全年|明年|下半年|(?<!主)要(?![点素害闻])|将(?!来)|需(?!求)|"
    r"应当|必须|努力|力求|鼓励|(?<!即)使(?!用|命)"
)
_REPORT_CUE = re.compile(
    r"(?<![为除])了(?![解如结])|已经|已|荣获|获得[^,，。;；]{0,8}(?:奖|称号|表彰|好评|肯定)|获[^,，。;；得]{0,6}奖|"
    r"参训|共接待|接待了|比去年|较去年|同比|累计|先后|共有|现有|目前"
)
_RATE_BEFORE = re.compile(r"(?:率|比例|比重|占比|覆盖面)\s*$")
_REGION_WORD = r"全市|全县|全区|全省|全州|全镇|全国|全旗|我市|我县|我区|我省|我镇|本市|本县|本区|各县市区|各县区|各地|各校|全校"
_TRIM_LEAD = re.compile(
    r"^(?:[\s、,，()（）和及与或并且还也对把将使要让由从于共总约在为达]|同时|其中|共计|总计|力争|争取|确保|保证|计划|全年|年内|"
    r"今年|明年|本年|当年|继续|进一步|切实|逐步|努力|全面|重点|积极|加快|稳步|大力|基本|高质量|"
    + _REGION_WORD + r"|需通过|通过|需要|需|能够|能|面向|针对|(?:按照|根据|依据)[^,，;；]{0,14}?(?:要求|规定|精神|部署|标准|原则)|"
    r"按照|按|拟|预计|启动|实施)+"
)
_TRIM_TAIL = re.compile(
    r"(?:[\s、,，()（）和及与或的在为均都要将共约总计]|分别|以上|以内|以下|左右|力争|争取|确保|" + _REGION_WORD + r")+$"
)
_GENERIC_NOUN = re.compile(r"^(?:目标|任务|标准|水平|比例|左右|以上|以下|以内|规定|要求|工作|计划|名额|同时|基础|时间)$")
_NOUN_HEAD = re.compile(r"(?:经费|资金|费用|专项资金|比例|人数|面积|规模|计划|任务|项目|基地|率|覆盖率|数)")
_VERB_START = re.compile(r"^(?:获得|就业|达到|实现|参加|接受|进行|要|到|入驻|按)")
_QUALIFIER = re.compile(r"^(?:城区|农村|城镇|乡村|县城|城市|市区|县区|镇区|山区|城乡)$")
# "按…经费的10%(的比例)…提取/安排…教师培训经费": a share of a budget earmarked for something.
_RATIO_BASE = re.compile(r"(?:按|按照|根据)[^,，;；。]*的\s*$")
_RATIO_USE = re.compile(r"(?:安排|提取|用于|使用|列支|投入|拨付)(?:并使用)?\s*([^,，;；。、的()（）]{2,12}?(?:经费|资金|费用))")
_NOUN_AFTER = re.compile(
    r"^\s*(?:及以上|以上|左右)?\s*(?:的)?\s*[“\"]?([^\s,，;；:：。、()（）“”\"《》]{2,24}?)"
    r"(?=$|[\s,，;；:：。、()（）“”\"《]|和|及|与|的|到|达到|达标|建成|建立|创建|通过|完成|实现|参加|接受|要|力争|"
    r"以上|以内|以下|左右|建设|改造|任务|项目|工程|培训|工作|入驻|办学|进行|获得|按)"
)

_DEADLINE = re.compile(
    r"(?:到|至|于|在)\s*(?:\d{4}|20[xX]{2})\s*年(?:底|末|年底|前)?"
    r"|(?:\d{4}|20[xX]{2})\s*年\s*(?:底|末)\s*(?:前|以前)?"
    r"|(?:\d{4}|20[xX]{2})\s*年\s*(?:前|以前)"
    r"|年底前|年内|年底|年末|上半年|下半年|暑期|学期末"
    r"|(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*月\s*(?:\d{1,2}\s*日|底|末|份|中旬|上旬|下旬)?\s*(?:前|以前)"
    r"|(?<![\d〔\[(（])(?:\d{4}|20[xX]{2})\s*年(?![度制级份\d])"
)


def _comparator_of(word: str) -> str | None:
    return next((c for p, c in _ALL_CUES if re.fullmatch(p, word)), None)


def _report_context(text: str) -> bool:
    return bool(_REPORT_CUE.search(text)) and not _PLAN_CUE.search(text)


def _clause_bounds(m: str, s: int, e: int) -> tuple[int, int]:
    left = 0
    for mt in _CLAUSE_SEP.finditer(m, 0, s):
        left = mt.end()
    nxt = _CLAUSE_SEP.search(m, e)
    return left, (nxt.start() if nxt else len(m))


def _comparator_for(m: str, q: _Qty, has_plan: bool) -> str | None:
    """Normalised comparator of the cue governing ``q``; None when nothing makes it a target."""
    cl_start, cl_end = _clause_bounds(m, q.start, q.end)
    after = m[q.end : cl_end]
    if _AFTER_BOUND.match(after):
        return "不低于"
    if _AFTER_LIMIT.match(after):
        return "控制在"
    before = m[cl_start : q.start]
    if q.unit == "%" and _RATIO_BASE.search(m[: q.start]) and _RATIO_USE.search(m, q.end):
        return "投入"
    strict = list(_STRICT_BOUND.finditer(before))
    if strict:
        return _comparator_of(strict[-1].group(0))
    cues = list(_CUE_RE.finditer(before))
    if cues:
        return _comparator_of(cues[-1].group(0))
    if q.unit in ("%", "‰") and _RATE_BEFORE.search(before):
        return "达到"
    av = _AFTER_VERB.match(after)
    if av:
        word = av.group(1)
        return "力争" if word in ("要", "力争") else (_comparator_of(word) or "达到")
    if _AFTER_APPROX.match(after) and has_plan:
        return "约"
    return "力争" if has_plan else None


def _strip_deadlines(s: str) -> str:
    return _DEADLINE.sub("", s).strip("、,，和及与的 ")


def _trim_prefix(s: str) -> tuple[int, int]:
    """Bounds of the indicator inside the clause text before a quantity."""
    a, b = 0, len(s)
    while True:
        d = _DEADLINE.match(s, a)
        t = _TRIM_LEAD.match(s, a)
        end = max(d.end() if d else a, t.end() if t else a)
        if end <= a:
            break
        a = end
    # a comparator inside: the indicator is what precedes it ("经费不低于公用经费的" → 经费)
    bound = _BOUND_RE.search(s, a, b)
    if bound and bound.start() - a >= 2:
        b = bound.start()
    elif bound and bound.start() <= a + 1:
        a = max(a, bound.end())
    # a task verb inside: the indicator is what it governs ("…,新建公办幼儿园" → 公办幼儿园),
    # unless the verb is part of a noun ("教师培训经费", "招生比例")
    tasks = [mt for mt in _TASK_RE.finditer(s, a, b)]
    if tasks and b - tasks[-1].end() >= 2 and not _NOUN_HEAD.fullmatch(s[tasks[-1].end() : b].rstrip("的")):
        a = tasks[-1].end()
    t = _TRIM_TAIL.search(s, a, b)
    while t and t.start() < b and t.end() == b:
        b = t.start()
        t = _TRIM_TAIL.search(s, a, b)
    last = [mt for mt in _TASK_RE.finditer(s, a, b) if mt.end() == b]
    if last:  # "普通高中招生|3.1万人": the subject with its verb; "…完成|132所" alone: the verb
        return (a, b) if last[-1].start() - a >= 2 else (last[-1].start(), b)
    last = [mt for mt in _BOUND_RE.finditer(s, a, b) if mt.end() == b]
    if last:
        b = last[-1].start()
    t = _TRIM_TAIL.search(s, a, b)
    if t and t.end() == b:
        b = t.start()
    return a, max(a, b)


def _indicator_for(m: str, original: str, q: _Qty, seg_start: int) -> tuple[str, int]:
    """(indicator text, end of what it consumed, in sentence coordinates)."""
    cl_start, cl_end = _clause_bounds(m, q.start, q.end)
    if q.unit == "%" and _RATIO_BASE.search(m[: q.start]):
        use = _RATIO_USE.search(m, q.end)
        if use:
            return original[use.start(1) : use.end(1)], q.end
    mt = _NOUN_AFTER.match(m[q.end : cl_end])
    if mt and not _GENERIC_NOUN.match(mt.group(1)) and not _CUE_RE.match(mt.group(1)) and not _VERB_START.match(mt.group(1)):
        na, nb = q.end + mt.start(1), q.end + mt.end(1)
        return original[na:nb], nb
    start = max(cl_start, seg_start)
    a, b = _trim_prefix(m[start : q.start])
    text = _strip_deadlines(original[start + a : start + b]) if b > a else ""
    return text, q.end


def _deadline_for(m: str, q: _Qty) -> tuple[int, int] | None:
    spans = [(d.start(), d.end()) for d in _DEADLINE.finditer(m)]
    if not spans:
        return None
    before = [sp for sp in spans if sp[1] <= q.start]
    if before:
        marked = [sp for sp in before if not re.fullmatch(r"(?:\d{4}|20[xX]{2})\s*年", m[sp[0] : sp[1]])]
        return (marked or before)[-1]
    return spans[0]


def _shared_head(m: str, original: str, q: _Qty) -> str | None:
    """With "…分别达到68%、35%": the phrase before 分别 (in the same sentence part)."""
    share = None
    for mt in re.finditer(r"分别", m[: q.start]):
        share = mt
    if share is None:
        return None
    head_start = 0
    for mt in re.finditer(r"[;；:：。]", m[: share.start()]):
        head_start = mt.end()
    a, b = _trim_prefix(m[head_start : share.start()])
    text = _strip_deadlines(original[head_start + a : head_start + b])
    return text if len(text) >= 2 else None


def _split_qualifier(indicator: str) -> tuple[str, str | None]:
    """("学前三年幼儿入园率", "城区") from "学前三年幼儿入园率城区" (…城区达90%以上,农村达65%: each value gets the head and its own qualifier)."""
    q = indicator[-2:]  # (the qualifiers are two characters)
    return (indicator[:-2], q) if len(indicator) > 3 and _QUALIFIER.match(matching_copy(q)) else (indicator, None)


def targets_in_sentence(original: str, carried: str | None = None) -> list[dict[str, Any]]:
    """Targets of one sentence, offsets relative to the sentence (pure; see module doc).

    ``carried``: the last comparator of the previous sentence when that one ended a list item
    with "；" and stated targets ("…新建校舍13800平方米；食堂工程108个…"): it stands in for a
    missing cue here, as does the previous target's comparator within this sentence."""
    m = matching_copy(original)
    found: list[dict[str, Any]] = []
    prev_indicator: str | None = None
    prev_comp = carried
    seg_start = 0
    for q in find_quantities(m):
        clause_end = _clause_bounds(m, q.start, q.end)[1]
        has_plan = bool(_PLAN_CUE.search(m[: q.start]))
        if _report_context(m[:clause_end]):
            seg_start = q.end
            continue
        comp = _comparator_for(m, q, has_plan)
        if comp in (None, "力争") and prev_comp is not None:
            comp = prev_comp
        if comp is None and q.placeholder:
            comp = "达到"  # a template's "xx%" / "x所" slot is always a target
        if comp is None:
            seg_start = q.end
            continue
        head = _shared_head(m, original, q)
        if head is not None:
            indicator, consumed = head, q.end
        else:
            indicator, consumed = _indicator_for(m, original, q, seg_start)
        if len(indicator) < 2 or _CUE_RE.fullmatch(matching_copy(indicator)):
            indicator = prev_indicator or indicator
        elif prev_indicator and _QUALIFIER.match(matching_copy(indicator)):
            head, first = _split_qualifier(prev_indicator)
            if first and found and found[-1]["indicator"] == prev_indicator:
                found[-1]["indicator"] = f"{head}（{first}）"
            indicator = f"{head}（{indicator}）"
        dl = _deadline_for(m, q)
        found.append({
            "indicator": indicator, "comparator": comp, "value": q.value, "value_max": q.value_max,
            "value_text": original[q.start : q.end], "unit": q.unit, "placeholder": q.placeholder,
            "deadline": original[dl[0] : dl[1]] if dl else None, "start": q.start, "end": q.end,
        })
        prev_indicator = indicator.split("（")[0] or prev_indicator
        prev_comp = comp
        seg_start = consumed
    return found


def document_sentences(text: str, doc: Document) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for block in doc.blocks:
        spans.extend(sentence_spans(text, block.start, block.end))
    return spans


def extract_targets(text: str, doc: Document) -> list[Target]:
    """Every quantitative target stated in ``doc`` (``text`` is its source file's text)."""
    meta = doc.metadata
    out: list[Target] = []
    carried: str | None = None
    for a, b in document_sentences(text, doc):
        sentence = text[a:b]
        if not _MAY_HAVE_NUMBER.search(sentence):
            carried = None
            continue
        found = targets_in_sentence(sentence, carried)
        for f in found:
            out.append(Target(
                doc_id=doc.doc_id, source=doc.source, title=doc.title, region=meta.region, year=meta.year,
                indicator=f["indicator"], comparator=f["comparator"], value=f["value"],
                value_text=f["value_text"], unit=f["unit"], deadline=f["deadline"],
                placeholder=f["placeholder"], sentence_start=a, sentence_end=b,
                value_start=a + f["start"], value_end=a + f["end"], value_max=f["value_max"],
            ))
        carried = found[-1]["comparator"] if found and sentence.rstrip().endswith(("；", ";")) else None
    return out


_MAY_HAVE_NUMBER = re.compile(r"[0-9０-９xX×％%零〇一二两兩三四五六七八九十百千]")


def extract_all(documents: Iterable[Document], texts: dict[str, str]) -> list[Target]:
    """Targets of every document (``texts``: source → full text), for storing at index time."""
    out: list[Target] = []
    for doc in documents:
        text = texts.get(doc.source)
        if text is not None:
            out.extend(extract_targets(text, doc))
    return out
