"""Find precedents for a draft: the passages of other plans most like a paragraph or a
section being written, grouped by document, with the corpus sentences that correspond to
each draft sentence.

Scoring a corpus chunk (passage) against a draft:
  * ``chunk_similarity`` — the whole draft's vector against the chunk's vector;
  * ``coverage`` — for every draft sentence, its best similarity among the chunk's sentences
    (the index's precomputed sentence vectors), averaged over the draft's sentences;
  * ``score = chunk_weight * chunk_similarity + (1 - chunk_weight) * coverage`` (0.3 / 0.7:
    a chunk holding the draft's sentences beats one whose overall gist is close).
Candidates are the chunks nearest to the whole draft plus the chunks holding the sentences
nearest to each draft sentence. Draft and corpus are both embedded as passages (the corpus
vectors are passage vectors), so the similarity is passage-to-passage.

The draft itself: a passage whose character bigrams (``text.bigrams``: folded, white space
dropped) are ≥ 0.8 contained in the draft, or that contains ≥ 0.8 of a draft of at least 20
bigrams, is the draft's own text — with ``exclude_self`` it is dropped. A passage sharing
≥ 0.5 (``source_overlap``) is taken for the draft's source (a reworded copy): its document is
the draft's source document, and with ``exclude_self`` that document's passages are moved after
those of every other document, so precedents from *other* plans come first.

Results are grouped by document (at most ``per_doc`` passages each), groups ordered by their
best passage; ``k`` bounds the number of passages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import PolicyQAError
from .search import is_near_duplicate
from .index import IndexData
from .text import bigrams, sentence_spans
from .types import Chunk


@dataclass(frozen=True)
class PrecedentParams:
    chunk_weight: float = 0.3
    candidates: int = 100  # nearest chunks to the whole draft
    per_sentence: int = 20  # nearest corpus sentences per draft sentence (their chunks join the pool)
    per_doc: int = 3
    self_overlap: float = 0.8
    source_overlap: float = 0.5
    min_draft_bigrams: int = 20  # "the passage contains the draft" needs a draft this long
    match_window: float = 0.05  # a draft sentence's pair is shown when within this of the hit's best pair


@dataclass(frozen=True)
class SentenceMatch:
    draft_index: int
    draft_sentence: str
    draft_start: int
    draft_end: int
    start: int  # corpus sentence span in the chunk's source
    end: int
    text: str
    similarity: float

    def to_json(self) -> dict[str, Any]:
        return {
            "draft_sentence": self.draft_sentence, "draft_start": self.draft_start, "draft_end": self.draft_end,
            "start": self.start, "end": self.end, "text": self.text, "similarity": round(float(self.similarity), 4),
        }


@dataclass(frozen=True)
class PrecedentHit:
    chunk: Chunk
    score: float
    chunk_similarity: float
    coverage: float
    overlap: float  # bigram overlap with the draft (max of both containments)
    from_source: bool  # in the document the draft appears to come from
    matches: tuple[SentenceMatch, ...]
    library: str = ""  # on a server holding several libraries (libraries.py)

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {
            **({"library": self.library} if self.library else {}),
            "doc_id": c.doc_id, "title": c.title, "source": c.source, "start": c.start, "end": c.end,
            "text": c.text, "heading_path": list(c.heading_path), "score": round(float(self.score), 4),
            "chunk_similarity": round(float(self.chunk_similarity), 4), "coverage": round(float(self.coverage), 4),
            "overlap": round(float(self.overlap), 3), "from_source": self.from_source,
            "metadata": c.metadata.as_dict(), "matches": [m.to_json() for m in self.matches],
        }


@dataclass(frozen=True)
class PrecedentGroup:
    doc_id: str
    title: str
    source: str
    score: float
    hits: tuple[PrecedentHit, ...]
    library: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**({"library": self.library} if self.library else {}), "doc_id": self.doc_id, "title": self.title, "source": self.source,
                "score": round(float(self.score), 4), "results": [h.to_json() for h in self.hits]}


class PrecedentResults(list):
    """The groups (a plain ``list[PrecedentGroup]``) with ``to_json()`` → ``precedents_json``."""

    def to_json(self) -> dict[str, Any]:
        return precedents_json(self)


def precedents_json(groups: Sequence[PrecedentGroup]) -> dict[str, Any]:
    """``{"results": [...]}``: passages group by group (best group first), each with its group number."""
    results = []
    for n, g in enumerate(groups, 1):
        for h in g.hits:
            results.append({**h.to_json(), "group": n})
    return {"results": results}


def overlap(passage: str, draft_grams: set[str], min_draft: int = 20) -> tuple[float, float]:
    """(share of the passage's bigrams found in the draft, share of the draft's found in the
    passage — 0 for drafts shorter than ``min_draft`` bigrams)."""
    pg = set(bigrams(passage))
    if not pg or not draft_grams:
        return 0.0, 0.0
    common = len(pg & draft_grams)
    return common / len(pg), (common / len(draft_grams) if len(draft_grams) >= min_draft else 0.0)


def draft_sentences(text: str, min_chars: int = 4) -> list[tuple[int, int]]:
    spans = [(a, b) for a, b in sentence_spans(text) if b - a >= min_chars]
    return spans or [(0, len(text))]


@dataclass(frozen=True)
class Draft:
    """A pasted draft and its sentences: what the caller embeds (as passages) before
    ``find_precedents``."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, text: str) -> "Draft":
        draft = (text or "").strip()
        if not draft:
            raise PolicyQAError("the draft is empty: paste a paragraph or a section of the plan you are writing")
        return cls(draft, tuple(draft_sentences(draft)))

    @property
    def sentences(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans]

    def texts(self) -> list[str]:
        """What to embed: the whole draft, then each sentence."""
        return [self.text, *self.sentences]


def find_precedents(data: IndexData, draft: Draft, vectors: np.ndarray, k: int = 10, exclude_self: bool = True,
                    params: PrecedentParams | None = None) -> PrecedentResults:
    """Passages of the corpus most like ``draft`` (a paragraph or a draft section), grouped by
    document; ``vectors`` are the passage vectors of ``draft.texts()``. See the module
    docstring for the scoring and the handling of the draft itself."""
    p = params or PrecedentParams()
    if not data.chunks:
        return PrecedentResults()
    spans, sents = list(draft.spans), draft.sentences
    vecs = np.asarray(vectors, dtype=np.float32)
    dvec, svecs = vecs[0], vecs[1:]
    pool, searched = _candidates(data, dvec, svecs, p)
    st = data.sentences
    dgrams = set(bigrams(draft.text))
    scored = []
    for cid in pool:
        rows = st.of_chunk(cid)
        chunk = data.chunks[cid]
        csim = searched[cid] if cid in searched else _chunk_vector_sim(data, cid, dvec)
        if len(rows):
            sims = svecs @ st.vectors[rows.start : rows.stop].astype(np.float32).T  # (n_draft, n_rows)
            best = sims.max(axis=1)
            cov = float(best.mean())
        else:
            sims, best, cov = None, None, csim
        score = p.chunk_weight * csim + (1 - p.chunk_weight) * cov
        op, od = overlap(chunk.text, dgrams, p.min_draft_bigrams)
        scored.append((score, cid, csim, cov, max(op, od), op >= p.self_overlap or od >= p.self_overlap, sims, rows))
    source_docs = {data.chunks[c].doc_id for _, c, _, _, ov, _, _, _ in scored if ov >= p.source_overlap}
    hits: list[PrecedentHit] = []
    for score, cid, csim, cov, ov, is_self, sims, rows in sorted(scored, key=lambda x: -x[0]):
        if exclude_self and is_self:
            continue
        chunk = data.chunks[cid]
        matches = _matches(data, chunk, sims, rows, spans, sents, p) if sims is not None else ()
        hits.append(PrecedentHit(chunk, score, csim, cov, ov, chunk.doc_id in source_docs, matches))
    if exclude_self:
        hits.sort(key=lambda h: (h.from_source, -h.score))
    return _group(hits, k, p.per_doc)


def _chunk_vector_sim(data, cid: int, dvec: np.ndarray) -> float:
    """The chunk's stored vector against the draft; for a vector index that cannot
    reconstruct (IVF without a direct map), the best of the chunk's sentence vectors."""
    try:
        return float(np.dot(data.vectors.reconstruct(int(cid)), dvec))
    except RuntimeError:
        rows = data.sentences.of_chunk(cid)
        if not len(rows):
            return 0.0
        return float((data.sentences.vectors[rows.start : rows.stop].astype(np.float32) @ dvec).max())


# Up to this many corpus sentences, each draft sentence is compared with every one of them
# (a scan of the whole sentence table: 0.4 GB of float16 vectors at 500k sentences, a large
# city). Beyond, the draft's sentences are matched to passages through the vector index
# instead, and only the candidates' own sentences are read (a province's 5.8M sentences
# are 4.5 GB).
FULL_SCAN_MAX_SENTENCES = 500_000


def _candidates(data: IndexData, dvec: np.ndarray, svecs: np.ndarray,
                p: PrecedentParams) -> tuple[list[int], dict[int, float]]:
    """Candidate chunk ids, and the chunk similarities the vector search already gave."""
    n = min(data.vectors.ntotal, p.candidates)
    scores, ids = data.vectors.search(np.ascontiguousarray(dvec.reshape(1, -1), dtype=np.float32), n)
    searched = {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}
    pool = list(searched)
    st = data.sentences
    if not len(st.spans) or not len(svecs):
        return list(dict.fromkeys(pool)), searched
    if len(st.spans) <= FULL_SCAN_MAX_SENTENCES:
        chunk_of_row = np.repeat(np.arange(len(data.chunks)), np.diff(st.ptr))
        for i in range(0, len(st.vectors), 65536):
            block = svecs @ np.asarray(st.vectors[i : i + 65536], dtype=np.float32).T
            m = min(p.per_sentence, block.shape[1])
            top = np.argpartition(-block, m - 1, axis=1)[:, :m]
            pool.extend(int(chunk_of_row[i + r]) for r in top.ravel())
    else:
        k = min(data.vectors.ntotal, p.per_sentence)
        _, sids = data.vectors.search(np.ascontiguousarray(svecs, dtype=np.float32), k)
        pool.extend(int(i) for i in sids.ravel() if i >= 0)
    return list(dict.fromkeys(pool)), searched


def _matches(data: IndexData, chunk: Chunk, sims: np.ndarray, rows: range, spans, sents, p: PrecedentParams):
    st = data.sentences
    best_rows = sims.argmax(axis=1)
    best = sims.max(axis=1)
    top = float(best.max())
    out = []
    for i, (r, s) in enumerate(zip(best_rows, best)):
        if s < top - p.match_window:
            continue
        a, b = (int(x) for x in st.spans[rows.start + int(r)])
        out.append(SentenceMatch(i, sents[i], spans[i][0], spans[i][1], a, b,
                                 chunk.text[a - chunk.start : b - chunk.start], float(s)))
    return tuple(out)


def _group(hits: list[PrecedentHit], k: int, per_doc: int) -> PrecedentResults:
    kept: list[PrecedentHit] = []
    count: dict[str, int] = {}
    for h in hits:
        if len(kept) >= k:
            break
        if count.get(h.chunk.doc_id, 0) >= per_doc:
            continue
        if any(is_near_duplicate(h.chunk.text, x.chunk.text) for x in kept):
            continue
        kept.append(h)
        count[h.chunk.doc_id] = count.get(h.chunk.doc_id, 0) + 1
    groups: dict[str, list[PrecedentHit]] = {}
    for h in kept:
        groups.setdefault(h.chunk.doc_id, []).append(h)
    return PrecedentResults(  # insertion order = order of each group's best hit
        PrecedentGroup(doc, hs[0].chunk.title, hs[0].chunk.source, hs[0].score, tuple(hs))
        for doc, hs in groups.items()
    )
