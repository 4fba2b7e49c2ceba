"""Corpus folder → parsed documents and chunks (load → clean → structure → chunk).

No embedding here; ``api.build_index`` embeds and writes. Unreadable files, and the
entries the folder walk refuses (hidden names, symbolic links, too deep: see
``loaders.walk_corpus``), are collected with their reasons, never fatal — unless no file at
all can be indexed: then ``CorpusError`` says so before anything is embedded or written, so
an existing index keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from .chunk import ChunkSettings, chunk_document
from .clean import find_noise
from .errors import LoadError, PolicyQAError
from .loaders import DEFAULT_OCR, SUPPORTED_SUFFIXES, load_file, load_warnings, source_name, walk_corpus
from .ocr import OcrOptions
from .spreadsheets import TABLE_FORMATS
from .structure import parse_documents
from .types import Chunk, Document, SourceFile


class CorpusError(PolicyQAError):
    """The corpus folder is missing, empty, or holds no file that can be indexed."""


@dataclass
class ParsedCorpus:
    files: list[SourceFile] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[LoadError] = field(default_factory=list)
    reused_files: list[str] = field(default_factory=list)


def parse_file(sf: SourceFile, cfg: ChunkSettings, first_id: int) -> tuple[list[Document], list[Chunk]]:
    # a spreadsheet holds no site chrome, and its "日期：…"/"电话：…" rows look like it
    noise = [] if sf.fmt in TABLE_FORMATS else find_noise(sf.text)
    docs = parse_documents(sf, noise)
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(chunk_document(sf.text, doc, cfg, first_id + len(chunks)))
    return docs, chunks


Reuse = Callable[[SourceFile], "tuple[list[Document], list[Chunk]] | None"]


@dataclass
class ParsedFile:
    """One corpus file parsed on its own: chunk ids count from 0 within the file until
    ``assemble`` numbers the whole corpus. ``sf`` is None (and ``skipped`` says why) when the
    file could not be indexed at all."""

    source: str
    sf: SourceFile | None
    documents: list[Document] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[LoadError] = field(default_factory=list)
    reused: bool = False


def _renumber(chunks: list[Chunk], first_id: int) -> list[Chunk]:
    return [c if c.chunk_id == first_id + n else replace(c, chunk_id=first_id + n) for n, c in enumerate(chunks)]


def parse_path(path: Path, root: Path, cfg: ChunkSettings, max_bytes: int, reuse: Reuse | None = None,
               ocr: OcrOptions | None = DEFAULT_OCR,
               on_ocr_page: Callable[[str, int, int], None] | None = None) -> ParsedFile:
    """Load and parse one file of the corpus (``path`` from ``walk_corpus(root)``, opened
    below ``root`` only); a file that cannot be read is returned skipped, never raised."""
    source = source_name(path, root)
    try:
        sf = load_file(path, root, max_bytes, _ocr_for(ocr, on_ocr_page, source))
    except LoadError as e:
        return ParsedFile(source, None, skipped=[e])
    warnings = [LoadError(sf.source, w) for w in load_warnings(sf)]  # indexed in part
    previous = reuse(sf) if reuse else None
    if previous is not None:
        docs, chunks = previous[0], _renumber(previous[1], 0)
    else:
        docs, chunks = parse_file(sf, cfg, 0)
    if not chunks:
        return ParsedFile(sf.source, None, skipped=[*warnings, LoadError(sf.source, "no indexable text found after removing boilerplate")])
    return ParsedFile(sf.source, sf, docs, chunks, warnings, previous is not None)


def assemble(root: Path, files: Iterable[ParsedFile], refused: Iterable[LoadError] = ()) -> ParsedCorpus:
    """The corpus from its files parsed in any order (or on other machines): files sorted by
    source name, chunks numbered in that order, so the chunk table depends only on the set of
    files. ``CorpusError`` when no file gave a chunk."""
    out = ParsedCorpus(skipped=list(refused))
    for pf in sorted(files, key=lambda f: f.source):
        out.skipped.extend(pf.skipped)
        if pf.sf is None:
            continue
        out.files.append(pf.sf)
        out.documents.extend(pf.documents)
        out.chunks.extend(_renumber(pf.chunks, len(out.chunks)))
        if pf.reused:
            out.reused_files.append(pf.source)
    out.skipped.sort(key=lambda e: e.source)
    if not out.chunks:
        raise CorpusError(_nothing_indexed(root, out.skipped))
    return out


def parse_corpus(
    root: Path,
    cfg: ChunkSettings,
    max_bytes: int,
    on_file: Callable[[str], None] | None = None,
    reuse: Reuse | None = None,
    on_chunks: Callable[[list[Chunk], bool], None] | None = None,
    ocr: OcrOptions | None = DEFAULT_OCR,
    on_ocr_page: Callable[[str, int, int], None] | None = None,
) -> ParsedCorpus:
    """Load and parse every file under ``root``. ``reuse(sf)`` may return the documents and
    chunks of an unchanged file from a previous index, skipping its cleaning and parsing.
    ``on_chunks(chunks, reused)`` receives each indexed file's chunks as soon as they exist
    (the build embeds them while later files are parsed; ids count from 0 within the file).
    ``ocr`` reads scanned pages (None: off); ``on_ocr_page(source, page, pages)`` is told
    before each page is recognised. The result is ``assemble``d: sorted by source name."""
    if not root.is_dir():
        raise CorpusError(f"corpus folder {root} not found: give an existing folder with --corpus")
    walk = walk_corpus(root)
    parsed: list[ParsedFile] = []
    for path in walk.files:
        pf = parse_path(path, root, cfg, max_bytes, reuse, ocr, on_ocr_page)
        parsed.append(pf)
        if pf.sf is None:
            continue
        if on_chunks:
            on_chunks(pf.chunks, pf.reused)
        if on_file:
            on_file(pf.source)
    return assemble(root, parsed, walk.skipped)


def _ocr_for(ocr: OcrOptions | None, on_page: Callable[[str, int, int], None] | None,
             source: str) -> OcrOptions | None:
    if ocr is None or on_page is None:
        return ocr
    return replace(ocr, on_page=lambda i, n: on_page(source, i, n))


def _nothing_indexed(root: Path, skipped: list[LoadError]) -> str:
    """One line: why the build has nothing to index, and what to do."""
    add = f"add {'/'.join(SUPPORTED_SUFFIXES)} files"
    if not skipped:
        return f"corpus folder {root} is empty: {add}"
    first = "; ".join(f"{e.source}: {e.reason}" for e in skipped[:3])
    more = ", …" if len(skipped) > 3 else ""
    return f"no file in {root} could be indexed: {len(skipped)} skipped (first reasons: {first}{more}); {add}"
