"""Text analysis shared by every stage: folding, CJK tests, character bigrams, sentence
spans, question words and Chinese numerals.

Two folded forms, never shown and never cited:

* ``matching_copy(text)`` has exactly the length of ``text`` (traditional → simplified when
  that keeps the length, full-width ASCII → half-width), so offsets of a regex match on it
  are offsets into ``text``;
* ``normalise(text)`` (traditional → simplified, NFKC, lower case) is the key that texts
  are compared, looked up and embedded by; its offsets mean nothing.

There is one OpenCC converter (``t2s``), built on first use, never at import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .types import Span

# ---------------------------------------------------------------- folding


@lru_cache(maxsize=1)
def _t2s_converter():
    import opencc  # imported on first use: building the converter reads its dictionaries

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """Traditional → simplified (OpenCC t2s). Almost always length-preserving, but callers
    that use offsets from the result must check ``len(fold(t)) == len(t)``."""
    if not text:
        return text
    return _t2s_converter().convert(text)


_WIDTH_MAP = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def matching_copy(text: str) -> str:
    """A same-length copy of ``text`` for pattern matching: t2s-folded (when folding keeps
    the length; else the original) and full-width ASCII turned half-width ("：" → ":",
    "（" → "(", "１" → "1", ideographic space → " ")."""
    folded = fold(text)
    if len(folded) != len(text):
        folded = text
    return folded.translate(_WIDTH_MAP)


def normalise(text: str) -> str:
    """Fold script, width and case for matching (never used for offsets)."""
    return unicodedata.normalize("NFKC", fold(text)).lower()


def compact(text: str) -> str:
    """``normalise(text)`` with letters and digits only: what key terms are looked up in,
    so that a term matches across the punctuation and spaces of the source."""
    return "".join(ch for ch in normalise(text) if ch.isalnum())


# ---------------------------------------------------------------- CJK

_CJK_CLASS = "\u3400-\u9fff\uf900-\ufaff"  # extension A, unified and compatibility ideographs
CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")


def is_cjk(text: str) -> bool:
    """Whether ``text`` is CJK ideographs only (and not empty)."""
    return CJK_RUN.fullmatch(text) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` has any CJK ideograph."""
    return _CJK_CHAR.search(text) is not None


def is_cjk_query(query: str) -> bool:
    """A query written in Chinese: some ideographs, and at least half as many as letters
    (a Chinese query with a Latin acronym still counts)."""
    cjk = len(_CJK_CHAR.findall(query))
    letters = sum(1 for ch in query if ch.isalpha())
    return cjk > 0 and cjk >= letters / 2


def bigrams(text: str, cjk_only: bool = False) -> list[str]:
    """Character bigrams of ``normalise(text)`` in order, repeats kept: of all but its white
    space (a bigram spans a space or a line break; pass ``compact(text)`` for letters and
    digits only), or with ``cjk_only`` of each run of CJK ideographs (never across a
    character of another kind)."""
    folded = normalise(text)
    if cjk_only:
        return [run[i : i + 2] for run in CJK_RUN.findall(folded) for i in range(len(run) - 1)]
    chars = "".join(folded.split())
    return [chars[i : i + 2] for i in range(len(chars) - 1)]


# ---------------------------------------------------------------- sentences

# A sentence ends after 。！？；!?;… and the closing quotes or brackets that follow them.
_SENTENCE_END = r"[。！？!?；;…]+[”’」』）)》\"']*"
_SENTENCE_ENDS = {False: re.compile(_SENTENCE_END), True: re.compile(_SENTENCE_END + r"|\n+")}


def sentence_spans(text: str, start: int = 0, end: int | None = None, lines: bool = False) -> list[Span]:
    """``[s, e)`` spans of the sentences of ``text[start:end]``, surrounding whitespace
    trimmed, empty ones dropped; offsets index ``text``. With ``lines`` a line break ends a
    sentence too, so each sentence is one of the sentences without ``lines`` or a line of
    one (a heading line and the sentence under it come apart)."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    pos = start
    for m in _SENTENCE_ENDS[lines].finditer(text, start, end):
        spans.append((pos, m.start() if m.group()[0] == "\n" else m.end()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [s for s in (trim(text, a, b) for a, b in spans) if s[1] > s[0]]


def trim(text: str, start: int, end: int) -> Span:
    """``[start, end)`` without the whitespace at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# ---------------------------------------------------------------- question words

# Words that ask rather than say what is asked about. The lexical index does not count
# them as words; ``strip_question_words`` blanks them out with the words that frame them.
QUESTION_WORDS = (
    "什么", "有什么", "哪些", "哪个", "怎么", "怎样", "如何", "多少", "有何", "是否", "有没有", "为什么", "请问",
)

# Around a question word, the words that only frame the question ("要达到多少", "有哪些措施",
# "怎么写", "提法比较"): they say what kind of answer is wanted, not what it is about.
_QUESTION_FRAMES = re.compile(
    r"(?:要|需要|应|将)?(?:达到|提高到|控制在|是)?多少|"
    r"(?:有)?(?:什么|哪些|哪几[项个条类])(?:要求|措施|举措|做法|办法|安排|内容|规定|方面)?|"
    r"(?:怎么|怎样|如何)(?:写|做|安排|规定)?|"
    r"(?:的)?(?:提法|写法|表述)?(?:比较|对比)|(?:的)?(?:提法|写法|表述)|"
    + "|".join(sorted(QUESTION_WORDS, key=len, reverse=True))
    + r"|关于|方面|主要|[的了吗呢吧啊？?，,。、\s]"
)


# What asks to compare across documents rather than what to compare: "历次党代会报告中",
# "各地计划中", "在不同年份报告中的表述", "有何变化", "（跨届比较）", "各文件对比".
_ACROSS = r"(?:历次|历届|各届|各次|各地|各级|各县|各区|各市|各省|各校|各文件|各计划|各报告|不同年份|不同时期|不同文件|跨届|跨年度)"
_DOC_WORD = r"(?:大会报告|报告|计划|规划|文件|方案|总结|大会)(?:中|里|里面|上)?"
_COMPARE_FRAMES = re.compile(
    rf"(?:在)?{_ACROSS}[^\s，,。？?、()（）“”]{{0,6}}?{_DOC_WORD}|在{_DOC_WORD}|{_ACROSS}|"
    r"(?:有何|有什么|的)?(?:变化|回顾|异同)|(?:是)?(?:怎么|如何|怎样)(?:提|说|写|表述)(?:的)?|"
    r"(?:的)?(?:提法|写法|表述)?(?:比较|对比)|(?:的)?(?:提法|写法|表述)|[？?]"
)
_EMPTY_BRACKETS = re.compile(r"[(（]\s*[)）]")


def compare_topic(topic: str) -> str:
    """What a comparison is about: the topic, normalised, without the words that ask to
    compare across documents (历次…报告中, 各地, 有何变化, 怎么提的, 提法比较); the topic
    itself when fewer than two characters would be left."""
    core = _EMPTY_BRACKETS.sub(" ", _COMPARE_FRAMES.sub(" ", normalise(topic)))
    core = " ".join(core.split()).strip(",，、;；:： ")
    return core if len(core.replace(" ", "")) >= 2 else normalise(topic)


def strip_question_words(question: str) -> str:
    """The question, normalised, with question words, particles and the words that frame
    the question blanked out (什么, 哪些, 吗, 要达到多少, 有什么要求, …)."""
    return _QUESTION_FRAMES.sub(" ", normalise(question))


# ---------------------------------------------------------------- Chinese numerals

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_LARGE_UNITS = {"万": 10_000, "亿": 100_000_000}
_FRACTION_DIGITS = "零〇一二三四五六七八九"
# A Chinese numeral as it stands in text, with an optional decimal part (九十五点五).
CN_NUMERAL = rf"[零〇一二两三四五六七八九十百千万亿]+(?:点[{_FRACTION_DIGITS}]+[万亿]?)?"


def cn_number(s: str) -> float | None:
    """Value of a Chinese numeral: "一百二十" → 120, "两" → 2, "十五" → 15, "一百零五" →
    105, "三万五千" → 35000, "三万五" → 35000, "一亿两千万" → 120000000, "九十五点五" →
    95.5, "一点五万" → 15000; None if ``s`` is not one ("一二", "学")."""
    whole, dot, fraction = s.partition("点")
    value = _cn_integer(whole)
    if not dot:
        return None if value is None else float(value)
    scale = 1
    while fraction and fraction[-1] in _LARGE_UNITS:  # 一点五万 = 1.5 × 10⁴
        scale *= _LARGE_UNITS[fraction[-1]]
        fraction = fraction[:-1]
    if value is None or not fraction or any(ch not in _FRACTION_DIGITS for ch in fraction):
        return None
    return float(f"{value}." + "".join(str(_DIGITS[ch]) for ch in fraction)) * scale


def _cn_integer(s: str) -> int | None:
    """Value of an integer Chinese numeral, None if ``s`` is not one. A last digit right
    after a unit of a hundred or more stands for the next unit down (三万五 = 35000)."""
    if not s:
        return None
    total = below_yi = section = 0  # parts of 亿, of 万 below 亿, and below 万
    digit: int | None = None
    last_unit = 1
    for ch in s:
        if ch in _DIGITS:
            if digit not in (None, 0) and _DIGITS[ch] != 0:
                return None  # "一二" is a list of digits, not a number
            digit = _DIGITS[ch]
            continue
        if ch in _SMALL_UNITS:
            section += (1 if digit is None else digit) * _SMALL_UNITS[ch]
        elif ch == "万":
            below_yi += (section + (digit or 0) or 1) * _LARGE_UNITS[ch]
            section = 0
        elif ch == "亿":
            total += (below_yi + section + (digit or 0) or 1) * _LARGE_UNITS[ch]
            below_yi = section = 0
        else:
            return None
        digit, last_unit = None, (_SMALL_UNITS.get(ch) or _LARGE_UNITS[ch])
    if digit and len(s) >= 2 and s[-2] not in _DIGITS and last_unit >= 100:
        digit *= last_unit // 10
    return total + below_yi + section + (digit or 0)


def parse_number(s: str) -> float | None:
    """An Arabic ("95", "95.5") or Chinese ("九十五点五") number's value; None otherwise."""
    s = s.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    return cn_number(s)


_ARABIC_NUMBER = re.compile(r"[0-9０-９]+(?:[.．][0-9０-９]+)?")
_DIGIT_WIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")


def arabic_numbers(text: str) -> list[str]:
    """The Arabic-digit numbers written in ``text`` (full or half width, decimals), half-width,
    in order: what the answer checks compare between a sentence and its source."""
    return [m.group().translate(_DIGIT_WIDTH) for m in _ARABIC_NUMBER.finditer(text)]



_CN_ZEROS = str.maketrans({"○": "〇", "0": "〇", "０": "〇"})
# A year or code written digit by digit (一九八〇, 二0一一: the 0 is often typed as a Latin zero or ○).
_CN_DIGIT_LIST = re.compile(r"[零〇○一二三四五六七八九][零〇○0０一二三四五六七八九]{1,7}(?![十百千万亿])")
_CN_NUMBER = re.compile(CN_NUMERAL)
# One numeral character counts as a number only before a measure word (五项改革, 三所学校)
# or after 百分之: elsewhere 一、十 and the like are parts of words (进一步, 十分, 三统一).
_CLASSIFIERS = "个项所名人条次类批家级年月日天届期大种支座位篇件份倍台辆亩番课周岁"
_SINGLE_CN = re.compile(rf"(?<![零〇一二两三四五六七八九十百千万亿])[二两三四五六七八九](?=[{_CLASSIFIERS}])"
                        r"|(?<=翻)一(?=番)"  # 翻一番 (doubling) against 翻两番
                        r"|(?<=[百千]分之)[一二两三四五六七八九十](?![零〇一二两三四五六七八九十百千万亿点])")
_APPROXIMATE = "多余几"
# What may follow a number as its unit; any other character after it is not part of it.
_UNITS = frozenset(_CLASSIFIERS + "万亿元米吨斤克平公%‰")


@dataclass(frozen=True)
class NumberMention:
    """A number written in text: its value and the unit right after it ("%" for 百分之…,
    else the next CJK character; "" for none)."""

    value: float
    unit: str


def number_mentions(text: str) -> list[NumberMention]:
    """Every number in ``text``, Arabic or Chinese (68%、百分之六十八 → 68 %; 一九八〇年 →
    1980 年; 五项 → 5 项), in no particular order: what a generated sentence and its sources
    are compared by, so that writing a figure in the other script is no change and changing
    it, or what it counts, is. A lone numeral character counts only where ``_SINGLE_CN`` says."""
    text = normalise(text)  # 萬 → 万, 個 → 个, full-width digits
    return [NumberMention(v, _unit(text, a, b)) for a, b, v in _numbers(text)]


# Stands for any number in ``without_numbers``: a CJK-range character no text uses (a
# hexagram), so "十八所" and "18所" both give the bigram "䷀所".
NUMBER_PLACEHOLDER = "\u4dc0"


def without_numbers(text: str) -> str:
    """``text`` folded (``normalise``), each number ``number_mentions`` finds replaced by
    ``NUMBER_PLACEHOLDER``: the wording left once the figures are checked on their own."""
    text = normalise(text)
    for a, b, _v in sorted(_numbers(text), reverse=True):
        text = text[:a] + NUMBER_PLACEHOLDER + text[b:]
    return text


def _numbers(text: str) -> list[tuple[int, int, float]]:
    """(start, end, value) of the numbers of a folded text."""
    found: list[tuple[int, int, float]] = []
    rest = text
    for m in _CN_DIGIT_LIST.finditer(text):
        digits = m.group().translate(_CN_ZEROS)
        found.append((m.start(), m.end(), float("".join(str(_DIGITS[ch]) for ch in digits))))
        rest = rest[:m.start()] + " " * len(m.group()) + rest[m.end():]
    for m in _ARABIC_NUMBER.finditer(rest):
        found.append((m.start(), m.end(), float(m.group().translate(_DIGIT_WIDTH))))
    for m in _CN_NUMBER.finditer(rest):
        if len(m.group()) >= 2 and (v := cn_number(m.group())) is not None:
            found.append((m.start(), m.end(), v))
    for m in _SINGLE_CN.finditer(rest):
        found.append((m.start(), m.end(), float(_DIGITS.get(m.group(), 10))))
    return found


def _unit(text: str, start: int, end: int) -> str:
    if text[max(0, start - 3):start] in ("百分之", "千分之"):
        return "%" if text[start - 3] == "百" else "‰"
    after = text[end:end + 3].lstrip(" ")
    after = after.lstrip(_APPROXIMATE)  # 三千多万 counts 万
    return after[:1] if after[:1] in _UNITS else ""


def unsupported_numbers(sentence: str, source: str) -> list[NumberMention]:
    """The sentence's numbers that the source does not state with the same value and unit (a
    mention without a unit on either side matches on the value alone)."""
    stated = [(round(n.value, 6), n.unit) for n in number_mentions(source)]
    return [n for n in number_mentions(sentence)
            if not any(v == round(n.value, 6) and (u == n.unit or not u or not n.unit) for v, u in stated)]
