"""The persistent index: FAISS vectors, BM25 lexical index, chunk table, documents, source
texts and a manifest.

Layout of ``index_dir``::

    current -> gen-<stamp>/        symlink, swapped atomically (os.replace)
    gen-<stamp>/manifest.json      written last; a generation without it is never loaded
    gen-<stamp>/vectors.faiss
    gen-<stamp>/embed_keys.json    content hash of each chunk's embedded text (cache key)
    gen-<stamp>/sentences.npz      sentence spans, chunk→sentence pointers, float16 vectors
    gen-<stamp>/sentence_keys.json content hash of each sentence's embedded text
    gen-<stamp>/targets.json       quantitative targets (targets.py) with exact spans
    gen-<stamp>/target_vectors.npy vector of each target's indicator (query-side embedding)
    gen-<stamp>/target_keys.json   content hash of each indicator text
    gen-<stamp>/chunks.jsonl
    gen-<stamp>/documents.json
    gen-<stamp>/texts.json         decoded text of every source (citations open from here)
    gen-<stamp>/lexical/           bm25s files
    .lock                          held (flock) by the one process building

A build writes a whole new generation beside the serving one and swaps the symlink only
when every file is on disk, so an interrupted build leaves the previous index serving.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import IndexBusyError, IndexMismatchError, IndexMissingError
from .lexical import LexicalIndex
from .targets import Target, targets_from_json, targets_to_json
from .types import Block, Chunk, DocMeta, Document
from .vector_index import build_vector_index, describe as describe_vector_index  # noqa: F401 (re-exported)

FORMAT_VERSION = 2
CURRENT = "current"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model: str
    dim: int
    chunking: dict[str, int]
    corpus_fingerprint: str
    files: dict[str, dict[str, Any]]  # source -> {sha256, size, encoding, documents, chunks}
    skipped: list[dict[str, str]]  # [{source, reason}]
    n_documents: int
    n_chunks: int
    index_type: str
    created: float
    build_seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IndexData:
    manifest: Manifest
    chunks: list[Chunk]
    documents: list[Document]
    texts: dict[str, str]
    vectors: Any  # faiss.Index
    embed_keys: list[str]
    lexical: LexicalIndex
    sentences: "SentenceTable"
    targets: list[Target] = field(default_factory=list)
    target_vectors: np.ndarray | None = None
    target_keys: list[str] = field(default_factory=list)
    path: Path | None = None
    # Derived on first use by search.document_codes (chunk → document number).
    doc_codes: np.ndarray | None = field(default=None, repr=False)
    doc_first_chunk: list[int] = field(default_factory=list, repr=False)


@dataclass
class SentenceTable:
    """Sentences of every chunk with their vectors (for evidence scores and answers).

    ``spans[i] = (start, end)`` in the chunk's source; chunk ``c`` owns sentences
    ``ptr[c]:ptr[c + 1]``."""

    spans: np.ndarray  # (n, 2) int64
    ptr: np.ndarray  # (n_chunks + 1,) int64
    vectors: np.ndarray  # (n, dim) float16
    keys: list[str]

    def of_chunk(self, chunk_id: int) -> range:
        return range(int(self.ptr[chunk_id]), int(self.ptr[chunk_id + 1]))

    @classmethod
    def empty(cls, n_chunks: int, dim: int) -> "SentenceTable":
        return cls(np.zeros((0, 2), np.int64), np.zeros(n_chunks + 1, np.int64), np.zeros((0, dim), np.float16), [])


def corpus_fingerprint(file_hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for source in sorted(file_hashes):
        h.update(f"{source}\0{file_hashes[source]}\n".encode())
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
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = open(index_dir / ".lock", "a+")
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


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())


def write_index(index_dir: Path, data: IndexData) -> Path:
    """Write a new generation and make it current atomically. Returns its path."""
    import faiss

    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp = index_dir / f".{stamp}.tmp"
    tmp.mkdir()
    try:
        faiss.write_index(data.vectors, str(tmp / "vectors.faiss"))
        _write_json(tmp / "embed_keys.json", data.embed_keys)
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in data.chunks:
                f.write(json.dumps(chunk_to_json(c), ensure_ascii=False) + "\n")
        _write_json(tmp / "documents.json", [document_to_json(d) for d in data.documents])
        _write_json(tmp / "texts.json", data.texts)
        data.lexical.save(tmp / "lexical")
        st = data.sentences
        with open(tmp / "sentences.npz", "wb") as f:
            np.savez(f, spans=st.spans, ptr=st.ptr, vectors=st.vectors)
        _write_json(tmp / "sentence_keys.json", st.keys)
        _write_json(tmp / "targets.json", targets_to_json(data.targets))
        tv = data.target_vectors if data.target_vectors is not None else np.zeros((0, data.vectors.d), np.float32)
        with open(tmp / "target_vectors.npy", "wb") as f:
            np.save(f, tv.astype(np.float32))
        _write_json(tmp / "target_keys.json", data.target_keys)
        _write_json(tmp / "manifest.json", data.manifest.to_json())  # last: marks completeness
        final = index_dir / stamp
        os.rename(tmp, final)
        link_tmp = index_dir / f".{CURRENT}.{os.getpid()}.tmp"
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        os.symlink(stamp, link_tmp)
        os.replace(link_tmp, index_dir / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_old_generations(index_dir, keep=stamp)
    return final


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    for p in index_dir.iterdir():
        if p.name == keep or p.name == CURRENT or p.name == ".lock":
            continue
        if p.is_dir() and (p.name.startswith("gen-") or p.name.startswith(".gen-")):
            shutil.rmtree(p, ignore_errors=True)


# --- reading ------------------------------------------------------------------------


def current_generation(index_dir: Path) -> Path:
    link = index_dir / CURRENT
    target = link.resolve() if link.is_symlink() else None
    if target is None or not (target / "manifest.json").is_file():
        raise IndexMissingError(
            f"no index in {index_dir}: run 'policyqa index --corpus CORPUS --index-dir {index_dir}' first"
        )
    return target


def read_manifest(index_dir: Path) -> Manifest:
    gen = current_generation(index_dir)
    d = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    if d.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index in {index_dir} has format {d.get('format_version')}, this policyqa reads "
            f"{FORMAT_VERSION}: rebuild it with 'policyqa index --rebuild'"
        )
    return Manifest(**d)


def load_index(index_dir: Path) -> IndexData:
    import faiss

    manifest = read_manifest(index_dir)
    gen = current_generation(index_dir)
    with open(gen / "chunks.jsonl", encoding="utf-8") as f:
        chunks = [chunk_from_json(json.loads(line)) for line in f if line.strip()]
    documents = [document_from_json(d) for d in json.loads((gen / "documents.json").read_text(encoding="utf-8"))]
    texts = json.loads((gen / "texts.json").read_text(encoding="utf-8"))
    vectors = faiss.read_index(str(gen / "vectors.faiss"))
    keys = json.loads((gen / "embed_keys.json").read_text(encoding="utf-8"))
    lexical = LexicalIndex.load(gen / "lexical")
    with np.load(gen / "sentences.npz") as z:
        sentences = SentenceTable(z["spans"], z["ptr"], z["vectors"],
                                  json.loads((gen / "sentence_keys.json").read_text(encoding="utf-8")))
    if vectors.ntotal != len(chunks) or lexical.n_docs != len(chunks) or len(sentences.ptr) != len(chunks) + 1:
        raise IndexMismatchError(f"index in {index_dir} is inconsistent: rebuild it with 'policyqa index --rebuild'")
    targets = targets_from_json(json.loads((gen / "targets.json").read_text(encoding="utf-8")))
    target_vectors = np.load(gen / "target_vectors.npy")
    target_keys = json.loads((gen / "target_keys.json").read_text(encoding="utf-8"))
    return IndexData(manifest, chunks, documents, texts, vectors, keys, lexical, sentences,
                     targets, target_vectors, target_keys, gen)


def cached_vectors(data: IndexData | None) -> dict[str, np.ndarray]:
    """embed_key -> vector from an existing index, to skip re-embedding unchanged text."""
    if data is None or data.vectors.ntotal == 0:
        return {}
    mat = data.vectors.reconstruct_n(0, data.vectors.ntotal)
    cache = {k: mat[i] for i, k in enumerate(data.embed_keys)}
    sv = data.sentences.vectors.astype(np.float32)
    cache.update({k: sv[i] for i, k in enumerate(data.sentences.keys)})
    if data.target_vectors is not None:
        cache.update({k: data.target_vectors[i] for i, k in enumerate(data.target_keys)})
    return cache


def check_model(manifest: Manifest, model_name: str, index_dir: Path) -> None:
    if manifest.model != model_name:
        raise IndexMismatchError(
            f"the index in {index_dir} was built with model {manifest.model!r}, not {model_name!r}; "
            f"search it with --model matching the index, or rebuild with 'policyqa index --rebuild --model ...'"
        )
