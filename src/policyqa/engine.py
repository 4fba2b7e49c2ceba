"""The engine: a loaded index plus its embedder, answering search, ask, compare and
precedents. It embeds queries and hands the vectors, with the index data, to the stage
functions (``search.search``, ``answer.build_answer``, ``targets.compare``,
``precedents.find_precedents``), which never see the engine. Every public call answers from
one snapshot of the index (``Engine.data``); how the engine opens its index and switches to a
newer generation is in ``served_index``.

    from policyqa.config import load_settings
    from policyqa.engine import Engine
    with Engine.open(load_settings(), build_if_needed=True) as engine:
        engine.search("学前教育毛入园率").hits[0].chunk.text
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .answer import build_answer
from .answer_index import IndexedScorer, IndexedTermWeights
from .build import BuildSummary, Progress, build_index
from .compare import CompareTable, TargetIndex, checked_topic, compare, indicator_text
from .config import Settings
from .embed import Embedder, ThreadLimit
from .errors import PolicyQAError
from .followup import standalone
from .generate import StreamEvent, stream_answer
from .glossary import Glossary, Phrase, Thesaurus, Translation
from .index import IndexData, Manifest, load_index, tidy_index
from .library import add_file, remove_file
from .ocr import OCR_CACHE
from .page_view import PageRegion, page_region
from .llm import ChatBackend, chat_backend
from .precedents import Draft, PrecedentResults, find_precedents
from .calibration import Calibration, calibration_for
from .query_dictionaries import QueryDictionaries, load_with_extra
from .query_embed import QueryVectors, embed_in_turns, model_input
from .rerank import RerankBackend, rerank_backend, reranked
from .search import (SearchParams, evidence_vector, expand, is_off_topic, lexical_side, search, translate, unknown_words,
                     without_words)
from .served_index import no_progress, open_index, switch_if_changed
from .targets import extract_all
from .text import compare_topic, is_cjk_query
from .types import Answer, Document, Filters, Hit, SearchResult


def calibration(s: Settings) -> Calibration:
    """The calibration of this configuration: the embedding model, and the reranker if one is set."""
    return calibration_for(s.model, s.rerank_model if s.rerank_url else None)


def rerank_threshold(s: Settings) -> float | None:
    return s.abstain_rerank if s.abstain_rerank is not None else calibration(s).abstain_rerank


def search_params(s: Settings, k: int | None = None) -> SearchParams:
    return SearchParams(
        k=k or s.k,
        candidates=max(s.candidates, (k or s.k) * 3),
        rrf_k=s.rrf_k,
        dense_weight=s.dense_weight,
        lexical_weight=s.lexical_weight,
        abstain_cjk=s.abstain_cjk if s.abstain_cjk is not None else calibration(s).abstain_cjk,
        abstain_other=s.abstain_other if s.abstain_other is not None else calibration(s).abstain_other,
    )


def checked_length(text: str, limit: int, what: str) -> str:
    """``text`` unless it is longer than ``limit`` characters (then a clear error)."""
    if len(text) > limit:
        raise PolicyQAError(f"the {what} is {len(text):,} characters long; the limit is {limit:,}: "
                            f"shorten it (or raise the max_{'draft' if what == 'draft' else 'query'}_chars setting)")
    return text


def _where(hit: Hit) -> int:
    """Where a hit is on its page: its best sentence, else the passage's start."""
    return hit.evidence_span[0] if hit.evidence_span else hit.chunk.start


def _with_pages(answer: Answer, data: IndexData) -> Answer:
    """``answer`` with each citation's page (PDFs and scans; None for other files)."""
    cited = tuple(replace(c, page=data.page(c.source, c.start)) for c in answer.citations)
    return replace(answer, citations=cited)


@dataclass
class Engine:
    """A loaded index plus its embedder. Build with ``Engine.open``; ``close()`` (or a
    ``with`` block) stops its worker thread."""

    settings: Settings
    _data: IndexData
    embedder: Embedder
    chat: ChatBackend | None = None  # a chat model writes the answers (verified), when configured
    reranker: RerankBackend | None = None  # reorders the top candidates, when configured
    _queries: QueryVectors = field(default_factory=QueryVectors, repr=False)
    _targets: tuple[IndexData, TargetIndex] | None = field(default=None, repr=False)
    # Runs the lexical side of a search while the query is embedded.
    _lexical_worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="policyqa-lexical"), repr=False)
    _embed_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _checked_at: float = field(default=0.0, repr=False)
    _search_threads: ThreadLimit | None = field(default=None, repr=False)
    # Query dictionaries (glossary, thesaurus), each read on first use.
    _dictionaries: QueryDictionaries = field(default_factory=QueryDictionaries, repr=False)

    # --- lifecycle ---------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, build_if_needed: bool = False, progress: Progress | None = None,
             embedder: Embedder | None = None, like: "Engine | None" = None) -> "Engine":
        """Open the index in ``settings.index_dir``; with ``build_if_needed``, build or
        update it from ``settings.corpus`` first (a missing, outdated or other-format index
        is rebuilt; a damaged one is reported: ``policyqa index`` repairs it). ``like``: an
        engine whose model (and the lock queries take turns on it with) this one shares."""
        data, embedder = open_index(settings, build_if_needed, progress or no_progress,
                                    like.embedder if like is not None else embedder)
        engine = cls(settings, data, embedder, chat=chat_backend(settings),
                     reranker=rerank_backend(settings), _checked_at=time.monotonic())
        if like is not None:
            engine._embed_lock = like._embed_lock
        return engine

    def close(self) -> None:
        """Stop the worker thread, close the index files and release the generation."""
        self._lexical_worker.shutdown(wait=True)
        self._targets = None
        self._data.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def data(self) -> IndexData:
        """The index data to answer one request from. Switches to a generation another
        process wrote (checked at most every ``reload_check_seconds``); while the new one
        opens, the old one keeps answering."""
        now = time.monotonic()
        if now - self._checked_at >= self.settings.reload_check_seconds:
            self._checked_at = now
            switch_if_changed(self._data, self.settings.index_dir, self._reload_lock, self.reload)
        return self._data

    def reload(self) -> None:
        """Open the current generation now. The previous data is left to whoever still
        holds it (its files and its generation's lock are released when the last request
        using it is done)."""
        self._data = load_index(self.settings.index_dir)
        self._targets = None  # (held the previous data)
        self._checked_at = time.monotonic()

    def generation(self) -> str | None:
        """The name of the generation being served (None for an index held in memory)."""
        path = self.data.path
        return path.name if path is not None else None

    @property
    def manifest(self) -> Manifest:
        return self.data.manifest

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    # --- query dictionaries ------------------------------------------------------
    def glossary(self) -> Glossary | None:
        """The English→Chinese glossary for translating English queries (read on first
        use, ≈1 s); None when Settings.translate_queries is off, or when the dictionary
        cannot be read (logged once: English queries then use the dense side alone)."""
        if not self.settings.translate_queries:
            return None
        return self._dictionaries.get("glossary", lambda: load_with_extra(Glossary.load, self.settings.glossary),
                                      "English queries are not translated")

    def thesaurus(self) -> Thesaurus | None:
        """Everyday Chinese → official words, for expanding Chinese queries; None when
        Settings.expand_queries is off or it cannot be read (logged once)."""
        if not self.settings.expand_queries:
            return None
        return self._dictionaries.get("thesaurus", lambda: load_with_extra(Thesaurus.load, self.settings.glossary),
                                      "everyday Chinese words are not expanded")

    def expansion(self, query: str, data: IndexData | None = None) -> tuple[Phrase, ...]:
        """A Chinese query's everyday expressions with the official words of this index for
        them (empty for other queries, with expand_queries off, or when none is found)."""
        thesaurus = self.thesaurus() if is_cjk_query(query) else None
        return expand(data or self.data, query, thesaurus) if thesaurus is not None else ()

    def translation(self, query: str, data: IndexData | None = None) -> Translation | None:
        """An English query's glossary translation over this index (None for a CJK query,
        with translate_queries off, or when nothing translates)."""
        glossary = None if is_cjk_query(query) else self.glossary()
        if glossary is None:
            return None
        tr = translate(data or self.data, query, glossary)
        return tr if tr.phrases else None

    def limit_threads(self):
        """Context limiting OpenMP threads for the query side (Settings.search_threads)."""
        if self._search_threads is None:
            self._search_threads = ThreadLimit(self.settings.search_threads)
        return self._search_threads()

    # --- library -----------------------------------------------------------------
    def reindex(self, progress: Progress | None = None) -> BuildSummary:
        """Bring the index up to date with the corpus folder (incrementally) and serve the
        new index. On failure the current index keeps serving."""
        summary = build_index(self.settings, self.embedder, progress or no_progress, self.data)
        if not summary.up_to_date:
            self.reload()
            tidy_index(self.settings.index_dir)  # the previous generation, unless a request still reads it
        return summary

    def add_file(self, filename: str, data: bytes) -> str:
        """Save an uploaded file into the corpus folder (name sanitised; an existing name is
        kept and the upload saved as 名称(2).docx); returns the name saved; call ``reindex``."""
        return add_file(self.settings.corpus, filename, data, self.settings.max_file_bytes)

    def remove_source(self, source: str) -> None:
        """Delete a corpus file; call ``reindex`` to drop it from the index."""
        remove_file(self.settings.corpus, source)

    def library(self) -> list[dict]:
        """One row per indexed document with its metadata and file information."""
        data = self.data
        files = data.manifest.files
        counts = data.table().chunks_per_document()
        return [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, **d.metadata.as_dict(),
             "chunks": int(counts[i]), "indexed_at": files.get(d.source, {}).get("indexed_at")}
            for i, d in enumerate(data.documents)
        ]

    # --- embedding ---------------------------------------------------------------
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed_queries([model_input(t) for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embeds in small batches, taking the model lock per batch (a long draft lets
        other users' queries in between)."""
        return embed_in_turns(self.embedder.embed_passages, self._embed_lock, texts)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's vector, cached."""
        key = model_input(query)
        vec = self._queries.get(key)
        if vec is None:
            with self._embed_lock:  # one model instance: concurrent searches take turns
                vec = self.embedder.embed_queries([key])[0]
            self._queries.put(key, vec)
        return vec

    def forget_queries(self) -> None:
        """Drop cached query vectors (benchmarks measure with query embedding included)."""
        self._queries.clear()

    # --- retrieval and answers -----------------------------------------------------
    def _query(self, query: str) -> str:
        query = (query or "").strip()
        if not query:
            raise PolicyQAError("the query is empty: type a question or some keywords")
        return checked_length(query, self.settings.max_query_chars, "query")

    def search(self, query: str, k: int | None = None, filters: Filters | None = None) -> SearchResult:
        """Ranked passages; ``abstained`` is the same verdict ``ask`` declines on (the nearest
        passages are still returned, for a result list to show below a "not covered" note)."""
        data = self.data
        query = self._query(query)
        result = self._verdict(self._search(data, query, k, filters), data)
        return replace(result, hits=tuple(replace(h, page=data.page(h.chunk.source, _where(h))) for h in result.hits))

    def _verdict(self, result: SearchResult, data: IndexData, expansion: tuple[Phrase, ...] | None = None) -> SearchResult:
        if result.abstained or not self.off_topic(result, expansion, data):
            return result
        return replace(result, abstained=True)

    def _search(self, data: IndexData, query: str, k: int | None, filters: Filters | None) -> SearchResult:
        if k is not None and k <= 0:
            raise PolicyQAError(f"k must be a positive number of results (got {k})")
        # BM25 does not need the query vector: score it while the query is embedded.
        cjk = is_cjk_query(query)
        glossary, thesaurus = (None, self.thesaurus()) if cjk else (self.glossary(), None)
        wanted = k or self.settings.k
        params = search_params(self.settings, max(wanted, self.reranker.candidates) if self.reranker else k)
        lexical = self._lexical_worker.submit(lexical_side, data, query, glossary, thesaurus, params.expansion_weight)
        with self.limit_threads():
            qvec = self.query_vector(query)
            result = search(data, qvec, query, params, filters, lexical.result())
        if not self.reranker:
            return result
        return reranked(result, self.reranker, wanted, rerank_threshold(self.settings))

    def off_topic(self, result: SearchResult, expansion: tuple[Phrase, ...] | None = None,
                  data: IndexData | None = None) -> bool:
        """Whether a CJK question's words that the corpus never uses are what its top
        evidence lacks (search.is_off_topic), for models with a measured margin. Costs a
        second query embedding (of the question without those words)."""
        data = data or self.data
        margin = self.settings.off_topic_margin
        if margin is None:
            margin = calibration(self.settings).off_topic_margin
        if margin is None or result.abstained or not result.hits or not is_cjk_query(result.query):
            return False
        if expansion is None:
            expansion = self.expansion(result.query, data)
        expressions = [p.term for p in expansion]
        # an everyday word the thesaurus knows the documents' words for is not missing
        words = [w for w in unknown_words(data, result.query) if not any(w in e or e in w for e in expressions)]
        reduced = without_words(result.query, words) if words else ""
        evidence = evidence_vector(data, result.hits[0])
        if not reduced.strip() or evidence is None:
            return False
        with self.limit_threads():
            return is_off_topic(evidence, self.query_vector(result.query), self.query_vector(reduced), margin)

    def ask(self, question: str, filters: Filters | None = None, history: Sequence[str] = ()) -> Answer:
        """Answer ``question``; ``history``, the conversation's earlier questions, makes a
        follow-up ("那农村呢？") standalone first (followup.py)."""
        events = list(self.ask_stream(question, filters, history))
        return events[-1].answer

    def ask_stream(self, question: str, filters: Filters | None = None,
                   history: Sequence[str] = ()) -> Iterator[StreamEvent]:
        """``ask`` as it happens: with a chat model, its tokens and each finished sentence's
        verdict, then the answer; without one, just the answer."""
        asked = self._query(question)
        question = standalone(asked, history, self.chat)
        searched_as = question if question != asked else ""
        data, extract, hits = self._extract(question, filters)
        events = (iter([StreamEvent("answer", answer=extract)]) if self.chat is None else
                  stream_answer(extract, hits, self.chat, self.settings.llm_passages, data.text))
        for event in events:
            if event.answer is not None:
                answer = replace(event.answer, question=asked, searched_as=searched_as)
                event = replace(event, answer=_with_pages(answer, data))
            yield event

    def _extract(self, question: str, filters: Filters | None) -> tuple[IndexData, Answer, tuple[Hit, ...]]:
        """The extractive answer and the hits it was made from."""
        data = self.data
        expansion = self.expansion(question, data)
        result = self._verdict(self._search(data, question, None, filters), data, expansion)
        declined = result.abstained
        scorer = IndexedScorer(data, self.query_vector(question), self.embed_passages, result.hits)
        weights = IndexedTermWeights(data.lexical, self.translation(question, data), expansion)
        with self.limit_threads():  # (the scorer may embed a few sentences)
            extract = build_answer(question, result.hits, data.text, scorer, declined, term_weights=weights)
        return data, extract, result.hits

    # --- targets and precedents --------------------------------------------------
    def target_index(self, data: IndexData | None = None) -> TargetIndex:
        """The targets of the loaded index, tied to its sentences (built once per index)."""
        data = data or self.data
        held = self._targets
        if held is not None and held[0] is data:
            return held[1]
        targets = data.targets if data.targets is not None else extract_all(data.documents, data.texts)
        vectors = data.target_vectors
        if vectors is None:
            vectors = self.embed_queries([indicator_text(t) for t in targets]) if targets else \
                np.zeros((0, self.embedder.dim), np.float32)
        index = TargetIndex.build(data, targets, vectors)
        self._targets = (data, index)
        return index

    def compare(self, topic: str, max_rows: int | None = None) -> CompareTable:
        """One row per document on ``topic``: how it phrases its target (targets.compare)."""
        data = self.data
        topic = checked_length(checked_topic(topic), self.settings.max_query_chars, "topic")
        index = self.target_index(data)
        return compare(data, index, topic, self.embed_queries([compare_topic(topic)])[0], max_rows)

    def precedents(self, text: str, k: int = 10, exclude_self: bool = True) -> PrecedentResults:
        """Passages of other plans most like a draft, grouped by document."""
        data = self.data
        draft = Draft.of(checked_length((text or "").strip(), self.settings.max_draft_chars, "draft"))
        return find_precedents(data, draft, self.embed_passages(draft.texts()), k, exclude_self)

    # --- documents -------------------------------------------------------------
    def source_text(self, source: str) -> str:
        return self.data.text(source)

    def documents(self) -> list[Document]:
        return list(self.data.documents)

    def document(self, doc_id: str) -> Document:
        return self.data.document(doc_id)

    def page_region(self, source: str, start: int, end: int) -> PageRegion | None:
        """A passage of a page OCR read, boxed on the page image (``page_view``); else None."""
        known = self.data.manifest.files.get(source)
        if known is None:
            return None
        s = self.settings
        return page_region(s.corpus, source, known, s.index_dir / OCR_CACHE, start, end, s.max_file_bytes,
                           s.ocr_max_pixels)

    def facets(self) -> dict[str, list]:
        data = self.data
        t = data.table()
        return {
            "doc_type": sorted({v for v in t.doc_types if v}),
            "year": sorted({v for v in t.years if v}),
            "region": sorted({v for v in t.regions if v}),
            "doc": [(d.title, d.doc_id) for d in data.documents],
        }
