"""The build pipeline: corpus folder → a new index generation.

Parsing (``ingest.parse_corpus``) runs in a worker thread while this thread embeds the texts
of the files parsed so far (``EmbedStream``); vectors of texts the previous generation
already has are reused by content hash, and files whose bytes did not change are not even
re-parsed. Progress is reported as typed ``ProgressEvent``s whose totals are known when a
stage starts (the files are counted first). ``build_index`` writes the generation
atomically (``index.write_index``); nothing is written when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Callable, Sequence

import numpy as np

from .chunk import ChunkSettings
from .compare import indicator_text
from .config import Settings
from .embed import Embedder
from .errors import PolicyQAError
from .index import (
    FORMAT_VERSION,
    IndexData,
    Manifest,
    SentenceTable,
    build_lock,
    build_vector_index,
    corpus_fingerprint,
    describe_vector_index,
    embed_key,
    read_manifest,
    remove_unused,
    write_index,
)
from .ingest import ParsedCorpus, parse_corpus
from .lexical import LexicalIndex
from .ocr import OCR_CACHE, OcrOptions, OcrWorker, prune_cache
from .loaders import SkippedEntry, corpus_path, iter_corpus_files, ocr_outdated, source_name, walk_corpus
from .search import lexical_text, passage_text, query_text
from .targets import extract_all
from .text import normalise, sentence_spans
from .embed_stream import EMBED_FLUSH_AT, EmbedStream, Progress
from .types import Chunk, Document, ProgressEvent, SourceFile
from .vector_cache import VectorCache

def chunk_settings(s: Settings) -> ChunkSettings:
    return ChunkSettings(size=s.chunk_size, max=s.chunk_max, min=s.chunk_min)


def _chunking_json(s: Settings) -> dict[str, int]:
    return {"chunk_size": s.chunk_size, "chunk_max": s.chunk_max, "chunk_min": s.chunk_min}


@dataclass
class BuildSummary:
    documents: int
    chunks: int
    files: int
    skipped: list[dict[str, str]]
    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: int
    embedded: int
    reused: int
    seconds: float
    embed_seconds: float
    index_dir: str
    up_to_date: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _noop(_event: ProgressEvent) -> None:
    pass


def chunk_sentences(chunks: Sequence[Chunk], min_chars: int = 4) -> tuple[list[tuple[int, int, int]], list[int]]:
    """(chunk_id, start, end) of every sentence of every chunk, and chunk→sentence pointers."""
    spans: list[tuple[int, int, int]] = []
    ptr = [0]
    for c in chunks:
        for a, b in sentence_spans(c.text, 0, len(c.text)):
            if b - a >= min_chars:
                spans.append((c.chunk_id, c.start + a, c.start + b))
        ptr.append(len(spans))
    return spans, ptr


def sentence_texts(chunks: Sequence[Chunk], spans: Sequence[tuple[int, int, int]]) -> list[str]:
    """What is embedded for each sentence of ``chunk_sentences``: its text, folded."""
    by_id = {c.chunk_id: c for c in chunks}
    return [normalise(by_id[c].text[a - by_id[c].start : b - by_id[c].start]) for c, a, b in spans]


def embedded_texts(chunks: Sequence[Chunk]) -> list[str]:
    """Every text a build embeds for these chunks: passages, then their sentences."""
    return [passage_text(c) for c in chunks] + sentence_texts(chunks, chunk_sentences(chunks)[0])


_PARSE_DONE = object()
_OCR_NOTE = object()  # a queue item telling which page OCR reads now


def ocr_options(settings: Settings, worker: OcrWorker | None = None) -> OcrOptions | None:
    """The build's OCR limits; results are cached under ``<index_dir>/ocr-cache``."""
    if not settings.ocr:
        return None
    return OcrOptions(dpi=settings.ocr_dpi, model=settings.ocr_model, max_pages=settings.ocr_max_pages, max_pixels=settings.ocr_max_pixels,
                      page_timeout_s=settings.ocr_page_timeout_s, cache_dir=settings.index_dir / OCR_CACHE,
                      worker=worker)


class _BuildCancelled(Exception):
    """Stops the parsing thread when embedding failed."""


def _parse_while_embedding(settings: Settings, previous: IndexData | None, stream: EmbedStream,
                           progress: Progress) -> ParsedCorpus:
    """Parse the corpus in a worker thread while this thread embeds the chunks of the files
    parsed so far (reused files' chunks are cached already and not queued). Progress is
    reported from this thread only (a web page's progress object belongs to its request)."""
    stream.files_total = max(len(iter_corpus_files(settings.corpus)), 1) if settings.corpus.is_dir() else 1
    queue: Queue = Queue()  # unbounded: parsing never waits for embedding
    result: dict[str, object] = {}
    cancelled = threading.Event()
    ocr_worker = OcrWorker(settings.ocr_model)  # this build's recognition process (started by the first scanned page)

    def on_chunks(chunks: list[Chunk], reused: bool) -> None:
        if cancelled.is_set():
            raise _BuildCancelled()
        queue.put((chunks[0].source, None if reused else chunks))

    def on_ocr_page(source: str, page: int, pages: int) -> None:
        if cancelled.is_set():
            raise _BuildCancelled()
        queue.put((_OCR_NOTE, f"OCR {source} page {page}/{pages}"))

    def produce() -> None:
        try:
            result["parsed"] = parse_corpus(settings.corpus, chunk_settings(settings), settings.max_file_bytes,
                                            reuse=_reuse_from(previous, settings), on_chunks=on_chunks,
                                            ocr=ocr_options(settings, ocr_worker), on_ocr_page=on_ocr_page)
        except BaseException as e:  # re-raised in the building thread
            result["error"] = e
        finally:
            queue.put(_PARSE_DONE)

    worker = threading.Thread(target=produce, name="policyqa-parse", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not _PARSE_DONE:
            source, chunks = item
            if source is _OCR_NOTE:
                stream.note(chunks)
            else:
                stream.add(embedded_texts(chunks) if chunks is not None else [])
    except BaseException:
        cancelled.set()  # the parser stops at its next file
        raise
    finally:
        ocr_worker.close()  # parsing is done, or stops now: a page being read is killed
    worker.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["parsed"]  # type: ignore[return-value]


# parses the corpus feeding the stream the texts (or vectors) of each file
Parser = Callable[[Settings, "IndexData | None", EmbedStream, Progress], ParsedCorpus]


def _query_key(text: str) -> str:
    """Cache key of a text embedded on the query side (indicators of targets)."""
    return embed_key("query\0" + text)


def _query_vectors_for(texts: Sequence[str], cache: VectorCache, embedder: Embedder, batch: int) -> np.ndarray:
    keys = [_query_key(t) for t in texts]
    where = cache.find(keys)
    todo = sorted({t for t, w in zip(texts, where) if w < 0}, key=len)
    fresh = {}
    for i in range(0, len(todo), batch):
        part = todo[i : i + batch]
        fresh.update({_query_key(t): v for t, v in zip(part, embedder.embed_queries([query_text(x) for x in part]))})
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in fresh:
            out[i] = fresh[k]
    old = np.flatnonzero(where >= 0)
    if len(old):
        out[old] = cache.read(where[old])
    return out


def _reuse_from(previous: IndexData | None, settings: Settings):
    """A ``reuse`` callback for ``parse_corpus``: documents/chunks of files whose bytes and
    chunking settings are unchanged since the previous index."""
    if previous is None or previous.manifest.chunking != _chunking_json(settings):
        return None
    docs: dict[str, list[Document]] = {}
    chunks: dict[str, list[Chunk]] = {}
    for d in previous.documents:
        docs.setdefault(d.source, []).append(d)
    for c in previous.chunks:
        chunks.setdefault(c.source, []).append(c)
    files = previous.manifest.files

    def reuse(sf):
        old = files.get(sf.source)
        # (a page OCR failed on, then or now, or another OCR model, changes the text the same bytes give)
        if (old and old["sha256"] == sf.sha256 and sf.source in chunks
                and not old.get("ocr_failed") and "ocr_failed" not in sf.meta
                and old.get("ocr_model") == _ocr_model(sf)):
            return docs.get(sf.source, []), chunks[sf.source]
        return None

    return reuse


def _sentence_table(parsed: ParsedCorpus, vectors: np.ndarray, texts: list[str], spans, ptr) -> SentenceTable:
    return SentenceTable(
        spans=np.asarray([(a, b) for _, a, b in spans], dtype=np.int64).reshape(-1, 2),
        ptr=np.asarray(ptr, dtype=np.int64),
        vectors=vectors.astype(np.float16),
        keys=[embed_key(t) for t in texts],
    )


def _manifest(settings: Settings, dim: int, parsed: ParsedCorpus, skipped: list[dict[str, str]], t0: float,
              index_type: str) -> Manifest:
    return Manifest(
        format_version=FORMAT_VERSION,
        model=settings.model,
        dim=dim,
        chunking=_chunking_json(settings),
        corpus_fingerprint=corpus_fingerprint({f.source: f.sha256 for f in parsed.files}),
        files={
            f.source: {
                "sha256": f.sha256, "size": f.size, "mtime_ns": f.mtime_ns, "encoding": f.encoding, "format": f.fmt,
                "documents": sum(1 for d in parsed.documents if d.source == f.source),
                "chunks": sum(1 for c in parsed.chunks if c.source == f.source),
                "indexed_at": time.time(), **_page_fields(f),
            }
            for f in parsed.files
        },
        skipped=skipped,
        n_documents=len(parsed.documents),
        n_chunks=len(parsed.chunks),
        index_type=index_type,
        created=time.time(),
        build_seconds=round(time.perf_counter() - t0, 3),
    )


def _page_fields(f: SourceFile) -> dict[str, list[int]]:
    """Page starts of a paged file (PDF, image), the pages read by OCR and those it failed on."""
    return {key: json.loads(f.meta[key]) for key in ("pages", "ocr_pages", "ocr_failed", "ocr_model", "ocr_dpi") if key in f.meta}


def _ocr_model(f: SourceFile) -> str | None:
    """The OCR model that read some of the file's pages (None: no page read by OCR)."""
    return json.loads(f.meta["ocr_model"]) if "ocr_model" in f.meta else None


def _changes(previous: IndexData | None, parsed: ParsedCorpus) -> tuple[list[str], list[str], list[str]]:
    old = previous.manifest.files if previous else {}
    new = {f.source: f.sha256 for f in parsed.files}
    model = {f.source: _ocr_model(f) for f in parsed.files}
    added = sorted(s for s in new if s not in old)
    # (same bytes read by another OCR model: another text)
    updated = sorted(s for s in new if s in old and (old[s]["sha256"] != new[s] or old[s].get("ocr_model") != model[s]))
    removed = sorted(s for s in old if s not in new)
    return added, updated, removed


def build_index(
    settings: Settings,
    embedder: Embedder,
    progress: Progress = _noop,
    previous: IndexData | None = None,
    parse: "Parser | None" = None,
) -> BuildSummary:
    """Parse the corpus (reusing unchanged files), embed (reusing vectors of unchanged
    passages and sentences) and write a new index generation atomically. Bad files are
    skipped and reported, never fatal. Nothing is written when nothing changed; either way
    old generations no process reads and leftovers of killed builds are removed. ``parse``
    replaces the local parse ∥ embed (``ray_ingest.ray_parser``: on a Ray cluster)."""
    t0 = time.perf_counter()
    if previous is not None and previous.manifest.model != settings.model:
        previous = None
    with build_lock(settings.index_dir):
        remove_unused(settings.index_dir)
        progress(ProgressEvent("scan", 0, 0, detail=f"reading {settings.corpus}"))
        stream = EmbedStream(embedder, settings.batch_size, lambda: VectorCache.of_index(previous), progress, EMBED_FLUSH_AT)
        parsed = (parse or _parse_while_embedding)(settings, previous, stream, progress)
        added, updated, removed = _changes(previous, parsed)
        skipped = [_skipped_entry(settings.corpus, e) for e in parsed.skipped]
        prune_cache(settings.index_dir / OCR_CACHE, {f.sha256 for f in parsed.files} | {s.get("sha256") for s in skipped})
        summary = dict(documents=len(parsed.documents), chunks=len(parsed.chunks), files=len(parsed.files),
                       skipped=skipped, added=added, updated=updated, removed=removed,
                       unchanged=len(parsed.files) - len(added) - len(updated), index_dir=str(settings.index_dir))
        if (previous is not None and not (added or updated or removed) and previous.manifest.skipped == skipped
                and previous.manifest.chunking == _chunking_json(settings)):
            return BuildSummary(**summary, embedded=0, reused=0, seconds=round(time.perf_counter() - t0, 3),
                                embed_seconds=0.0, up_to_date=True)
        texts = [passage_text(c) for c in parsed.chunks]
        sent_spans, sent_ptr = chunk_sentences(parsed.chunks)
        sent_texts = sentence_texts(parsed.chunks, sent_spans)
        all_vecs = stream.vectors(texts + sent_texts)
        stream.finish()
        embedded, embed_seconds = len(stream.fresh), stream.seconds
        cache = stream.cache
        progress(ProgressEvent("targets", 0, 1, "steps", "extracting quantitative targets"))
        targets = extract_all(parsed.documents, {f.source: f.text for f in parsed.files})
        target_texts = [indicator_text(t) for t in targets]
        target_vectors = _query_vectors_for(target_texts, cache, embedder, settings.batch_size)
        progress(ProgressEvent("write", 0, 3, "steps", "building the vector index"))
        vectors = build_vector_index(all_vecs[: len(texts)], embedder.dim)
        progress(ProgressEvent("write", 1, 3, "steps", "building the lexical index"))
        data = IndexData(
            manifest=_manifest(settings, embedder.dim, parsed, skipped, t0, describe_vector_index(vectors)),
            chunks=parsed.chunks, documents=parsed.documents,
            texts={f.source: f.text for f in parsed.files},
            vectors=vectors,
            embed_keys=[embed_key(t) for t in texts],
            lexical=LexicalIndex.build([lexical_text(c) for c in parsed.chunks]),
            sentences=_sentence_table(parsed, all_vecs[len(texts):], sent_texts, sent_spans, sent_ptr),
            targets=targets, target_vectors=target_vectors,
            target_keys=[_query_key(t) for t in target_texts],
        )
        progress(ProgressEvent("write", 2, 3, "steps", "writing the index"))
        write_index(settings.index_dir, data)
        progress(ProgressEvent("done", 1, 1, "steps", "index written"))
    return BuildSummary(**summary, embedded=embedded, reused=len(texts) + len(sent_texts) - embedded,
                        seconds=round(time.perf_counter() - t0, 3), embed_seconds=round(embed_seconds, 3))


def _raw_state(path: Path) -> dict[str, object]:
    """Size, modification time and sha256 of a file's raw bytes (what a change check compares)."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _skipped_entry(corpus: Path, error) -> dict:
    """A skipped file for the manifest: name, reason, and its raw state when readable, so an
    unchanged bad file does not make the index look stale."""
    entry: dict = {"source": error.source, "reason": error.reason}
    if isinstance(error, SkippedEntry):
        return entry  # refused by the walk (a link, hidden, too deep): never opened, never hashed
    try:
        state = _raw_state(corpus_path(corpus, error.source))
        del state["mtime_ns"]  # (a touched bad file is still the same bad file: compared by hash)
        entry.update(state)
    except OSError:
        pass
    return entry


def _unchanged_files(settings: Settings, files: dict[str, dict]) -> bool:
    """True when the corpus folder holds exactly the indexed files. Nothing is decoded or
    parsed: a file with the recorded size and modification time counts as unchanged (as
    make and git assume; a province's archive is not re-read at every start), otherwise
    the sha256 of its bytes decides (a touched but identical file is unchanged). ``policyqa
    index`` always hashes every file. ``files`` holds both indexed and skipped files
    (skipped ones record their raw state too)."""
    walk = walk_corpus(settings.corpus)
    seen: set[str] = {entry.source for entry in walk.skipped}
    for path in walk.files:
        source = source_name(path, settings.corpus)
        known = files.get(source)
        try:
            st = path.stat()
            if known is None or st.st_size != known.get("size"):
                return False  # size first: most changes are seen without reading the file
            if st.st_mtime_ns != known.get("mtime_ns") and _raw_state(path)["sha256"] != known.get("sha256"):
                return False
        except OSError:
            return False
        seen.add(source)
    return seen == set(files)


def index_is_current(settings: Settings) -> bool:
    try:
        m = read_manifest(settings.index_dir)
    except PolicyQAError:
        return False
    return (
        m.model == settings.model
        and m.chunking == _chunking_json(settings)
        and settings.corpus.is_dir()
        and not ocr_outdated(entries := {**{k["source"]: k for k in m.skipped}, **m.files}, settings.ocr,
                             settings.ocr_model, settings.ocr_dpi)
        and _unchanged_files(settings, entries)
    )
