"""The small public Python API shared by the CLI and the web app.

    from policyqa.config import load_settings
    from policyqa.api import Engine
    engine = Engine.open(load_settings(), build_if_needed=True)
    engine.search("学前教育毛入园率").hits[0].chunk.text
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .chunk import ChunkSettings
from .config import Settings
from .embed import Embedder, make_embedder
from .errors import IndexMissingError, PolicyQAError
from .chunk import sentence_spans
from .index import (
    FORMAT_VERSION,
    SentenceTable,
    IndexData,
    Manifest,
    build_lock,
    build_vector_index,
    cached_vectors,
    check_model,
    corpus_fingerprint,
    embed_key,
    load_index,
    read_manifest,
    write_index,
)
from .ingest import parse_corpus
from .lexical import LexicalIndex, normalise
from .loaders import iter_corpus_files, load_file
from .search import SearchParams, calibrated, passage_text, query_text, search
from .types import Answer, Chunk, Document, Filters, SearchResult

Progress = Callable[[str, float], None]


def chunk_settings(s: Settings) -> ChunkSettings:
    return ChunkSettings(size=s.chunk_size, max=s.chunk_max, min=s.chunk_min)


def search_params(s: Settings, k: int | None = None) -> SearchParams:
    return SearchParams(
        k=k or s.k,
        candidates=max(s.candidates, (k or s.k) * 3),
        rrf_k=s.rrf_k,
        dense_weight=s.dense_weight,
        lexical_weight=s.lexical_weight,
        abstain_cjk=s.abstain_cjk if s.abstain_cjk is not None else calibrated(s.model)[0],
        abstain_other=s.abstain_other if s.abstain_other is not None else calibrated(s.model)[1],
    )


def _chunking_json(s: Settings) -> dict[str, int]:
    return {"chunk_size": s.chunk_size, "chunk_max": s.chunk_max, "chunk_min": s.chunk_min}


@dataclass
class BuildSummary:
    documents: int
    chunks: int
    files: int
    skipped: list[dict[str, str]]
    embedded: int
    reused: int
    seconds: float
    embed_seconds: float
    index_dir: str
    up_to_date: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _noop(_msg: str, _frac: float) -> None:
    pass


def _embed_all(embedder: Embedder, texts: Sequence[str], batch: int, progress: Progress) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        out.append(embedder.embed_passages(texts[i : i + batch]))
        progress(f"embedding {min(i + batch, len(texts))}/{len(texts)} passages", min(i + batch, len(texts)) / max(len(texts), 1))
    return np.vstack(out) if out else np.zeros((0, embedder.dim), dtype=np.float32)


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


def _text_of(parsed, chunk_id: int, start: int, end: int) -> str:
    c = parsed.chunks[chunk_id]
    return c.text[start - c.start : end - c.start]


def _vectors_for(
    texts: Sequence[str], cache: dict[str, np.ndarray], embedder: Embedder, batch: int, progress: Progress
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``, embedding only those whose content hash is not cached."""
    keys = [embed_key(t) for t in texts]
    todo: list[int] = []
    seen: set[str] = set()
    for i, k in enumerate(keys):
        if k not in cache and k not in seen:
            todo.append(i)
            seen.add(k)
    fresh = _embed_all(embedder, [texts[i] for i in todo], batch, progress)
    lookup = dict(cache)
    lookup.update({keys[i]: fresh[row] for row, i in enumerate(todo)})
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = lookup[k]
    return out, len(todo)


def build_index(
    settings: Settings,
    embedder: Embedder,
    progress: Progress = _noop,
    previous: IndexData | None = None,
) -> BuildSummary:
    """Parse the corpus, embed (reusing vectors of unchanged passages) and write a new index
    generation atomically. Bad files are skipped and reported, never fatal."""
    t0 = time.perf_counter()
    with build_lock(settings.index_dir):
        progress("reading corpus", 0.0)
        parsed = parse_corpus(settings.corpus, chunk_settings(settings), settings.max_file_bytes,
                              on_file=lambda src: progress(f"parsed {src}", 0.0))
        texts = [passage_text(c) for c in parsed.chunks]
        sent_spans, sent_ptr = chunk_sentences(parsed.chunks)
        sent_texts = [normalise(_text_of(parsed, c, a, b)) for c, a, b in sent_spans]
        cache = cached_vectors(previous) if previous and previous.manifest.model == settings.model else {}
        t_embed = time.perf_counter()
        all_vecs, embedded = _vectors_for(texts + sent_texts, cache, embedder, settings.batch_size, progress)
        embed_seconds = time.perf_counter() - t_embed
        vectors, sent_vectors = all_vecs[: len(texts)], all_vecs[len(texts) :]
        keys = [embed_key(t) for t in texts]
        sentences = SentenceTable(
            spans=np.asarray([(a, b) for _, a, b in sent_spans], dtype=np.int64).reshape(-1, 2),
            ptr=np.asarray(sent_ptr, dtype=np.int64),
            vectors=sent_vectors.astype(np.float16),
            keys=[embed_key(t) for t in sent_texts],
        )
        progress("building lexical index", 1.0)
        lexical = LexicalIndex.build([c.text + "\n" + " ".join(c.heading_path[-1:]) for c in parsed.chunks])
        skipped = [{"source": e.source, "reason": e.reason} for e in parsed.skipped]
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            model=settings.model,
            dim=embedder.dim,
            chunking=_chunking_json(settings),
            corpus_fingerprint=corpus_fingerprint({f.source: f.sha256 for f in parsed.files}),
            files={
                f.source: {
                    "sha256": f.sha256, "size": f.size, "encoding": f.encoding,
                    "documents": sum(1 for d in parsed.documents if d.source == f.source),
                    "chunks": sum(1 for c in parsed.chunks if c.source == f.source),
                }
                for f in parsed.files
            },
            skipped=skipped,
            n_documents=len(parsed.documents),
            n_chunks=len(parsed.chunks),
            index_type="flat-ip",
            created=time.time(),
            build_seconds=round(time.perf_counter() - t0, 3),
        )
        data = IndexData(
            manifest=manifest, chunks=parsed.chunks, documents=parsed.documents,
            texts={f.source: f.text for f in parsed.files},
            vectors=build_vector_index(vectors, embedder.dim), embed_keys=keys, lexical=lexical,
            sentences=sentences,
        )
        write_index(settings.index_dir, data)
    return BuildSummary(
        documents=len(parsed.documents), chunks=len(parsed.chunks), files=len(parsed.files),
        skipped=skipped, embedded=embedded, reused=len(texts) + len(sent_texts) - embedded,
        seconds=round(time.perf_counter() - t0, 3), embed_seconds=round(embed_seconds, 3),
        index_dir=str(settings.index_dir),
    )


def corpus_state(settings: Settings) -> tuple[str, list[str]]:
    """Fingerprint of the readable corpus files (same rule as the build)."""
    hashes: dict[str, str] = {}
    for path in iter_corpus_files(settings.corpus):
        try:
            sf = load_file(path, settings.corpus, settings.max_file_bytes)
        except PolicyQAError:
            continue
        hashes[sf.source] = sf.sha256
    return corpus_fingerprint(hashes), sorted(hashes)


def index_is_current(settings: Settings) -> bool:
    try:
        m = read_manifest(settings.index_dir)
    except PolicyQAError:
        return False
    return (
        m.model == settings.model
        and m.chunking == _chunking_json(settings)
        and settings.corpus.is_dir()
        and m.corpus_fingerprint == corpus_state(settings)[0]
    )


@dataclass
class Engine:
    """A loaded index plus its embedder. Build with ``Engine.open``."""

    settings: Settings
    data: IndexData
    embedder: Embedder
    _doc_by_id: dict[str, Document] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        build_if_needed: bool = False,
        progress: Progress | None = None,
        embedder: Embedder | None = None,
    ) -> "Engine":
        progress = progress or _noop
        previous: IndexData | None = None
        try:
            previous = load_index(settings.index_dir)
        except IndexMissingError:
            if not build_if_needed:
                raise
        if previous is not None and previous.manifest.model != settings.model:
            if not build_if_needed:
                check_model(previous.manifest, settings.model, settings.index_dir)
            previous = None if build_if_needed else previous
        embedder = embedder or make_embedder(settings.model, settings.batch_size)
        if build_if_needed and (previous is None or not index_is_current(settings)):
            progress("building the index", 0.0)
            build_index(settings, embedder, progress, previous)
            previous = load_index(settings.index_dir)
        engine = cls(settings, previous, embedder)
        engine._doc_by_id = {d.doc_id: d for d in previous.documents}
        return engine

    def reload(self) -> None:
        self.data = load_index(self.settings.index_dir)
        self._doc_by_id = {d.doc_id: d for d in self.data.documents}

    # --- retrieval -------------------------------------------------------------
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_queries([query_text(t) for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_passages([query_text(t) for t in texts])

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        query = (query or "").strip()
        if not query:
            raise PolicyQAError("the query is empty: type a question or some keywords")
        qvec = self.embed_queries([query])[0]
        return search(self.data, qvec, query, search_params(self.settings, k), filters)

    def ask(self, question: str, filters: Filters | None = None) -> Answer:
        from .answer import EmbeddingScorer, build_answer

        result = self.search(question, filters=filters)
        scorer = EmbeddingScorer(self.embed_queries, self.embed_passages)
        return build_answer(question, result.hits, self.source_text, scorer, result.abstained)

    # --- documents -------------------------------------------------------------
    def source_text(self, source: str) -> str:
        try:
            return self.data.texts[source]
        except KeyError:
            raise PolicyQAError(f"no indexed document from {source!r}") from None

    def documents(self) -> list[Document]:
        return list(self.data.documents)

    def document(self, doc_id: str) -> Document:
        try:
            return self._doc_by_id[doc_id]
        except KeyError:
            raise PolicyQAError(f"no document {doc_id!r} in the index") from None

    def facets(self) -> dict[str, list]:
        docs = self.data.documents
        return {
            "doc_type": sorted({d.metadata.doc_type for d in docs if d.metadata.doc_type}),
            "year": sorted({d.metadata.year for d in docs if d.metadata.year}),
            "region": sorted({d.metadata.region for d in docs if d.metadata.region}),
            "doc": [(d.title, d.doc_id) for d in docs],
        }

    @property
    def manifest(self) -> Manifest:
        return self.data.manifest

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir
