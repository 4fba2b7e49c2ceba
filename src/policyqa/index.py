"""The persistent index: FAISS vectors, BM25 lexical index, chunk table, documents, source
texts and a manifest.

Layout of ``index_dir``::

    current -> gen-<stamp>/             symlink, swapped atomically (os.replace)
    gen-<stamp>/manifest.json           written last; a generation without it is never loaded;
                                        records every file's size and checksum (generations.py)
    gen-<stamp>/readers.lock            shared-locked by every process reading the generation
    gen-<stamp>/vectors.faiss           passage vectors (kept in memory)
    gen-<stamp>/embed_keys.json         content hash of each chunk's embedded text (build cache)
    gen-<stamp>/chunks.jsonl            one chunk per line, read on demand (store.RecordStore)
    gen-<stamp>/documents.jsonl         one document (with its blocks) per line, read on demand
    gen-<stamp>/doc_table.json          per-document columns for filters (kept in memory)
    gen-<stamp>/chunk_doc.npy           document number of every chunk (kept in memory)
    gen-<stamp>/texts.jsonl             decoded text of every source, read on demand
    gen-<stamp>/sentence_spans.npy      sentence spans         } read by row (store.RowFile):
    gen-<stamp>/sentence_vectors.npy    float16 vectors        } a query reads its candidates'
    gen-<stamp>/sentence_ptr.npy        chunk → sentence rows (kept in memory)
    gen-<stamp>/sentence_keys.json      content hash of each sentence's embedded text (build cache)
    gen-<stamp>/targets.json            quantitative targets (targets.py) with exact spans
    gen-<stamp>/target_vectors.npy      vector of each target's indicator (read when compare needs them)
    gen-<stamp>/target_keys.json        content hash of each indicator text (build cache)
    gen-<stamp>/lexical/                BM25 posting lists (read per query token) and vocabulary
    .lock                               held (flock) by the one process building

(``*.jsonl`` files have an ``.offsets.npy`` beside them.) What every query touches — the
vector index, the filter columns, the BM25 vocabulary — stays in memory; the posting lists of
the query's tokens and everything else is read when a hit, a citation or a build needs it, so a loaded
million-chunk index needs well under 2 KB of memory per chunk (docs/performance.md).

A build writes a whole new generation beside the serving one and swaps the symlink only
when every file is on disk, so an interrupted build (or a full disk) leaves the previous
index serving. Old generations are removed only when no process reads them any more, and
every file is checked against its checksum when a generation is opened (generations.py).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .errors import (DiskFullError, IndexBusyError, IndexDamagedError, IndexFormatError, IndexMismatchError,
                     PolicyQAError)
from .generations import (CURRENT, MANIFEST, MANIFEST_DIGEST, READERS_LOCK, GenerationLock, Removal,
                          current_generation, lock_current, manifest_digest, record_checksums, remove_unused,
                          verify_checksums)
from .lexical import LexicalIndex
from .store import LazyJson, RecordStore, RowFile, TextStore, write_npy, write_records, write_texts
from .text import normalise
from .types import Block, Chunk, DocMeta, Document, Target, targets_from_json, targets_to_json
from .vector_index import build_vector_index, describe as describe_vector_index  # noqa: F401 (re-exported)

# 4: checksums in the manifest, readers.lock in every generation; 5: page starts of PDFs and
# images (``files[source]["pages"]``, and ``"ocr_pages"`` read by OCR) so citations name a page
FORMAT_VERSION = 5
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dim: int
    chunking: dict[str, int]
    corpus_fingerprint: str
    files: dict[str, dict[str, Any]]  # source -> {sha256, size, encoding, documents, chunks[, pages, ocr_pages]}
    skipped: list[dict[str, str]]  # [{source, reason}]
    n_documents: int
    n_chunks: int
    index_type: str
    created: float
    build_seconds: float
    checksums: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> {size, mtime_ns, xxh3}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DocTable:
    """Per-document columns that filters need, and the document number of every chunk.
    Small (a few bytes per chunk), so it stays in memory; filters are decided per document
    and spread to chunks with one numpy take (search.filter_mask)."""

    doc_ids: list[str]
    sources: list[str]
    doc_types: list[str | None]
    years: list[int | None]
    regions: list[str | None]
    chunk_doc: np.ndarray  # (n_chunks,) int32: position in the lists above

    def __post_init__(self) -> None:
        self.number = {d: i for i, d in enumerate(self.doc_ids)}
        self.year = np.asarray([y or 0 for y in self.years], dtype=np.int32)
        self.type_names, self.type_code = _codes(self.doc_types)
        self.source_names, self.source_code = _codes(self.sources)
        self.region_names, self.region_code = _codes(self.regions)
        self.region_folded = [normalise(r) if r else "" for r in self.region_names]

    @classmethod
    def build(cls, documents: Iterable[Document], chunks: Iterable[Chunk]) -> "DocTable":
        docs = list(documents)
        number = {d.doc_id: i for i, d in enumerate(docs)}
        chunk_doc = np.fromiter((number[c.doc_id] for c in chunks), dtype=np.int32)
        return cls([d.doc_id for d in docs], [d.source for d in docs], [d.metadata.doc_type for d in docs],
                   [d.metadata.year for d in docs], [d.metadata.region for d in docs], chunk_doc)

    def to_json(self) -> dict[str, list]:
        return {"doc_ids": self.doc_ids, "sources": self.sources, "doc_types": self.doc_types,
                "years": self.years, "regions": self.regions}

    def chunks_per_document(self) -> np.ndarray:
        return np.bincount(self.chunk_doc, minlength=len(self.doc_ids))


def _codes(values: Sequence[str | None]) -> tuple[list[str | None], np.ndarray]:
    """Distinct values (in first-seen order) and each value's position among them."""
    names: dict[str | None, int] = {}
    code = np.fromiter((names.setdefault(v, len(names)) for v in values), dtype=np.int32, count=len(values))
    return list(names), code


@dataclass
class IndexData:
    """A loaded (or freshly built) index. ``chunks``, ``documents`` and ``texts`` are lists
    and a dict after a build, on-disk stores after ``load_index``; both index the same way."""

    manifest: Manifest
    chunks: Sequence[Chunk]
    documents: Sequence[Document]
    texts: Mapping[str, str]
    vectors: Any  # faiss.Index
    embed_keys: Sequence[str]
    lexical: LexicalIndex
    sentences: "SentenceTable"
    targets: Sequence[Target] = field(default_factory=list)
    target_vectors: np.ndarray | None = None
    target_keys: Sequence[str] = field(default_factory=list)
    path: Path | None = None
    doc_table: DocTable | None = field(default=None, repr=False)  # built on first use if absent
    lock: GenerationLock | None = field(default=None, repr=False)  # held while the generation is read

    def close(self) -> None:
        """Close the files of a loaded index and release its generation (a build may then
        remove it). Without ``close`` both happen when the object is collected."""
        for store in (self.chunks, self.documents, self.texts, self.sentences.spans, self.sentences.vectors,
                      self.target_vectors, self.lexical.data, self.lexical.indices):
            closer = getattr(store, "close", None)
            if closer is not None:
                closer()
        if self.lock is not None:
            self.lock.release()

    def table(self) -> DocTable:
        """The per-document columns (built from the records on first use after a build)."""
        if self.doc_table is None:
            self.doc_table = DocTable.build(self.documents, self.chunks)
        return self.doc_table

    def document(self, doc_id: str) -> Document:
        number = self.table().number.get(doc_id)
        if number is None:
            raise PolicyQAError(f"no document {doc_id!r} in the index")
        return self.documents[number]

    def page(self, source: str, offset: int) -> int | None:
        """1-based page of a PDF or image holding ``text(source)[offset]`` (None: no pages)."""
        starts = self.manifest.files.get(source, {}).get("pages")
        return bisect.bisect_right(starts, offset) or None if starts and offset >= 0 else None

    def text(self, source: str) -> str:
        """The decoded text of an indexed source file (what every offset indexes)."""
        try:
            return self.texts[source]
        except KeyError:
            raise PolicyQAError(f"no indexed document from {source!r}") from None


def doc_table(data: IndexData) -> DocTable:
    return data.table()


@dataclass
class SentenceTable:
    """Sentences of every chunk with their vectors (for evidence scores and answers).

    ``spans[i] = (start, end)`` in the chunk's source; chunk ``c`` owns sentences
    ``ptr[c]:ptr[c + 1]``."""

    spans: np.ndarray  # (n, 2) int64
    ptr: np.ndarray  # (n_chunks + 1,) int64
    vectors: np.ndarray  # (n, dim) float16 (a store.RowFile once loaded: rows read on demand)
    keys: Sequence[str]

    def of_chunk(self, chunk_id: int) -> range:
        return range(int(self.ptr[chunk_id]), int(self.ptr[chunk_id + 1]))

    @classmethod
    def empty(cls, n_chunks: int, dim: int) -> "SentenceTable":
        return cls(np.zeros((0, 2), np.int64), np.zeros(n_chunks + 1, np.int64), np.zeros((0, dim), np.float16), [])


def corpus_fingerprint(file_hashes: dict[str, str]) -> str:
    """sha256 over the sorted (source, file hash) pairs. ``surrogatepass``: a name that is
    not valid Unicode still hashes (valid names hash as plain UTF-8, as before)."""
    h = hashlib.sha256()
    for source in sorted(file_hashes):
        h.update(f"{source}\0{file_hashes[source]}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def embed_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


# --- serialisation ------------------------------------------------------------------


def _meta_from(d: dict[str, Any]) -> DocMeta:
    return DocMeta(**{k: d.get(k) for k in DocMeta.__dataclass_fields__})


def chunk_to_json(c: Chunk) -> dict[str, Any]:
    d = asdict(c)
    d["heading_path"] = list(c.heading_path)
    return d


def chunk_from_json(d: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=int(d["chunk_id"]), doc_id=d["doc_id"], source=d["source"],
        start=int(d["start"]), end=int(d["end"]), text=d["text"], title=d["title"],
        heading_path=tuple(d["heading_path"]), metadata=_meta_from(d["metadata"]),
    )


def document_to_json(doc: Document) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id, "source": doc.source, "title": doc.title,
        "start": doc.start, "end": doc.end, "metadata": doc.metadata.as_dict(),
        "blocks": [[b.start, b.end, b.kind, list(b.heading_path)] for b in doc.blocks],
    }


def document_from_json(d: dict[str, Any]) -> Document:
    return Document(
        doc_id=d["doc_id"], source=d["source"], title=d["title"], start=int(d["start"]),
        end=int(d["end"]), metadata=_meta_from(d["metadata"]),
        blocks=tuple(Block(int(a), int(b), k, tuple(p)) for a, b, k, p in d["blocks"]),
    )


# --- writing ------------------------------------------------------------------------


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Refuse a second concurrent build of the same index directory."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = open(index_dir / ".lock", "a+")
    except OSError as e:
        if e.errno in DISK_FULL:
            raise disk_full(index_dir, e) from None
        raise
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"another policyqa process is building the index in {index_dir}; "
                "wait for it to finish, then run again"
            ) from None
        yield
    finally:
        fh.close()


def disk_full(index_dir: Path, e: OSError) -> DiskFullError:
    return DiskFullError(f"disk full while writing the index in {index_dir} ({e.strerror}): free space "
                         "and run 'policyqa index' again; the previous index is unchanged")


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())


def _write_files(tmp: Path, data: IndexData) -> None:
    """Every file of a generation but its manifest."""
    import faiss

    faiss.write_index(data.vectors, str(tmp / "vectors.faiss"))
    _write_json(tmp / "embed_keys.json", list(data.embed_keys))
    write_records(tmp / "chunks.jsonl", data.chunks, chunk_to_json)
    write_records(tmp / "documents.jsonl", data.documents, document_to_json)
    table = doc_table(data)
    _write_json(tmp / "doc_table.json", table.to_json())
    write_npy(tmp / "chunk_doc.npy", table.chunk_doc.astype(np.int32))
    write_texts(tmp / "texts.jsonl", data.texts)
    data.lexical.save(tmp / "lexical")
    st = data.sentences
    write_npy(tmp / "sentence_spans.npy", np.asarray(st.spans, dtype=np.int64).reshape(-1, 2))
    write_npy(tmp / "sentence_ptr.npy", np.asarray(st.ptr, dtype=np.int64))
    write_npy(tmp / "sentence_vectors.npy", np.asarray(st.vectors, dtype=np.float16))
    _write_json(tmp / "sentence_keys.json", list(st.keys))
    _write_json(tmp / "targets.json", targets_to_json(data.targets))
    tv = data.target_vectors if data.target_vectors is not None else np.zeros((0, data.vectors.d), np.float32)
    write_npy(tmp / "target_vectors.npy", np.asarray(tv, dtype=np.float32))
    _write_json(tmp / "target_keys.json", list(data.target_keys))
    with open(tmp / READERS_LOCK, "x"):
        pass


def _write_manifest(gen: Path, manifest: Manifest) -> None:
    """The manifest with the checksum of every file written, and its own digest."""
    d = replace(manifest, checksums=record_checksums(gen)).to_json()
    d[MANIFEST_DIGEST] = manifest_digest(d)
    _write_json(gen / MANIFEST, d)


def _point_current(index_dir: Path, stamp: str) -> None:
    link_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(stamp, link_tmp)
    os.replace(link_tmp, index_dir / CURRENT)


def write_index(index_dir: Path, data: IndexData) -> Path:
    """Write a new generation and make it current atomically; then remove the generations
    no process reads any more. Returns its path. A full disk raises ``DiskFullError`` with
    the previous generation still current and nothing of the new one left."""
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp, final = index_dir / f".{stamp}.tmp", index_dir / stamp
    switched = False
    try:
        tmp.mkdir()
        _write_files(tmp, data)
        _write_manifest(tmp, data.manifest)  # last: marks completeness
        os.rename(tmp, final)
        _point_current(index_dir, stamp)
        switched = True
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if not switched:
            shutil.rmtree(final, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            raise disk_full(index_dir, e) from None
        raise
    remove_unused(index_dir, keep=stamp)
    return final


def tidy_index(index_dir: Path) -> Removal | None:
    """Remove the generations no process reads any more (and leftovers of killed builds);
    None when a build is running (it tidies when it writes) or the folder is read-only."""
    try:
        with build_lock(index_dir):
            return remove_unused(index_dir)
    except (IndexBusyError, OSError):
        return None


# --- reading ------------------------------------------------------------------------


def manifest_of(gen: Path) -> Manifest:
    """The manifest of generation ``gen``: ``IndexFormatError`` for another format,
    ``IndexDamagedError`` when it is not the JSON the build wrote."""
    path = gen / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IndexDamagedError(path, "missing") from None
    except OSError as e:
        raise IndexDamagedError(path, f"cannot be read ({e.strerror or e})") from None
    if not raw.strip():
        raise IndexDamagedError(path, "empty")
    try:
        d = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise IndexDamagedError(path, "not valid JSON") from None
    if not isinstance(d, dict):
        raise IndexDamagedError(path, "not a JSON object")
    if d.get("format_version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"index in {gen.parent} has format {d.get('format_version')}, this policyqa reads "
            f"{FORMAT_VERSION}: rebuild it with 'policyqa index --rebuild'"
        )
    if d.pop(MANIFEST_DIGEST, None) != manifest_digest(d):
        raise IndexDamagedError(path, "its content does not match the checksum recorded at build time")
    try:
        return Manifest(**d)
    except TypeError:
        raise IndexDamagedError(path, "fields are missing or unknown") from None


def read_manifest(index_dir: Path) -> Manifest:
    return manifest_of(current_generation(index_dir))


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load_index(index_dir: Path) -> IndexData:
    """Open the current generation, holding its readers lock until ``IndexData.close()``
    (or until the data is collected), after checking every file against the manifest.
    Only the vector index, the filter columns and the BM25 vocabulary are read into memory;
    the rest is read on demand, always from this generation's folder."""
    lock = lock_current(index_dir)
    try:
        manifest = manifest_of(lock.path)
        if not lock.held:
            raise IndexDamagedError(lock.path / READERS_LOCK, "missing")
        verify_checksums(lock.path, manifest.checksums)
        data = _open_generation(lock.path, manifest)
    except BaseException:
        lock.release()
        raise
    data.lock = lock
    return data


def _open_generation(gen: Path, manifest: Manifest) -> IndexData:
    import faiss

    try:
        chunks = RecordStore(gen / "chunks.jsonl", chunk_from_json)
        documents = RecordStore(gen / "documents.jsonl", document_from_json)
        texts = TextStore(gen / "texts.jsonl")
        table = DocTable(**json.loads((gen / "doc_table.json").read_text(encoding="utf-8")),
                         chunk_doc=np.load(gen / "chunk_doc.npy"))
        vectors = faiss.read_index(str(gen / "vectors.faiss"))
        lexical = LexicalIndex.load(gen / "lexical")
        sentences = SentenceTable(RowFile(gen / "sentence_spans.npy"), np.load(gen / "sentence_ptr.npy"),
                                  RowFile(gen / "sentence_vectors.npy"), LazyJson(gen / "sentence_keys.json"))
        target_vectors = RowFile(gen / "target_vectors.npy")
    except (OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError) as e:
        raise IndexDamagedError(gen, f"cannot be read ({_one_line(e)})") from None
    n = len(chunks)
    if (vectors.ntotal != n or lexical.n_docs != n or len(sentences.ptr) != n + 1
            or len(table.chunk_doc) != n or len(documents) != len(table.doc_ids)):
        raise IndexDamagedError(gen, "its files disagree on the number of chunks or documents")
    return IndexData(manifest, chunks, documents, texts, vectors, LazyJson(gen / "embed_keys.json"), lexical,
                     sentences, LazyTargets(gen / "targets.json"), target_vectors,
                     LazyJson(gen / "target_keys.json"), gen, doc_table=table)


class LazyTargets(LazyJson):
    """The index's targets, decoded the first time they are used (compare)."""

    def _load(self) -> list:
        if self._items is None:
            self._items = targets_from_json(json.loads(self.path.read_text(encoding="utf-8")))
        return self._items


def check_model(manifest: Manifest, model_name: str, index_dir: Path) -> None:
    if manifest.model != model_name:
        raise IndexMismatchError(
            f"the index in {index_dir} was built with model {manifest.model!r}, not {model_name!r}; "
            f"search it with --model matching the index, or rebuild with 'policyqa index --rebuild --model ...'"
        )
