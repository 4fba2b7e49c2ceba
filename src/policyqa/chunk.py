"""Documents → chunks: passages that never cut a sentence and never separate a heading
from its body, each carrying its heading path and exact ``[start, end)`` span.

Rules:
* The units are sentences of body blocks (``text.sentence_spans``: split after 。！？；!?;…
  and the closing quotes that follow them). A sentence longer than ``chunk_max`` is split
  at clause punctuation with ``langchain_text_splitters.RecursiveCharacterTextSplitter``
  (offsets kept).
* Heading blocks open a new chunk and are kept with the body that follows them; runs of
  headings (一、 then （一）) stay together.
* A chunk grows while it is under ``chunk_size``; it never passes ``chunk_max`` (unless
  one unit alone is longer), and never spans boilerplate: two units whose gap holds
  anything but whitespace go to different chunks.
* A chunk's span runs from its first unit's start to its last unit's end, so
  ``chunk.text == file_text[start:end]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable, Iterator

from .text import sentence_spans, trim
from .types import Block, Chunk, Document, Span


@dataclass(frozen=True)
class Unit:
    start: int
    end: int
    heading: bool
    heading_path: tuple[str, ...]


@dataclass(frozen=True)
class ChunkSettings:
    size: int = 300
    max: int = 520
    min: int = 60


@lru_cache(maxsize=8)
def _splitter(max_chars: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=max_chars,
        chunk_overlap=0,
        separators=["\n", "。", "；", ";", "，", ",", "、", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=False,
    )


def split_long(text: str, start: int, end: int, max_chars: int) -> list[Span]:
    """Split one over-long sentence at clause punctuation, keeping exact offsets."""
    piece = text[start:end]
    spans: list[Span] = []
    cursor = 0
    for doc in _splitter(max_chars).create_documents([piece]):
        content = doc.page_content
        local = piece.find(content, cursor)
        if local < 0:  # should not happen; fall back to the splitter's own offset
            local = int(doc.metadata.get("start_index", cursor))
        spans.append(trim(text, start + local, start + local + len(content)))
        cursor = local + len(content)
    return [s for s in spans if s[1] > s[0]] or [(start, end)]


def units_of(text: str, blocks: Iterable[Block], max_chars: int) -> Iterator[Unit]:
    for block in blocks:
        if block.kind == "heading":
            yield Unit(block.start, block.end, True, block.heading_path)
            continue
        for a, b in sentence_spans(text, block.start, block.end):
            parts = split_long(text, a, b, max_chars) if b - a > max_chars else [(a, b)]
            for pa, pb in parts:
                yield Unit(pa, pb, False, block.heading_path)


def _group(text: str, units: Iterable[Unit], cfg: ChunkSettings) -> Iterator[list[Unit]]:
    current: list[Unit] = []
    for u in units:
        if current:
            size = u.end - current[0].start
            gap_has_text = bool(text[current[-1].end : u.start].strip())
            has_body = any(not x.heading for x in current)
            new_section = u.heading and has_body
            too_big = size > cfg.max or (size > cfg.size and current[-1].end - current[0].start >= cfg.min)
            if gap_has_text or new_section or (too_big and has_body):
                yield current
                current = []
        current.append(u)
    if current:
        yield current


def _path_of(group: list[Unit]) -> tuple[str, ...]:
    body = [u for u in group if not u.heading]
    return (body[0] if body else group[-1]).heading_path


def chunk_document(text: str, doc: Document, cfg: ChunkSettings, first_id: int = 0) -> list[Chunk]:
    """Chunks of one document; ids are consecutive from ``first_id``."""
    chunks: list[Chunk] = []
    for group in _group(text, units_of(text, doc.blocks, cfg.max), cfg):
        start, end = group[0].start, group[-1].end
        chunks.append(
            Chunk(
                chunk_id=first_id + len(chunks),
                doc_id=doc.doc_id,
                source=doc.source,
                start=start,
                end=end,
                text=text[start:end],
                title=doc.title,
                heading_path=_path_of(group),
                metadata=doc.metadata,
            )
        )
    return _merge_small_tail(text, chunks, cfg)


def _merge_small_tail(text: str, chunks: list[Chunk], cfg: ChunkSettings) -> list[Chunk]:
    """Fold a chunk smaller than ``cfg.min`` into the previous one of the same section when
    only whitespace separates them and the result stays under ``cfg.max``."""
    out: list[Chunk] = []
    for c in chunks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and c.end - c.start < cfg.min
            and c.heading_path[:1] == prev.heading_path[:1]
            and not text[prev.end : c.start].strip()
            and c.end - prev.start <= cfg.max
            and not _starts_with_heading(prev, c)
        ):
            out[-1] = Chunk(
                prev.chunk_id, prev.doc_id, prev.source, prev.start, c.end,
                text[prev.start : c.end], prev.title, prev.heading_path, prev.metadata,
            )
        else:
            out.append(c)
    base = chunks[0].chunk_id if chunks else 0
    return [replace(c, chunk_id=base + i) for i, c in enumerate(out)]


def _starts_with_heading(prev: Chunk, c: Chunk) -> bool:
    # A small chunk that is a new heading with little body stays on its own section.
    return c.heading_path != prev.heading_path and len(c.heading_path) <= len(prev.heading_path)
