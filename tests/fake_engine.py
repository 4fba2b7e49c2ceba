"""The real ``Engine`` over a few hand-made documents indexed in memory, for the web tests.

Search, ask, compare, precedents, documents, facets and the library rows are the engine's
own (the stage functions over ``IndexData``), with the deterministic ``HashEmbedder``; only
what touches folders is stood in for: the "corpus folder" is a dict (``add_file``,
``remove_source``) and ``reindex`` rebuilds the in-memory index from it. The documents'
structure (ids, heading paths, metadata) is fixed here rather than parsed, and one document
is hostile (script/img markup, a ``javascript:`` Markdown link, template syntax) to test
escaping. ``tests/test_engine_contract.py`` checks it behaves as an engine over a real
index does.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Sequence

import numpy as np

from policyqa.build import BuildSummary, Progress, chunk_sentences, sentence_texts
from policyqa.config import Settings
from policyqa.embed import HashEmbedder
from policyqa.engine import Engine
from policyqa.errors import PolicyQAError
from policyqa.index import (FORMAT_VERSION, IndexData, Manifest, SentenceTable, build_vector_index,
                            describe_vector_index, embed_key)
from policyqa.lexical import LexicalIndex
from policyqa.library import safe_name, unused_name
from policyqa.search import lexical_text, passage_text, query_text
from policyqa.targets import extract_all, indicator_text
from policyqa.types import Answer, Block, Chunk, DocMeta, Document, Filters, ProgressEvent, SearchResult

# The hash embedder has no calibrated abstain threshold. Over these documents the off-topic
# Chinese questions of the tests (火星探测器…) reach a best sentence similarity of ≈0.2 and the
# on-topic ones 0.23 and above; other queries never abstain, as for an uncalibrated model.
ABSTAIN = 0.215
SETTINGS = Settings(model="hash:256", abstain_cjk=ABSTAIN)

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


DocSpec = tuple[str, str, DocMeta, list[tuple[str, str]]]  # (doc_id, title, metadata, (kind, line) lines)


def build_file(source: str, specs: Sequence[DocSpec], first_chunk: int) -> tuple[str, list[Document], list[Chunk]]:
    """(text, documents, chunks) of one file of hand-made documents: one chunk per body line;
    "篇一"-style titles put the piece first in the heading path, as the structure stage does."""
    text, docs, chunks = "", [], []
    for doc_id, title, meta, lines in specs:
        doc_start, blocks, path = len(text), [], ()
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
                chunks.append(Chunk(first_chunk + len(chunks), doc_id, source, start, end, line, title, path, meta))
        text += "\n"
        docs.append(Document(doc_id, source, title, doc_start, len(text) - 2, meta, tuple(blocks)))
    return text, docs, chunks


def memory_index(files: dict[str, Sequence[DocSpec]], embedder: HashEmbedder, indexed_at: dict[str, float],
                 skipped: list[dict[str, str]]) -> IndexData:
    """The index a build would write for these documents, held in memory."""
    texts, docs, chunks = {}, [], []
    for source, specs in files.items():
        texts[source], more_docs, more_chunks = build_file(source, specs, len(chunks))
        docs += more_docs
        chunks += more_chunks
    passages = [passage_text(c) for c in chunks]
    spans, ptr = chunk_sentences(chunks)
    sentences = sentence_texts(chunks, spans)
    vectors = embedder.embed_passages(passages + sentences)
    targets = extract_all(docs, texts)
    indicators = [indicator_text(t) for t in targets]
    index = build_vector_index(vectors[: len(passages)], embedder.dim)
    manifest = Manifest(
        format_version=FORMAT_VERSION, model=embedder.name, dim=embedder.dim, chunking={}, corpus_fingerprint="",
        files={s: {"sha256": "", "indexed_at": indexed_at.get(s)} for s in files}, skipped=skipped,
        n_documents=len(docs), n_chunks=len(chunks), index_type=describe_vector_index(index), created=0.0,
        build_seconds=0.0)
    return IndexData(
        manifest=manifest, chunks=chunks, documents=docs, texts=texts, vectors=index,
        embed_keys=[embed_key(t) for t in passages],
        lexical=LexicalIndex.build([lexical_text(c) for c in chunks]),
        sentences=SentenceTable(np.asarray([(a, b) for _, a, b in spans], np.int64).reshape(-1, 2),
                                np.asarray(ptr, np.int64), vectors[len(passages):].astype(np.float16),
                                [embed_key(t) for t in sentences]),
        targets=targets, target_vectors=embedder.embed_queries([query_text(t) for t in indicators]),
    )


def _content_hash(spec: list | bytes) -> str:
    return hashlib.sha256(spec if isinstance(spec, bytes) else repr(spec).encode()).hexdigest()


class FakeEngine(Engine):
    """``Engine`` over ``CORPUS`` in memory. ``fail_with`` makes search and ask raise
    PolicyQAError with that message (error-path tests); ``reindex_calls`` counts reindexes."""

    def __init__(self, settings: Settings = SETTINGS, fail_with: str | None = None) -> None:
        self.fail_with = fail_with
        self.reindex_calls = 0
        # the "corpus folder": source -> built-in document specs, or uploaded bytes
        self._folder: dict[str, list | bytes] = dict(CORPUS)
        self._indexed = {s: _content_hash(spec) for s, spec in self._folder.items()}
        self._indexed_at = {s: 1_700_000_000.0 for s in self._folder}  # 2023-11-14
        embedder = HashEmbedder(int(settings.model.split(":")[1]))
        super().__init__(settings, self._index_folder(embedder), embedder)

    def _index_folder(self, embedder: HashEmbedder) -> IndexData:
        files, skipped = {}, []
        for source, spec in self._folder.items():
            try:
                files[source] = _parse_upload(source, spec) if isinstance(spec, bytes) else spec
            except PolicyQAError as e:
                skipped.append({"source": source, "reason": str(e)})
        return memory_index(files, embedder, self._indexed_at, skipped)

    # ------------------------------------------------------------------ the folder
    def add_file(self, filename: str, data: bytes) -> str:
        name = safe_name(filename)
        if len(data) > self.settings.max_file_bytes:
            raise PolicyQAError(f"{name}: {len(data):,} bytes is over the "
                                f"{self.settings.max_file_bytes:,}-byte limit (setting max_file_bytes)")
        if not data:
            raise PolicyQAError(f"{name}: the file is empty")
        name = unused_name(name, lambda n: n in self._folder)  # never replaces a file, as the engine
        self._folder[name] = bytes(data)
        return name

    def remove_source(self, source: str) -> None:
        if source not in self._folder:
            raise PolicyQAError(f"{source!r} is not in the corpus folder")
        del self._folder[source]

    def reindex(self, progress: Progress | None = None) -> BuildSummary:
        t0 = time.perf_counter()
        self.reindex_calls += 1
        progress = progress or (lambda _e: None)
        progress(ProgressEvent("scan", 0, 0, detail="reading corpus"))
        new = {s: _content_hash(spec) for s, spec in self._folder.items()}
        added = sorted(s for s in new if s not in self._indexed)
        updated = sorted(s for s in new if s in self._indexed and self._indexed[s] != new[s])
        removed = sorted(s for s in self._indexed if s not in new)
        for s in added + updated:
            self._indexed_at[s] = time.time()
        for s in removed:
            self._indexed_at.pop(s, None)
        self._indexed = new
        self._data = self._index_folder(self.embedder)
        progress(ProgressEvent("done", 1, 1, "steps", "index written"))
        data = self._data
        return BuildSummary(
            documents=len(data.documents), chunks=len(data.chunks), files=len({d.source for d in data.documents}),
            skipped=list(data.manifest.skipped), added=added, updated=updated, removed=removed,
            unchanged=len(new) - len(added) - len(updated), embedded=len(data.chunks), reused=0,
            seconds=round(time.perf_counter() - t0, 3), embed_seconds=0.0, index_dir="(memory)",
            up_to_date=not (added or updated or removed))

    # ------------------------------------------------------------------ failures
    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        if self.fail_with:
            raise PolicyQAError(self.fail_with)
        return super().search(query, k, filters)

    def ask(self, question: str, filters: Filters | None = None, history: Sequence[str] = ()) -> Answer:
        if self.fail_with:
            raise PolicyQAError(self.fail_with)
        return super().ask(question, filters, history)
