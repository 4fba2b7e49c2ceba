"""Extractive cited answers: the documents' own sentences, each ending in its ``[n]`` marker.

No language model: ``answer_select`` picks the sentences, ``build_answer`` quotes each group
of them verbatim with one ``Citation``, and ``answer_check.check_citations`` re-checks the
result against the source text.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from .answer_select import AnswerParams, Sentence, candidates, merge, pick, score_all
from .answer_terms import BigramTerms, KeyTerms, SentenceScorer, TermWeights
from .types import Answer, Citation, Hit

NOT_FOUND = "文档中没有找到与该问题相关的内容。"

# a value or name left to fill in: "××× 县", "达到xx%", "新建x所"
_PLACEHOLDER = re.compile(r"[×＊*]{2,}|(?<![A-Za-z])[xX]{1,4}(?![A-Za-z])\s*(?=[%％‰所个名人次元万亿项年月日家座班倍])")
PLACEHOLDER_NOTE = "（原文此处为待填写的占位符，不是实际数值）"
_PIAN = re.compile(r"^(篇[一二三四五六七八九十百零〇0-9]+|第[一二三四五六七八九十百零〇0-9]+篇)")
_TITLE_DIGITS = re.compile(r"[0-9０-９]+\s*(?:年度|学年|年)?\s*[-—~～至到]?")


def short_title(title: str, heading_path: Sequence[str] = ()) -> str:
    """A document's name for an answer prefix: no Arabic digits (so every number in the
    answer stays inside a cited sentence), at most 20 characters, plus 篇X when the
    document is one part of a compilation and its title does not say so."""
    name = _TITLE_DIGITS.sub("", title).strip(" -—:：")
    name = re.sub(r"[(（]精选\s*篇[)）]|[(（]\s*[)）]", "", name).strip()
    name = _PIAN.sub("", name) if _PIAN.match(name) else name
    name = re.sub(r"\s*(?:篇[一二三四五六七八九十百零〇]+|第[一二三四五六七八九十百零〇]+篇)$", "", name).strip()
    if len(name) > 20:
        name = name[:19] + "…"
    pian = ""
    for part in list(heading_path[:1]) + [title]:
        m = re.search(r"篇[一二三四五六七八九十百零〇]+|第[一二三四五六七八九十百零〇]+篇", part)
        if m:
            pian = m.group()
            break
    label = f"《{name}》" if name else ""
    return label + pian if (label or pian) else "文档"


def _doc_key(s: Sentence) -> str:
    return s.hit.chunk.doc_id or f"{s.source}#{s.hit.chunk.title}"


def _display(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text)


# ---------------------------------------------------------------------------- public


def build_answer(
    question: str,
    hits: Sequence[Hit],
    source_text: Callable[[str], str],
    scorer: SentenceScorer,
    abstained: bool,
    term_weights: TermWeights | None = None,
    params: AnswerParams = AnswerParams(),
) -> Answer:
    """The best few sentences of the top hits, verbatim, each group ending in ``[n]``.
    ``term_weights`` gives the question's key terms (default: its bigrams, all equal)."""
    if abstained or not hits:
        return Answer(question, True, NOT_FOUND, ())
    terms = KeyTerms.of_question(question, term_weights or BigramTerms())
    cands = candidates(hits, source_text, terms)
    if not cands:
        return Answer(question, True, NOT_FOUND, ())
    cands, scores = score_all(question, cands, scorer, terms, hits, params)
    groups = merge(pick(cands, scores, params.max_sentences, terms), source_text)
    several_docs = len({_doc_key(g.first) for g in groups}) > 1
    parts: list[str] = []
    citations: list[Citation] = []
    for n, group in enumerate(groups, start=1):
        chunk = group.first.hit.chunk
        span = source_text(chunk.source)[group.start : group.end]
        prefix = short_title(chunk.title, chunk.heading_path) + "：" if several_docs else ""
        placeholder = bool(_PLACEHOLDER.search(span))
        parts.append(f"{prefix}{_display(span)}[{n}]" + (PLACEHOLDER_NOTE if placeholder else ""))
        citations.append(
            Citation(
                n=n,
                source=chunk.source,
                start=group.start,
                end=group.end,
                text=span,
                title=chunk.title,
                heading_path=tuple(chunk.heading_path),
                doc_id=chunk.doc_id,
                placeholder=placeholder,
                year=chunk.metadata.year,
                region=chunk.metadata.region,
            )
        )
    return Answer(question, False, ("\n" if several_docs else "").join(parts), tuple(citations))
