"""Query → hits: normalise, dense (FAISS) + lexical (BM25) retrieval, fusion, filters,
near-duplicate removal and abstaining.

Fusion is weighted reciprocal-rank fusion. The lexical side's weight is scaled by how much
of the query it can see at all (the share of query tokens present in the corpus
vocabulary). An English query is scored on the lexical side by the Chinese words a
bilingual glossary gives for its phrases (glossary.py), weighted by the share of its
information they carry; without a glossary it gets a purely dense ranking instead of
being dragged down by an empty lexical list. A Chinese query's everyday expressions
(手把手带) also score the official words a thesaurus gives for them (师徒结对), at a
quarter of the weight.

Evidence and abstaining: for the top hits, the sentence most similar to the query is
found among precomputed sentence vectors; its similarity is the hit's evidence score
(sentence-level similarity separates "the corpus says this" from "the corpus is about the
same field" much better than passage similarity). The query abstains when the best
evidence is under a threshold, one for CJK queries and one for others (cross-lingual
similarities run lower), calibrated per model on the query sets (see README). An English
query under it is still answered when one sentence holds most of its dictionary words
(``translated_evidence``). Before answering, the engine also declines a CJK question that
its top evidence fits better without the question's words the corpus never uses
(``is_off_topic``; api.Engine.ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .index import IndexData, doc_table
from .glossary import Glossary, Phrase, Thesaurus, Translation
from .lexical import WORD_TOKEN, tokenize
from .text import bigrams, is_cjk_query, normalise, strip_question_words
from .types import Chunk, Filters, Hit, SearchResult, Span
from .vector_index import search as vector_search


@dataclass(frozen=True)
class SearchParams:
    k: int = 10
    candidates: int = 60
    rrf_k: int = 10
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    # Abstain when the best sentence similarity among the top hits is below this; CJK
    # queries and other (e.g. English) queries have their own thresholds because
    # cross-lingual similarities are systematically lower.
    abstain_cjk: float = 0.0
    abstain_other: float = 0.0
    evidence_hits: int = 1
    # The best-sentence similarity is a third ranking fused with the dense and lexical ones,
    # over the first ``rerank_depth`` fused candidates.
    sentence_weight: float = 1.0
    rerank_depth: int = 30
    # Weight of the lexical side of an English query translated by the glossary, times the
    # share of its information the translation carries (glossary.Translation.share).
    # Cross-lingual embedding similarities are weak on specific things, dictionary words
    # are not: 1.5 and 2 measured best on the English queries of the first three sets in
    # eval/ (R@5 0.875 → 1.0); 1 helped less, 3 hurt.
    translated_weight: float = 1.5
    # ...and it is not declined when one sentence of its first ``translated_evidence_hits``
    # hits holds this share of its information (its dictionary words weighted by IDF, words
    # left untranslated counting as missing). On the English queries of eval/: negatives
    # 0.07-0.23, answerable ones 0.22-1.0 (one of them, at 1.0, is below the similarity
    # threshold and is answered because of this).
    translated_evidence: float = 0.6
    translated_evidence_hits: int = 5
    # BM25 of the official words for a Chinese query's everyday expressions (glossary.
    # Thesaurus) is added to the query's own at this weight: they say what was meant, not
    # what was typed, and one of several words may be off. Measured over the five query
    # sets in eval/ then (15 questions expanded): 0.25 answered one more paraphrase and lost
    # none; 0.5 and 1.0 also lost one (画画 → 美术 drew in 美术兴趣小组).
    expansion_weight: float = 0.25


def passage_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its own text, folded. (Prefixing the title or heading
    path was measured and lowered dev-set MRR@10 from .81 to .74-.76: the shared context
    makes the chunks of one section look alike.)"""
    return normalise(chunk.text)


def lexical_text(chunk: Chunk) -> str:
    """What the lexical index sees: the chunk and its nearest heading."""
    return chunk.text + "\n" + " ".join(chunk.heading_path[-1:])


def query_text(query: str) -> str:
    return normalise(query.strip())


def question_words(question: str) -> list[str]:
    """The question's words (jieba search mode, as the lexical index has them), question
    words stripped, each once."""
    tokens = tokenize(strip_question_words(question))
    return list(dict.fromkeys(t[len(WORD_TOKEN):] for t in tokens if t.startswith(WORD_TOKEN)))


def filter_mask(data: IndexData, filters: Filters | None) -> np.ndarray | None:
    """Which chunks a filter keeps (None: all). Decided per document on the in-memory
    columns of the document table, then spread to the chunks: no loop over chunks."""
    if filters is None or filters.is_empty():
        return None
    t = doc_table(data)
    keep = np.ones(len(t.doc_ids), dtype=bool)
    if filters.doc_type:
        keep &= _code_is(t.type_code, t.type_names, filters.doc_type)
    if filters.year:
        keep &= t.year == int(filters.year)
    if filters.region:
        region = normalise(filters.region)
        hits = [i for i, name in enumerate(t.region_folded) if name and region in name]
        keep &= np.isin(t.region_code, hits)
    if filters.doc_id:
        keep &= np.arange(len(keep)) == t.number.get(filters.doc_id, -1)
    if filters.source:
        keep &= _code_is(t.source_code, t.source_names, filters.source)
    return keep[t.chunk_doc] if len(t.chunk_doc) else np.zeros(0, dtype=bool)


def _code_is(codes: np.ndarray, names: list, value: object) -> np.ndarray:
    return codes == (names.index(value) if value in names else -1)


def dense_ranking(data: IndexData, qvec: np.ndarray, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
    if data.vectors.ntotal == 0:
        return []
    allowed = None if mask is None else np.flatnonzero(mask).astype("int64")
    if allowed is not None and not len(allowed):
        return []
    scores, ids = vector_search(data.vectors, qvec, n, allowed)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def lexical_ranking(scores: np.ndarray, n: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    n = min(n, len(scores))
    if n == 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def rrf(rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        if w <= 0:
            continue
        for rank, idx in enumerate(ranking):
            fused[idx] = fused.get(idx, 0.0) + w / (k + rank + 1)
    return fused


def _overlap(ga: frozenset[str], gb: frozenset[str]) -> float:
    return len(ga & gb) / min(len(ga), len(gb)) if ga and gb else 0.0


def is_near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    ga, gb = frozenset(bigrams(a)), frozenset(bigrams(b))
    return a == b if not ga or not gb else _overlap(ga, gb) >= threshold


def dedupe(hits: Sequence[Hit], limit: int | None = None, threshold: float = 0.8) -> list[Hit]:
    """Drop hits whose text is mostly contained in a better hit's text (bigram overlap over
    the smaller set, after folding, so a traditional copy of a simplified passage counts)."""
    kept: list[tuple[Hit, frozenset[str]]] = []
    for h in hits:
        grams = frozenset(bigrams(h.chunk.text))
        if not any(_overlap(grams, g) >= threshold for _, g in kept):
            kept.append((h, grams))
            if limit is not None and len(kept) >= limit:
                break
    return [h for h, _ in kept]


def best_sentence(data: IndexData, chunk_id: int, qvec: np.ndarray) -> tuple[float, Span] | None:
    """The chunk's sentence most similar to the query: (similarity, span)."""
    rows = data.sentences.of_chunk(chunk_id)
    if not len(rows):
        return None
    sims = data.sentences.vectors[rows.start : rows.stop].astype(np.float32) @ qvec
    best = int(np.argmax(sims))
    a, b = data.sentences.spans[rows.start + best]
    return float(sims[best]), (int(a), int(b))


@dataclass(frozen=True)
class LexicalSide:
    """BM25 scores of every chunk for a query, and the share of the query's tokens the
    corpus vocabulary knows (for a translated query: the share of its English content
    words the glossary matched). Needs no query vector, so a caller can compute it while
    the query is being embedded (api.Engine.search does, in a worker thread)."""

    scores: np.ndarray
    coverage: float
    translation: Translation | None = None  # what an English query was scored with
    expansion: tuple[Phrase, ...] = ()  # everyday words of a Chinese query, in official words

    @property
    def expanded_words(self) -> tuple[str, ...]:
        return tuple(w for p in self.expansion for w in p.chinese)


def lexical_side(data: IndexData, query: str, glossary: Glossary | None = None,
                 thesaurus: Thesaurus | None = None,
                 expansion_weight: float = SearchParams.expansion_weight) -> LexicalSide:
    """BM25 for the query; a non-CJK query with a ``glossary`` is scored by the Chinese
    words its English phrases translate to, and a CJK query with a ``thesaurus`` also by
    the official words for its everyday expressions, at ``expansion_weight`` (see
    glossary.py)."""
    if glossary is not None and not is_cjk_query(query):
        tr = translate(data, query, glossary)
        if tr.phrases:
            return LexicalSide(data.lexical.scores(tokenize(" ".join(tr.words))), tr.share, tr)
    tokens = tokenize(query)
    scores = data.lexical.scores(tokens)
    expansion = expand(data, query, thesaurus) if thesaurus is not None and is_cjk_query(query) else ()
    if expansion and expansion_weight > 0:
        words = [t for p in expansion for w in p.chinese for t in word_tokens(data, w)]
        scores += expansion_weight * data.lexical.scores(words)
    return LexicalSide(scores, data.lexical.coverage(tokens), expansion=expansion)


def expand(data: IndexData, query: str, thesaurus: Thesaurus) -> tuple[Phrase, ...]:
    """The query's everyday expressions as the official words of this index, weighted by IDF."""
    return thesaurus.expand(query, lambda w: word_idf(data, w))


def word_tokens(data: IndexData, word: str) -> list[str]:
    """The index's word token for ``word``, or the word tokens of its parts where the
    segmentation splits it (青蓝工程 → 青蓝, 工程); no character bigrams, whose posting
    lists are long on a large index and which add nothing a whole word does not."""
    token = WORD_TOKEN + word
    if token in data.lexical.vocab:
        return [token]
    return [t for t in tokenize(word) if t.startswith(WORD_TOKEN)]


def word_idf(data: IndexData, word: str) -> float:
    """The IDF of a word in the index; a split word counts as its most common part when
    the index has every part, else 0."""
    idfs = [data.lexical.idf(t) for t in word_tokens(data, word)]
    return min(idfs) if idfs and min(idfs) > 0 else 0.0


def translate(data: IndexData, query: str, glossary: Glossary) -> Translation:
    """The query's English phrases as the Chinese words of this index, weighted by IDF.
    Only whole index words count: falling back to a split word's parts (``word_idf``)
    measured one English answer worse on eval/answer_blind.jsonl and none better."""
    lexical = data.lexical
    return glossary.translate(query, lambda w: lexical.idf(WORD_TOKEN + w), lexical.max_idf)


def unknown_words(data: IndexData, query: str) -> list[str]:
    """The question's words (jieba, question words stripped, two characters or more) that
    no indexed passage contains, without those inside a longer one."""
    lexical = data.lexical
    unknown = [w for w in question_words(query) if len(w) >= 2 and lexical.document_frequency(WORD_TOKEN + w) == 0]
    return [w for w in unknown if not any(w != o and w in o for o in unknown)]


def without_words(query: str, words: Sequence[str]) -> str:
    """The question with ``words`` removed (matched on the folded question)."""
    out = normalise(query)
    for w in sorted(words, key=len, reverse=True):
        out = out.replace(w, "")
    return out


def evidence_vector(data: IndexData, hit: Hit) -> np.ndarray | None:
    """The sentence vector of a hit's evidence sentence (None without one)."""
    if hit.evidence_span is None:
        return None
    rows = data.sentences.of_chunk(hit.chunk.chunk_id)
    for r in range(rows.start, rows.stop):
        a, b = data.sentences.spans[r]
        if (int(a), int(b)) == tuple(hit.evidence_span):
            return np.asarray(data.sentences.vectors[r], dtype=np.float32)
    return None


def is_off_topic(evidence: np.ndarray, query_vector: np.ndarray, reduced_vector: np.ndarray, margin: float) -> bool:
    """Whether the evidence matches the question without its unknown words better, by more
    than ``margin``, than the question itself: what the corpus lacks was what was asked."""
    return float(reduced_vector @ evidence) - float(query_vector @ evidence) > margin


def translated_evidence(data: IndexData, hits: Sequence[Hit], translation: Translation) -> float:
    """The largest share of a translated query's information that one sentence of
    ``hits`` contains (glossary.Translation.coverage)."""
    best = 0.0
    for h in hits:
        c = h.chunk
        rows = data.sentences.of_chunk(c.chunk_id)
        for a, b in data.sentences.spans[rows.start : rows.stop]:
            best = max(best, translation.coverage(c.text[int(a) - c.start : int(b) - c.start]))
    return best


def search(
    data: IndexData,
    query_vector: np.ndarray,
    query: str,
    params: SearchParams,
    filters: Filters | None = None,
    lexical_scores: LexicalSide | None = None,
) -> SearchResult:
    """Hybrid search over a loaded index; ``query_vector`` comes from the index's embedder.
    ``lexical_scores`` is ``lexical_side(data, query)`` when the caller computed it already."""
    qvec = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    mask = filter_mask(data, filters)
    dense = dense_ranking(data, qvec, params.candidates, mask)
    side = lexical_scores if lexical_scores is not None else lexical_side(data, query)
    lex_weight = params.lexical_weight * side.coverage * (params.translated_weight if side.translation else 1.0)
    lex_scores = side.scores
    lexical = lexical_ranking(lex_scores, params.candidates, mask)
    rankings = [[i for i, _ in dense], [i for i, _ in lexical]]
    weights = [params.dense_weight, lex_weight]
    first = rrf(rankings, weights, params.rrf_k)
    pool = sorted(first, key=lambda i: -first[i])[: params.rerank_depth]
    evidence = {i: ev for i in pool if (ev := best_sentence(data, i, qvec)) is not None}
    by_evidence = sorted(evidence, key=lambda i: -evidence[i][0])
    fused = rrf(rankings + [by_evidence], weights + [params.sentence_weight], params.rrf_k)
    dense_score = dict(dense)
    dense_rank = {i: r for r, (i, _) in enumerate(dense, 1)}
    lex_rank = {i: r for r, (i, _) in enumerate(lexical, 1)}
    order = sorted(fused, key=lambda i: -fused[i])
    hits = [
        Hit(
            chunk=data.chunks[i],
            score=fused[i],
            dense_score=dense_score.get(i),
            lexical_score=float(lex_scores[i]) if i in lex_rank else None,
            dense_rank=dense_rank.get(i),
            lexical_rank=lex_rank.get(i),
            evidence_score=evidence[i][0] if i in evidence else None,
            evidence_span=evidence[i][1] if i in evidence else None,
        )
        for i in order[: params.k * 3]
    ]
    hits = dedupe(hits, limit=params.k)
    best = max((h.evidence_score for h in hits[: params.evidence_hits] if h.evidence_score is not None), default=0.0)
    threshold = params.abstain_cjk if is_cjk_query(query) else params.abstain_other
    abstained = not hits or best < threshold
    if abstained and hits and side.translation is not None:
        # an English query whose dictionary words are, most of them, in one sentence of
        # the passages an answer quotes is answered, however weak the cross-lingual
        # similarity ("free Xinhua dictionaries" → 免费配发《新华字典》)
        found = translated_evidence(data, hits[: params.translated_evidence_hits], side.translation)
        abstained = found < params.translated_evidence
    return SearchResult(query=query, abstained=abstained, top_score=best, hits=tuple(hits),
                        translated_terms=side.translation.words if side.translation else (),
                        expanded_terms=side.expanded_words, threshold=threshold)
