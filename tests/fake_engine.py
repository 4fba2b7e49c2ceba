"""A small stand-in for ``policyqa.api.Engine`` over a few synthetic documents.

Same methods as the real engine (search, ask, source_text, documents, facets, embed_*, and
the library methods library/add_file/remove_source/reindex over an in-memory "corpus folder"),
using the deterministic ``HashEmbedder`` and a character-bigram lexical score, so the answer
engine and the web app can be tested without an index or a model. One document is hostile
(script/img markup, a ``javascript:`` Markdown link, template syntax) to test escaping.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from policyqa.answer import EmbeddingScorer, build_answer
from policyqa.api import BuildSummary
from policyqa.config import Settings
from policyqa.embed import HashEmbedder
from policyqa.errors import PolicyQAError
from policyqa.text import bigrams, compact
from policyqa.types import (
    ProgressEvent,
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


def _parse_upload(source: str, data: bytes) -> list:
    """An uploaded UTF-8 text file as one document spec: the first line is its title,
    "一、…" lines are headings, other lines body text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyQAError(f"{source}: not UTF-8 text (the fake engine reads UTF-8 only)") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise PolicyQAError(f"{source}: no text")
    title = lines[0]
    year = re.search(r"(20\d\d)年", title)
    kind = next((t for t in ("计划", "总结", "方案") if t in title), None)
    spec = [("title", title)] + [
        ("heading" if re.match(r"[一二三四五六七八九十]+、", ln) else "text", ln) for ln in lines[1:]]
    return [(f"up-{source}", title, DocMeta(year=int(year.group(1)) if year else None, doc_type=kind), spec)]


@dataclass
class FakeEngine:
    settings: Settings = field(default_factory=lambda: Settings(model="hash:256"))
    fail_with: str | None = None  # make search/ask raise PolicyQAError (error-path tests)
    abstain_below: float = 0.25

    def __post_init__(self) -> None:
        self._embedder = HashEmbedder(256)
        # the "corpus folder": source -> built-in document specs, or uploaded bytes
        self._folder: dict[str, list | bytes] = dict(CORPUS)
        self._indexed: dict[str, str] = {}  # source -> content hash at the last reindex
        self._indexed_at: dict[str, float] = {}
        self._skipped: list[dict[str, str]] = []
        self.reindex_calls = 0
        self._index_folder()
        self._indexed = {s: self._hash(spec) for s, spec in self._folder.items()}
        self._indexed_at = {s: 1_700_000_000.0 for s in self._folder}  # 2023-11-14

    @staticmethod
    def _hash(spec) -> str:
        return hashlib.sha256(spec if isinstance(spec, bytes) else repr(spec).encode()).hexdigest()

    def _index_folder(self) -> None:
        self._texts: dict[str, str] = {}
        self._docs: list[Document] = []
        self._chunks: list[Chunk] = []
        self._skipped = []
        for source, spec in self._folder.items():
            if isinstance(spec, bytes):
                try:
                    spec = _parse_upload(source, spec)
                except PolicyQAError as e:
                    self._skipped.append({"source": source, "reason": str(e)})
                    continue
            self._build_file(source, spec)
        self._vecs = self._embedder.embed_passages([c.text for c in self._chunks])

    @classmethod
    def open(cls, settings: Settings | None = None, build_if_needed: bool = False,
             progress: Callable[[ProgressEvent], None] | None = None) -> "FakeEngine":
        if progress:
            progress(ProgressEvent("done", 1, 1, "steps", "fake index ready"))
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

    # ------------------------------------------------------------------ library
    def library(self) -> list[dict]:
        counts: dict[str, int] = {}
        for c in self._chunks:
            counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
        return [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, **d.metadata.as_dict(),
             "chunks": counts.get(d.doc_id, 0), "indexed_at": self._indexed_at.get(d.source)}
            for d in self._docs
        ]

    def add_file(self, filename: str, data: bytes) -> str:
        from policyqa.library import safe_name

        name = safe_name(filename)
        if len(data) > self.settings.max_file_bytes:
            raise PolicyQAError(f"{name}: {len(data):,} bytes is over the "
                                f"{self.settings.max_file_bytes:,}-byte limit (setting max_file_bytes)")
        if not data:
            raise PolicyQAError(f"{name}: the file is empty")
        self._folder[name] = bytes(data)
        return name

    def remove_source(self, source: str) -> None:
        if source not in self._folder:
            raise PolicyQAError(f"{source!r} is not in the corpus folder")
        del self._folder[source]

    def reindex(self, progress: Callable[[ProgressEvent], None] | None = None) -> BuildSummary:
        t0 = time.perf_counter()
        self.reindex_calls += 1
        progress = progress or (lambda _e: None)
        progress(ProgressEvent("scan", 0, 0, detail="reading corpus"))
        new = {s: self._hash(spec) for s, spec in self._folder.items()}
        old = self._indexed
        added = sorted(s for s in new if s not in old)
        updated = sorted(s for s in new if s in old and old[s] != new[s])
        removed = sorted(s for s in old if s not in new)
        self._index_folder()
        progress(ProgressEvent("write", 1, 1, "steps", "building lexical index"))
        now = time.time()
        for s in added + updated:
            self._indexed_at[s] = now
        for s in removed:
            self._indexed_at.pop(s, None)
        self._indexed = new
        files = len({d.source for d in self._docs})
        return BuildSummary(
            documents=len(self._docs), chunks=len(self._chunks), files=files, skipped=list(self._skipped),
            added=added, updated=updated, removed=removed, unchanged=len(new) - len(added) - len(updated),
            embedded=len(self._chunks), reused=0, seconds=round(time.perf_counter() - t0, 3),
            embed_seconds=0.0, index_dir="(memory)", up_to_date=not (added or updated or removed),
        )

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
        q = self.embed_queries([query])[0]
        qgrams = set(bigrams(compact(query)))
        scored = []
        for chunk, vec in zip(self._chunks, self._vecs):
            if not self._keep(chunk, filters):
                continue
            lex = len(qgrams & set(bigrams(compact(chunk.text + " ".join(chunk.heading_path))))) / max(1, len(qgrams))
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
