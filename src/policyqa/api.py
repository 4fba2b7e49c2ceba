"""The small public Python API shared by the CLI and the web app.

    from policyqa.config import load_settings
    from policyqa.api import Engine
    engine = Engine.open(load_settings(), build_if_needed=True)
    engine.search("学前教育毛入园率").hits[0].chunk.text
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from queue import Queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .chunk import ChunkSettings
from .config import Settings
from .embed import Embedder, ThreadLimit, make_embedder
from .errors import IndexFormatError, IndexMissingError, PolicyQAError
from .chunk import sentence_spans
from .index import (
    FORMAT_VERSION,
    SentenceTable,
    IndexData,
    Manifest,
    build_lock,
    build_vector_index,
    cached_vectors,
    doc_table,
    describe_vector_index,
    check_model,
    corpus_fingerprint,
    embed_key,
    load_index,
    read_manifest,
    write_index,
)
from .glossary import Glossary, Phrase, Thesaurus, Translation
from .ingest import ParsedCorpus, parse_corpus
from .lexical import WORD_TOKEN, LexicalIndex, normalise
from .loaders import iter_corpus_files, source_name
from .search import (OFF_TOPIC_MARGIN, SearchParams, calibrated, evidence_vector, expand,
                     is_cjk_query, is_off_topic, lexical_side, lexical_text, passage_text, query_text,
                     question_words, search, translate, unknown_words, without_words)
from .targets import extract_all, indicator_text
from .types import Answer, Chunk, Document, Filters, Hit, SearchResult

if TYPE_CHECKING:
    from .answer import KeyTerms

log = logging.getLogger(__name__)

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


def _noop(_msg: str, _frac: float) -> None:
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


# Texts waiting before the stream embeds them: enough for well-sorted batches (little
# padding), few enough that embedding starts while the corpus is still being parsed.
EMBED_FLUSH_AT = 1024


class EmbedStream:
    """Texts to embed, fed while the corpus is still being parsed (in another thread) and
    embedded in batches of similar length whenever ``flush_at`` of them wait, so parsing
    and embedding overlap. A text whose content hash is cached (``cache()``, read from the
    previous index on first need) or already embedded is not embedded again."""

    def __init__(self, embedder: Embedder, batch: int, cache: Callable[[], dict[str, np.ndarray]],
                 progress: Progress, flush_at: int = EMBED_FLUSH_AT):
        self.embedder, self.batch, self.progress, self.flush_at = embedder, batch, progress, flush_at
        self._load_cache = cache
        self._cache: dict[str, np.ndarray] | None = None
        self.fresh: dict[str, np.ndarray] = {}
        self.pending: dict[str, str] = {}
        self.seconds = 0.0
        self.parsed_share = 0.0  # share of corpus files parsed so far (progress)

    @property
    def cache(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            self._cache = self._load_cache()
        return self._cache

    def add(self, texts: Sequence[str]) -> None:
        cache = self.cache
        for t in texts:
            k = embed_key(t)
            if k not in cache and k not in self.fresh and k not in self.pending:
                self.pending[k] = t
        if len(self.pending) >= self.flush_at:
            self.flush()

    def flush(self) -> None:
        """Embed everything waiting, shortest first."""
        order = sorted(self.pending, key=lambda k: len(self.pending[k]))
        t0 = time.perf_counter()
        for i in range(0, len(order), self.batch):
            part = order[i : i + self.batch]
            self.fresh.update(zip(part, self.embedder.embed_passages([self.pending[k] for k in part])))
            done, total = len(self.fresh), len(self.fresh) + len(order) - i - len(part)
            self.progress(f"embedding {done}/{total} passages and sentences",
                          min(self.parsed_share, done / max(total, 1)))
        self.pending.clear()
        self.seconds += time.perf_counter() - t0

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts`` (embedding any not seen yet)."""
        keys = [embed_key(t) for t in texts]
        cache = self.cache
        for t, k in zip(texts, keys):
            if k not in self.fresh and k not in cache:
                self.pending[k] = t
        if self.pending:
            self.flush()
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = self.fresh[k] if k in self.fresh else cache[k]
        return out


_PARSE_DONE = object()


class _BuildCancelled(Exception):
    """Stops the parsing thread when embedding failed."""


def _parse_while_embedding(settings: Settings, previous: IndexData | None, stream: EmbedStream,
                           progress: Progress) -> ParsedCorpus:
    """Parse the corpus in a worker thread while this thread embeds the chunks of the files
    parsed so far (reused files' chunks are cached already and not queued). Progress is
    reported from this thread only (a web page's progress object belongs to its request)."""
    n_files = max(sum(1 for _ in iter_corpus_files(settings.corpus)), 1) if settings.corpus.is_dir() else 1
    queue: Queue = Queue()  # unbounded: parsing never waits for embedding
    result: dict[str, object] = {}
    cancelled = threading.Event()

    def on_chunks(chunks: list[Chunk], reused: bool) -> None:
        if cancelled.is_set():
            raise _BuildCancelled()
        queue.put((chunks[0].source, None if reused else chunks))

    def produce() -> None:
        try:
            result["parsed"] = parse_corpus(settings.corpus, chunk_settings(settings), settings.max_file_bytes,
                                            reuse=_reuse_from(previous, settings), on_chunks=on_chunks)
        except BaseException as e:  # re-raised in the building thread
            result["error"] = e
        finally:
            queue.put(_PARSE_DONE)

    worker = threading.Thread(target=produce, name="policyqa-parse", daemon=True)
    worker.start()
    parsed_files = 0
    try:
        while (item := queue.get()) is not _PARSE_DONE:
            source, chunks = item
            parsed_files += 1
            stream.parsed_share = parsed_files / n_files
            progress(f"parsed {source}", 0.0)
            if chunks is not None:
                stream.add(embedded_texts(chunks))
    except BaseException:
        cancelled.set()  # the parser stops at its next file
        raise
    worker.join()
    stream.parsed_share = 1.0
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["parsed"]  # type: ignore[return-value]


def _query_key(text: str) -> str:
    """Cache key of a text embedded on the query side (indicators of targets)."""
    return embed_key("query\0" + text)


def _query_vectors_for(texts: Sequence[str], cache: dict[str, np.ndarray], embedder: Embedder, batch: int) -> np.ndarray:
    keys = [_query_key(t) for t in texts]
    todo = sorted({t for t, k in zip(texts, keys) if k not in cache}, key=len)
    fresh = {}
    for i in range(0, len(todo), batch):
        part = todo[i : i + batch]
        fresh.update({_query_key(t): v for t, v in zip(part, embedder.embed_queries([query_text(x) for x in part]))})
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = fresh[k] if k in fresh else cache[k]
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
        if old and old["sha256"] == sf.sha256 and sf.source in chunks:
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
                "indexed_at": time.time(),
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


def _changes(previous: IndexData | None, parsed: ParsedCorpus) -> tuple[list[str], list[str], list[str]]:
    old = previous.manifest.files if previous else {}
    new = {f.source: f.sha256 for f in parsed.files}
    added = sorted(s for s in new if s not in old)
    updated = sorted(s for s in new if s in old and old[s]["sha256"] != new[s])
    removed = sorted(s for s in old if s not in new)
    return added, updated, removed


def build_index(
    settings: Settings,
    embedder: Embedder,
    progress: Progress = _noop,
    previous: IndexData | None = None,
) -> BuildSummary:
    """Parse the corpus (reusing unchanged files), embed (reusing vectors of unchanged
    passages and sentences) and write a new index generation atomically. Bad files are
    skipped and reported, never fatal. Nothing is written when nothing changed."""
    t0 = time.perf_counter()
    if previous is not None and previous.manifest.model != settings.model:
        previous = None
    with build_lock(settings.index_dir):
        progress("reading corpus", 0.0)
        stream = EmbedStream(embedder, settings.batch_size, lambda: cached_vectors(previous), progress,
                             flush_at=EMBED_FLUSH_AT)
        parsed = _parse_while_embedding(settings, previous, stream, progress)
        added, updated, removed = _changes(previous, parsed)
        skipped = [_skipped_entry(settings.corpus, e) for e in parsed.skipped]
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
        embedded, embed_seconds = len(stream.fresh), stream.seconds
        cache = stream.cache
        progress("extracting targets", 1.0)
        targets = extract_all(parsed.documents, {f.source: f.text for f in parsed.files})
        target_texts = [indicator_text(t) for t in targets]
        target_vectors = _query_vectors_for(target_texts, cache, embedder, settings.batch_size)
        progress("building vector index", 1.0)
        vectors = build_vector_index(all_vecs[: len(texts)], embedder.dim)
        progress("building lexical index", 1.0)
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
        write_index(settings.index_dir, data)
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
    try:
        state = _raw_state(corpus / error.source)
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
    seen: set[str] = set()
    for path in iter_corpus_files(settings.corpus):
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
        and _unchanged_files(settings, {**{k["source"]: k for k in m.skipped}, **m.files})
    )


@dataclass
class Engine:
    """A loaded index plus its embedder. Build with ``Engine.open``."""

    settings: Settings
    data: IndexData
    embedder: Embedder
    _query_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _target_index: object = field(default=None, repr=False)
    _target_index_data: object = field(default=None, repr=False)
    # Runs the lexical side of a search while the query is embedded (one per engine).
    _lexical_worker: ThreadPoolExecutor | None = field(default=None, repr=False)
    _embed_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _search_threads: ThreadLimit | None = field(default=None, repr=False)
    # Query dictionaries (glossary, thesaurus), each read on first use; None when it cannot be.
    _dictionaries: dict[str, object] = field(default_factory=dict, repr=False)
    _dictionaries_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def glossary(self) -> Glossary | None:
        """The English→Chinese glossary for translating English queries (read on first
        use, ≈1 s); None when Settings.translate_queries is off, or when the dictionary
        cannot be read (logged once: English queries then use the dense side alone)."""
        if not self.settings.translate_queries:
            return None
        return self._dictionary("glossary", lambda: self._with_extra(Glossary.load),
                                "English queries are not translated")

    def thesaurus(self) -> Thesaurus | None:
        """Everyday Chinese → official words, for expanding Chinese queries; None when
        Settings.expand_queries is off or it cannot be read (logged once)."""
        if not self.settings.expand_queries:
            return None
        return self._dictionary("thesaurus", lambda: self._with_extra(Thesaurus.load),
                                "everyday Chinese words are not expanded")

    def _dictionary(self, name: str, load: Callable[[], object], failing: str):
        """``load()`` once per engine; when it fails, None and one warning ("``failing``: why")."""
        with self._dictionaries_lock:
            if name not in self._dictionaries:
                try:
                    self._dictionaries[name] = load()
                except (PolicyQAError, OSError, UnicodeDecodeError) as e:
                    self._dictionaries[name] = None
                    log.warning("%s: %s", failing, e)
            return self._dictionaries[name]

    def _with_extra(self, load: Callable[..., object]) -> object:
        """``load(extra=[Settings.glossary])``; a broken Settings.glossary file is logged and
        left out."""
        extra = self.settings.glossary
        if extra is not None:
            try:
                return load(extra=[extra])
            except (PolicyQAError, UnicodeDecodeError) as e:
                log.warning("glossary %s is not used: %s", extra, e)
        return load()

    def expansion(self, query: str) -> tuple[Phrase, ...]:
        """A Chinese query's everyday expressions with the official words of this index for
        them (empty for other queries, with expand_queries off, or when none is found)."""
        thesaurus = self.thesaurus() if is_cjk_query(query) else None
        return expand(self.data, query, thesaurus) if thesaurus is not None else ()

    def translation(self, query: str) -> Translation | None:
        """An English query's glossary translation over this index (None for a CJK query,
        with translate_queries off, or when nothing translates)."""
        glossary = None if is_cjk_query(query) else self.glossary()
        if glossary is None:
            return None
        tr = translate(self.data, query, glossary)
        return tr if tr.phrases else None

    def limit_threads(self):
        """Context limiting OpenMP threads for the query side (Settings.search_threads)."""
        if self._search_threads is None:
            self._search_threads = ThreadLimit(self.settings.search_threads)
        return self._search_threads()

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
        except (IndexMissingError, IndexFormatError):
            if not build_if_needed:
                raise
            progress("the index is missing or from another version: building it from the corpus", 0.0)
        if previous is not None and previous.manifest.model != settings.model:
            if not build_if_needed:
                check_model(previous.manifest, settings.model, settings.index_dir)
            previous = None if build_if_needed else previous
        embedder = embedder or make_embedder(settings.model, settings.batch_size)
        if build_if_needed and (previous is None or not index_is_current(settings)):
            progress("building the index", 0.0)
            build_index(settings, embedder, progress, previous)
            previous = load_index(settings.index_dir)
        return cls(settings, previous, embedder)

    def reload(self) -> None:
        self.data = load_index(self.settings.index_dir)

    # --- library ---------------------------------------------------------------
    def reindex(self, progress: Progress | None = None) -> BuildSummary:
        """Bring the index up to date with the corpus folder (incrementally) and serve the
        new index. On failure the current index keeps serving."""
        summary = build_index(self.settings, self.embedder, progress or _noop, self.data)
        if not summary.up_to_date:
            self.reload()
        return summary

    def add_file(self, filename: str, data: bytes) -> str:
        """Save an uploaded file into the corpus folder (name sanitised); call ``reindex``."""
        from .library import add_file

        return add_file(self.settings.corpus, filename, data, self.settings.max_file_bytes)

    def remove_source(self, source: str) -> None:
        """Delete a corpus file; call ``reindex`` to drop it from the index."""
        from .library import remove_file

        remove_file(self.settings.corpus, source)

    def library(self) -> list[dict]:
        """One row per indexed document with its metadata and file information."""
        files = self.data.manifest.files
        counts = doc_table(self.data).chunks_per_document()
        return [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, **d.metadata.as_dict(),
             "chunks": int(counts[i]), "indexed_at": files.get(d.source, {}).get("indexed_at")}
            for i, d in enumerate(self.data.documents)
        ]

    # --- retrieval -------------------------------------------------------------
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_queries([query_text(t) for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_passages([query_text(t) for t in texts])

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        query = (query or "").strip()
        if not query:
            raise PolicyQAError("the query is empty: type a question or some keywords")
        data = self.data
        if self._lexical_worker is None:
            self._lexical_worker = ThreadPoolExecutor(max_workers=2, thread_name_prefix="policyqa-lexical")
        # BM25 does not need the query vector: score it while the query is embedded.
        cjk = is_cjk_query(query)
        glossary, thesaurus = (None, self.thesaurus()) if cjk else (self.glossary(), None)
        params = search_params(self.settings, k)
        lexical = self._lexical_worker.submit(lexical_side, data, query, glossary, thesaurus, params.expansion_weight)
        with self.limit_threads():
            qvec = self.query_vector(query)
            return search(data, qvec, query, params, filters, lexical.result())

    def off_topic(self, result: SearchResult, expansion: tuple[Phrase, ...] | None = None) -> bool:
        """Whether a CJK question's words that the corpus never uses are what its top
        evidence lacks (search.is_off_topic), for models with a measured margin. Costs a
        second query embedding, so ``ask`` checks it and ``search`` does not: a result list
        may show the nearest passages, an answer must not assert them. ``expansion`` is
        ``self.expansion(result.query)`` when the caller has it already."""
        margin = OFF_TOPIC_MARGIN.get(self.settings.model)
        if margin is None or result.abstained or not result.hits or not is_cjk_query(result.query):
            return False
        if expansion is None:
            expansion = self.expansion(result.query)
        expressions = [p.term for p in expansion]
        # an everyday word the thesaurus knows the documents' words for is not missing
        words = [w for w in unknown_words(self.data, result.query) if not any(w in e or e in w for e in expressions)]
        reduced = without_words(result.query, words) if words else ""
        evidence = evidence_vector(self.data, result.hits[0])
        if not reduced.strip() or evidence is None:
            return False
        with self.limit_threads():
            return is_off_topic(evidence, self.query_vector(result.query), self.query_vector(reduced), margin)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's vector, cached (ask and search of one question embed it once)."""
        key = query_text(query)
        vec = self._query_cache.get(key)
        if vec is None:
            with self._embed_lock:  # one model instance: concurrent searches take turns
                vec = self.embedder.embed_queries([key])[0]
                self._query_cache[key] = vec
                while len(self._query_cache) > 256:
                    self._query_cache.pop(next(iter(self._query_cache)))
        return vec

    def forget_queries(self) -> None:
        """Drop cached query vectors (benchmarks measure with query embedding included)."""
        self._query_cache.clear()

    def ask(self, question: str, filters: Filters | None = None) -> Answer:
        from .answer import build_answer

        result = self.search(question, filters=filters)
        expansion = self.expansion(question)
        declined = result.abstained or self.off_topic(result, expansion)
        with self.limit_threads():  # (the scorer may embed a few sentences)
            return build_answer(question, result.hits, self.source_text, IndexedScorer(self, result.hits),
                                declined,
                                term_weights=IndexedTermWeights(self.data.lexical, self.translation(question),
                                                                expansion))

    # --- targets and precedents --------------------------------------------------
    def target_index(self):
        """The targets of the loaded index, tied to its sentences (built once per index)."""
        from .targets import TargetIndex

        if self._target_index_data is not self.data:
            self._target_index = TargetIndex.build(self, targets=self.data.targets,
                                                   indicator_vectors=self.data.target_vectors)
            self._target_index_data = self.data
        return self._target_index

    def compare(self, topic: str, max_rows: int = 20):
        """One row per document on ``topic``: how it phrases its target (targets.compare)."""
        from .targets import compare

        return compare(self, topic, max_rows, index=self.target_index())

    def precedents(self, text: str, k: int = 10, exclude_self: bool = True):
        """Passages of other plans most like a draft, grouped by document."""
        from .precedents import find_precedents

        return find_precedents(self, text, k, exclude_self)

    # --- documents -------------------------------------------------------------
    def source_text(self, source: str) -> str:
        try:
            return self.data.texts[source]
        except KeyError:
            raise PolicyQAError(f"no indexed document from {source!r}") from None

    def documents(self) -> list[Document]:
        return list(self.data.documents)

    def document(self, doc_id: str) -> Document:
        number = doc_table(self.data).number.get(doc_id)
        if number is None:
            raise PolicyQAError(f"no document {doc_id!r} in the index")
        return self.data.documents[number]

    def facets(self) -> dict[str, list]:
        t = doc_table(self.data)
        return {
            "doc_type": sorted({v for v in t.doc_types if v}),
            "year": sorted({v for v in t.years if v}),
            "region": sorted({v for v in t.regions if v}),
            "doc": [(d.title, d.doc_id) for d in self.data.documents],
        }

    @property
    def manifest(self) -> Manifest:
        return self.data.manifest

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir


@dataclass
class IndexedScorer:
    """Question↔sentence similarity for the answer engine, from the precomputed vectors of
    the hits' sentences (read row by row from the sentence table). The answer splits
    sentences at line breaks too, so a sentence it quotes may be part of an indexed one
    (a heading line and the sentence under it): it is scored by the indexed sentence that
    contains it, or else by one it contains (the index also splits at "…"). Only a
    sentence with neither is embedded (the slow step, ≈25 ms each), at most ``max_embed``
    per question."""

    engine: Engine
    hits: Sequence[Hit] = ()
    max_embed: int = 8

    def _indexed(self) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """Content key → sentence-table row, and (folded text, row) of every sentence of
        the hits' chunks."""
        st = self.engine.data.sentences
        rows: dict[str, int] = {}
        texts: list[tuple[str, int]] = []
        for h in self.hits:
            c = h.chunk
            for r in st.of_chunk(c.chunk_id):
                a, b = (int(x) for x in st.spans[r])
                folded = normalise(c.text[a - c.start : b - c.start])
                rows.setdefault(embed_key(folded), r)
                texts.append((folded, r))
        return rows, texts

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        q = self.engine.query_vector(question)
        rows, texts = self._indexed()
        table = self.engine.data.sentences.vectors
        found: list[int | None] = []
        for s in sentences:
            folded = normalise(s)
            row = rows.get(embed_key(folded))
            if row is None and folded.strip():  # part of an indexed sentence, or holding one
                row = next((r for t, r in texts if folded.strip() in t), None)
                row = row if row is not None else next((r for t, r in texts if t.strip() and t in folded), None)
            found.append(row)
        sims = [float(np.asarray(table[r], dtype=np.float32) @ q) if r is not None else None for r in found]
        missing = [i for i, v in enumerate(sims) if v is None][: self.max_embed]
        if missing:
            vecs = self.engine.embed_passages([sentences[i] for i in missing])
            for i, v in zip(missing, vecs):
                sims[i] = float(v @ q)
        floor = min((v for v in sims if v is not None), default=0.0)
        return [floor if v is None else v for v in sims]


@dataclass
class IndexedTermWeights:
    """The answer engine's key terms of a question: its jieba words (question words
    dropped first), each weighted by its BM25 IDF over the indexed passages, so that a
    rare word (校车, 章程) counts for more than a common one (学校, 工作). Words no passage
    contains weigh nothing: they cannot tell sentences apart. Only words, not the lexical
    index's character bigrams: a bigram across two words (划创 in 计划创建) is rare and
    would weigh as much as a real rare word. An English question's key terms are the
    Chinese words its glossary translation gives (when a ``translation`` is at hand)."""

    lexical: LexicalIndex
    translation: Translation | None = None
    expansion: tuple[Phrase, ...] = ()  # a Chinese question's everyday expressions, in official words

    def key_terms(self, question: str) -> KeyTerms:
        """For a translated question, one concept per English phrase: its Chinese words
        are synonyms worth the phrase's weight. Otherwise ``weights`` grouped as usual,
        plus one such concept per everyday expression the thesaurus expanded."""
        from .answer import KeyTerms

        if self.translation is None:
            return KeyTerms.from_weights(self.weights(question)).with_synonyms(
                [(p.term, p.chinese, p.weight) for p in self.expansion])
        return KeyTerms.synonyms([(p.chinese, p.weight) for p in self.translation.phrases])

    def weights(self, question: str) -> dict[str, float]:
        words = self.translation.words if self.translation is not None else question_words(question)
        idf = {w: self.lexical.idf(WORD_TOKEN + w) for w in words}
        return {w: v for w, v in idf.items() if v > 0}
