"""Re-checks an answer against the source text: exact spans, markers matching citations, each number in its cited sentence."""

from __future__ import annotations

import re
from typing import Callable

from .answer import PLACEHOLDER_NOTE
from .text import arabic_numbers
from .types import Answer

_MARKER = re.compile(r"\[(\d+)\]")


def answer_segments(answer: Answer) -> dict[int, str]:
    """The answer text before each ``[n]`` marker (without any 《title》： prefix)."""
    segments: dict[int, str] = {}
    pos = 0
    for m in _MARKER.finditer(answer.answer):
        seg = answer.answer[pos : m.start()].replace(PLACEHOLDER_NOTE, "").lstrip("\n")
        seg = re.sub(r"^(?:《[^》]*》)?(?:篇[一二三四五六七八九十百零〇]+|第[一二三四五六七八九十百零〇]+篇)?：", "", seg)
        segments[int(m.group(1))] = seg
        pos = m.end()
    return segments


def check_citations(answer: Answer, source_text: Callable[[str], str]) -> list[str]:
    """Problems with an answer's citations; empty when it is sound."""
    problems: list[str] = []
    if answer.abstained:
        if answer.citations:
            problems.append("an abstained answer has citations")
        return problems
    segments = answer_segments(answer)
    numbers = [c.n for c in answer.citations]
    if sorted(segments) != sorted(numbers):
        problems.append(f"markers {sorted(segments)} do not match citations {sorted(numbers)}")
    for c in answer.citations:
        try:
            real = source_text(c.source)[c.start : c.end]
        except Exception as e:  # noqa: BLE001 - report, don't raise
            problems.append(f"[{c.n}] cannot read {c.source}: {e}")
            continue
        if real != c.text:
            problems.append(f"[{c.n}] text differs from {c.source}[{c.start}:{c.end}]")
        cited = set(arabic_numbers(c.text))
        for num in arabic_numbers(segments.get(c.n, "")):
            if num not in cited:
                problems.append(f"[{c.n}] number {num} is not in the cited sentence")
    return problems
