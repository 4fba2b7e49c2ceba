"""A small stand-in for ``policyqa.api.Engine`` over a few synthetic documents.

Same methods as the real engine (search, ask, source_text, documents, facets, embed_*),
using the deterministic ``HashEmbedder`` and a character-bigram lexical score, so the answer
engine and the web app can be tested without an index or a model. One document is hostile
(script/img markup, a ``javascript:`` Markdown link, template syntax) to test escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from policyqa.answer import EmbeddingScorer, build_answer
from policyqa.config import Settings
from policyqa.embed import HashEmbedder
from policyqa.errors import PolicyQAError
from policyqa.types import (
    Answer,
    Block,
    Chunk,
    DocMeta,
    Document,
    Filters,
    Hit,
    SearchResult,
)

EVIL_TITLE = "<script>alert(1)</script>危险文档测试计划"
EVIL_LINES = [
    ("title", EVIL_TITLE),
    ("heading", "一、<img src=x onerror=alert(1)>安全管理"),
    ("text", "点击[点我](javascript:alert(1))查看校园安全制度。模板${alert(2)}与{{constructor}}不应执行。"),
    ("text", "加强校园安全管理，落实安全责任制，<b>每月</b>开展一次安全检查。"),
]

FILLER = "本段为排版占位文字，用于检验长文档能否滚动到引用位置，没有其他含义。"

# source -> list of documents, each (doc_id, title, metadata, lines); lines are (kind, text)
CORPUS: dict[str, list[tuple[str, str, DocMeta, list[tuple[str, str]]]]] = {
    "plan_2023.txt": [
        (
            "plan-1",
            "2023年教育局工作计划（精选2篇）篇一",
            DocMeta(year=2023, region="东城区", doc_type="计划"),
            [
                ("title", "2023年教育局工作计划（精选2篇）篇一"),
                ("heading", "一、总体目标"),
                ("text", "学前三年毛入园率达到90%以上。完成44所标准化学校建设。义务教育巩固率保持在98%以上。"),
                *[("text", FILLER)] * 30,  # a long document, so the view has to scroll
                ("heading", "二、教师队伍建设"),
                ("text", "全面推进教师交流轮岗，每年交流轮岗教师比例不低于10%。骨干教师交流人数不低于交流总数的20%。"),
                ("text", "加强师德师风建设，开展师德专题教育活动。"),
            ],
        ),
        (
            "plan-2",
            "2023年教育局工作计划（精选2篇）篇二",
            DocMeta(year=2023, region="西城区", doc_type="计划"),
            [
                ("title", "2023年教育局工作计划（精选2篇）篇二"),
                ("heading", "一、学前教育"),
                ("text", "新建、改扩建公办幼儿园12所，新增学位3600个。"),
                ("heading", "二、教师培训"),
                ("text", "组织教师全员培训，每名教师每年培训不少于72学时。教师培训经费按不低于学校公用经费的5%安排。"),
            ],
        ),
    ],
    "summary_tw.txt": [
        (
            "tw-1",
            "某縣教育局2024年工作總結",
            DocMeta(year=2024, region="某縣", doc_type="总结"),
            [
                ("title", "某縣教育局2024年工作總結"),
                ("heading", "一、教師隊伍"),
                ("text", "推進教師交流輪崗，全年交流教師120名。"),
                ("heading", "二、校園安全"),
                ("text", "開展校園安全隱患排查，整改隱患35處。"),
            ],
        ),
    ],
    "evil.txt": [("evil-1", EVIL_TITLE, DocMeta(year=2022, region="南区", doc_type="方案"), EVIL_LINES)],
}


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text.lower() if c.isalnum()]
    return {chars[i] + chars[i + 1] for i in range(len(chars) - 1)}


@dataclass
class FakeEngine:
    settings: Settings = field(default_factory=lambda: Settings(model="hash:256"))
    fail_with: str | None = None  # make search/ask raise PolicyQAError (error-path tests)
    abstain_below: float = 0.25

    def __post_init__(self) -> None:
        self._embedder = HashEmbedder(256)
        self._texts: dict[str, str] = {}
        self._docs: list[Document] = []
        self._chunks: list[Chunk] = []
        for source, docs in CORPUS.items():
            self._build_file(source, docs)
        self._vecs = self._embedder.embed_passages([c.text for c in self._chunks])

    @classmethod
    def open(cls, settings: Settings | None = None, build_if_needed: bool = False,
             progress: Callable[[str, float], None] | None = None) -> "FakeEngine":
        if progress:
            progress("fake index ready", 1.0)
        return cls(settings or Settings(model="hash:256"))

    def _build_file(self, source: str, docs) -> None:
        text = ""
        for doc_id, title, meta, lines in docs:
            doc_start = len(text)
            blocks: list[Block] = []
            path: tuple[str, ...] = ()
            pian = re.search(r"篇[一二三四五六七八九十]+$", title)
            for kind, line in lines:
                start = len(text)
                text += line + "\n"
                end = start + len(line)
                if kind == "title":
                    path = (pian.group(),) if pian else ()
                    blocks.append(Block(start, end, "heading", path or (line,)))
                elif kind == "heading":
                    path = (path[:1] if pian else ()) + (line,)
                    blocks.append(Block(start, end, "heading", path))
                else:
                    blocks.append(Block(start, end, "text", path))
                    self._chunks.append(
                        Chunk(len(self._chunks), doc_id, source, start, end, line, title, path, meta)
                    )
            text += "\n"
            self._docs.append(Document(doc_id, source, title, doc_start, len(text) - 2, meta, tuple(blocks)))
        self._texts[source] = text

    # ------------------------------------------------------------------ engine API
    def source_text(self, source: str) -> str:
        try:
            return self._texts[source]
        except KeyError:
            raise PolicyQAError(f"{source}: not in the corpus") from None

    def documents(self) -> list[Document]:
        return list(self._docs)

    def facets(self) -> dict[str, list]:
        metas = [d.metadata for d in self._docs]
        return {
            "doc_type": sorted({m.doc_type for m in metas if m.doc_type}),
            "year": sorted({m.year for m in metas if m.year}),
            "region": sorted({m.region for m in metas if m.region}),
            "doc": [(d.title, d.doc_id) for d in self._docs],
        }

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed_queries(list(texts))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed_passages(list(texts))

    def _keep(self, chunk: Chunk, f: Filters | None) -> bool:
        if f is None:
            return True
        m = chunk.metadata
        return (
            (not f.doc_type or m.doc_type == f.doc_type)
            and (not f.year or m.year == f.year)
            and (not f.region or m.region == f.region)
            and (not f.doc_id or chunk.doc_id == f.doc_id)
            and (not f.source or chunk.source == f.source)
        )

    def search(self, query: str, k: int = 10, filters: Filters | None = None) -> SearchResult:
        if self.fail_with:
            raise PolicyQAError(self.fail_with)
        query = query.strip()
        if not query:
            return SearchResult(query, True, 0.0, ())
        from policyqa.answer import _fold

        q = self.embed_queries([query])[0]
        qgrams = _bigrams(_fold(query))
        scored = []
        for chunk, vec in zip(self._chunks, self._vecs):
            if not self._keep(chunk, filters):
                continue
            lex = len(qgrams & _bigrams(_fold(chunk.text + " ".join(chunk.heading_path)))) / max(1, len(qgrams))
            dense = float(vec @ q)
            scored.append(Hit(chunk, 0.5 * dense + 0.5 * lex, dense_score=dense, lexical_score=lex))
        scored.sort(key=lambda h: -h.score)
        hits = tuple(scored[:k])
        top = hits[0].score if hits else 0.0
        abstained = not hits or max(h.lexical_score or 0 for h in hits) < self.abstain_below
        return SearchResult(query, abstained, top, () if abstained else hits)

    def ask(self, question: str, filters: Filters | None = None) -> Answer:
        result = self.search(question, k=5, filters=filters)
        scorer = EmbeddingScorer(self.embed_queries, self.embed_passages)
        return build_answer(question, result.hits, self.source_text, scorer, result.abstained)
