"""Corpus folder → parsed documents and chunks (load → clean → structure → chunk).

No embedding here; ``api.build_index`` embeds and writes. Unreadable files are collected
with their reasons, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .chunk import ChunkSettings, chunk_document
from .clean import find_noise
from .errors import LoadError
from .loaders import iter_corpus_files, load_file
from .structure import parse_documents
from .types import Chunk, Document, SourceFile


@dataclass
class ParsedCorpus:
    files: list[SourceFile] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[LoadError] = field(default_factory=list)
    reused_files: list[str] = field(default_factory=list)


def parse_file(sf: SourceFile, cfg: ChunkSettings, first_id: int) -> tuple[list[Document], list[Chunk]]:
    noise = find_noise(sf.text)
    docs = parse_documents(sf, noise)
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(chunk_document(sf.text, doc, cfg, first_id + len(chunks)))
    return docs, chunks


Reuse = Callable[[SourceFile], "tuple[list[Document], list[Chunk]] | None"]


def _renumber(chunks: list[Chunk], first_id: int) -> list[Chunk]:
    return [c if c.chunk_id == first_id + n else replace(c, chunk_id=first_id + n) for n, c in enumerate(chunks)]


def parse_corpus(
    root: Path,
    cfg: ChunkSettings,
    max_bytes: int,
    on_file: Callable[[str], None] | None = None,
    reuse: Reuse | None = None,
    on_chunks: Callable[[list[Chunk], bool], None] | None = None,
) -> ParsedCorpus:
    """Load and parse every file under ``root``. ``reuse(sf)`` may return the documents and
    chunks of an unchanged file from a previous index, skipping its cleaning and parsing.
    ``on_chunks(chunks, reused)`` receives each indexed file's chunks as soon as they exist
    (the build embeds them while later files are parsed)."""
    if not root.is_dir():
        raise LoadError(str(root), "corpus folder not found: give an existing folder with --corpus")
    out = ParsedCorpus()
    for path in iter_corpus_files(root):
        try:
            sf = load_file(path, root, max_bytes)
        except LoadError as e:
            out.skipped.append(e)
            continue
        previous = reuse(sf) if reuse else None
        if previous is not None:
            docs, chunks = previous[0], _renumber(previous[1], len(out.chunks))
            out.reused_files.append(sf.source)
        else:
            docs, chunks = parse_file(sf, cfg, len(out.chunks))
        if not chunks:
            out.skipped.append(LoadError(sf.source, "no indexable text found after removing boilerplate"))
            continue
        out.files.append(sf)
        out.documents.extend(docs)
        out.chunks.extend(chunks)
        if on_chunks:
            on_chunks(chunks, previous is not None)
        if on_file:
            on_file(sf.source)
    return out
