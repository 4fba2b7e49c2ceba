"""Plain data passed between the pipeline stages.

Offsets (`start`, `end`) are always Python ``str`` indices into the full decoded text of
the source file (before any cleaning), ``[start, end)``; ``source`` is the path relative to
the corpus root with POSIX separators. See design.md §3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

Span = tuple[int, int]


@dataclass(frozen=True)
class SourceFile:
    """One corpus file, decoded. ``text`` is what every offset indexes."""

    source: str
    text: str
    encoding: str
    fmt: str  # "txt", "md", ...
    sha256: str  # of the raw bytes
    size: int  # bytes on disk
    meta: dict[str, str] = field(default_factory=dict)  # raw metadata a loader found
    mtime_ns: int = 0  # modification time when read (a cheap first change check)


@dataclass(frozen=True)
class DocMeta:
    """Metadata read from a document's own text (all optional)."""

    year: int | None = None
    region: str | None = None  # official name of the division, e.g. "颍州区"
    region_code: str | None = None  # its six-digit code (GB/T 2260), e.g. "341202"
    region_level: str | None = None  # "province" / "city" / "county"
    doc_type: str | None = None  # 计划 / 总结 / 思路 / 方案 / 督导 / ...
    site: str | None = None
    date: str | None = None  # publication date as written, ISO-like when known

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Block:
    """A contiguous run of a document's own text (no boilerplate inside).

    ``kind`` is "heading" for a heading line (一、… （一）… 1. … 第X条 …) and "text" for body
    text. ``heading_path`` is the path of headings the block sits under; for a heading block it
    includes the heading itself.
    """

    start: int
    end: int
    kind: str
    heading_path: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One plan/summary. A compilation file (篇一…篇十三) yields several documents."""

    doc_id: str
    source: str
    title: str
    start: int
    end: int
    metadata: DocMeta
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage; carries its own citation."""

    chunk_id: int
    doc_id: str
    source: str
    start: int
    end: int
    text: str
    title: str
    heading_path: tuple[str, ...]
    metadata: DocMeta


@dataclass(frozen=True)
class Hit:
    """A chunk returned for a query, with why it matched."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    # Best-matching sentence of the chunk: its similarity to the query and its span.
    evidence_score: float | None = None
    evidence_span: Span | None = None
    page: int | None = None  # 1-based page of a PDF or scan where the passage starts
    library: str = ""  # the library it comes from, on a server holding several (libraries.py)

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {**({"library": self.library} if self.library else {}),
            "source": c.source,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "title": c.title,
            "heading_path": list(c.heading_path),
            "score": round(float(self.score), 6),
            "doc_id": c.doc_id,
            "metadata": c.metadata.as_dict(),
            "dense_score": None if self.dense_score is None else round(float(self.dense_score), 6),
            "lexical_rank": self.lexical_rank,
            "dense_rank": self.dense_rank,
            "evidence_score": None if self.evidence_score is None else round(float(self.evidence_score), 6),
            "evidence_span": None if self.evidence_span is None else list(self.evidence_span),
            "page": self.page,
        }


@dataclass(frozen=True)
class Filters:
    """Restrict a search. Empty / None fields do not filter."""

    doc_type: str | None = None
    year: int | None = None
    region: str | None = None
    doc_id: str | None = None
    source: str | None = None

    def is_empty(self) -> bool:
        return not any((self.doc_type, self.year, self.region, self.doc_id, self.source))


@dataclass(frozen=True)
class SearchResult:
    query: str
    abstained: bool
    top_score: float
    hits: tuple[Hit, ...]
    # The Chinese words an English query was scored with on the lexical side (glossary.py),
    # so a result list can mark them; empty for a query that was not translated.
    translated_terms: tuple[str, ...] = ()
    # official words searched for the query's everyday expressions (glossary.Thesaurus)
    expanded_terms: tuple[str, ...] = ()
    # the evidence score from which the query counts as covered (the abstain threshold for its
    # script), so a result list can say which passages alone would answer it
    threshold: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "abstained": self.abstained,
            "top_score": round(float(self.top_score), 6),
            "threshold": round(float(self.threshold), 6),
            "results": [h.to_json() for h in self.hits],
            "translated_terms": list(self.translated_terms),
            "expanded_terms": list(self.expanded_terms),
        }


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    start: int
    end: int
    text: str
    title: str
    heading_path: tuple[str, ...]
    doc_id: str = ""
    # the passage holds a placeholder instead of a value ("xx%", "×××"): a template, not a figure
    placeholder: bool = False
    year: int | None = None  # the cited document's, so a reader sees when and where it applies
    region: str | None = None
    page: int | None = None  # 1-based page of a PDF or scanned image the span starts on
    library: str = ""  # the library it comes from, on a server holding several (libraries.py)

    def where(self) -> str:
        """"library · region · year · 第N页" of the cited passage, as far as known ("" when none is)."""
        return " · ".join(str(x) for x in (self.library, self.region, self.year,
                                           self.page and f"第{self.page}页") if x)

    def to_json(self) -> dict[str, Any]:
        return {**({"library": self.library} if self.library else {}),
            "placeholder": self.placeholder,
            "year": self.year,
            "region": self.region,
            "page": self.page,
            "n": self.n,
            "source": self.source,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "title": self.title,
            "heading_path": list(self.heading_path),
        }


@dataclass(frozen=True)
class Answer:
    question: str
    abstained: bool
    answer: str
    citations: tuple[Citation, ...]
    # "extractive" (the documents' sentences) or "llm" (a model's sentences, each verified
    # against the passages it cites; generate.py)
    generator: str = "extractive"
    notice: str = ""  # why a configured model's answer is not shown, for the reader
    # the model's sentences that failed verification, with the reason: never shown as fact
    unverified: tuple[tuple[str, str], ...] = ()
    searched_as: str = ""  # a follow-up question made standalone, as searched ("" = as asked)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
            "generator": self.generator,
            "notice": self.notice,
            "unverified": [{"sentence": s, "reason": r} for s, r in self.unverified],
            "searched_as": self.searched_as,
        }


@dataclass(frozen=True)
class Target:
    doc_id: str
    source: str
    title: str
    region: str | None
    year: int | None
    indicator: str
    comparator: str | None
    value: float | None
    value_text: str  # the quantity as written (original characters), == text[value_start:value_end]
    unit: str
    deadline: str | None
    placeholder: bool
    sentence_start: int
    sentence_end: int
    value_start: int
    value_end: int
    value_max: float | None = None  # upper bound of a range ("1-2所")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Target":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


def targets_to_json(targets: Sequence[Target]) -> list[dict[str, Any]]:
    return [t.to_json() for t in targets]


def targets_from_json(rows: Iterable[dict[str, Any]]) -> list[Target]:
    return [Target.from_json(r) for r in rows]


@dataclass(frozen=True)
class ProgressEvent:
    """Where a long job stands: ``done`` of ``total`` units of ``stage`` (``total`` is known
    when the stage starts, so a progress bar never grows). ``detail`` is for people to read
    (the file just parsed); programs use the numbers."""

    stage: str  # "scan", "parse", "embed", "targets", "write", "done"
    done: float
    total: int
    unit: str = "files"
    detail: str = ""

    @property
    def fraction(self) -> float:
        return min(max(self.done / self.total, 0.0), 1.0) if self.total else 0.0
