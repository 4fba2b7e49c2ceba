"""The sentences an answer quotes: candidates cut from the top hits' spans, scored, picked and merged.

Sentences come from the top hits' spans in the original file text (so traditional characters
stay traditional and offsets stay exact), are scored against the question and the best few
are merged where they are neighbours in the source. A sentence's score is its embedding
similarity to the question plus small terms on the same scale:

* key-term coverage: the share of the question's key-term weight the sentence contains,
  matched on folded text. Key terms come from a ``TermWeights``; the engine's weighs the
  question's words by their IDF over the indexed passages, so a sentence with the question's
  rare words (校车, 章程) beats one with only its common ones (学校, 工作). Without one,
  every bigram of the question counts the same.
* passage similarity: how far the similarity of the sentence's passage to the question is
  below the best passage's (a sentence is read in its context), plus a small bonus for
  the passage's rank;
* a quantity when the question asks for one, and a penalty for a bare heading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .answer_terms import KeyTerms, SentenceScorer, cached_compact
from .text import bigrams, compact, has_cjk, sentence_spans
from .types import Hit

MAX_ANSWER_CHARS = 300
MAX_SENTENCE_CHARS = 150  # longer sentences are cut to their best clauses (exact offsets)
TOP_HITS = 5
MIN_SENTENCE_CHARS = 6
CLOSE_TO_BEST = 0.03  # keep picks whose score is within this of the best one
NEAR_DUPLICATE = 0.6  # bigram Jaccard above which two sentences count as the same

_CLAUSE_END = re.compile(r"[，,、：:]")
_NUMBER_QUESTION = re.compile(
    r"多少|几[个所项名人次年%]?|比例|目标|百分|率|数量|how many|how much|percent|rate|number|target",
    re.IGNORECASE,
)
_HAS_QUANTITY = re.compile(r"[0-9０-９]|百分之|[一二三四五六七八九十百千万]+[所个项名人次元%]")


# ---------------------------------------------------------------------------- sentences


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: its exact span in ``source`` (cut to its best clauses) and the hit it came from."""

    source: str
    start: int
    end: int
    text: str
    hit_rank: int
    hit: Hit
    heading: bool = False
    whole: str = ""  # the whole sentence before cutting (what similarity is scored on)


def _best_window(text: str, s: int, e: int, terms: KeyTerms, limit: int) -> tuple[int, int]:
    """Cut a long sentence to the clause-bounded window of at most ``limit`` characters that
    covers most of the question's key terms (earliest on ties)."""
    if e - s <= limit:
        return s, e
    cuts = [s] + [m.end() for m in _CLAUSE_END.finditer(text, s, e)] + [e]
    cuts = sorted(set(cuts))
    best = (-1.0, s, s)
    for i in range(len(cuts) - 1):
        for j in range(i + 1, len(cuts)):
            if cuts[j] - cuts[i] > limit:
                break
            score = terms.coverage(text[cuts[i] : cuts[j]])
            if score > best[0] or (score == best[0] and cuts[j] - cuts[i] > best[2] - best[1] and i == 0):
                best = (score, cuts[i], cuts[j])
    _, ws, we = best
    if we <= ws:  # first clause alone is too long: hard cut (still exact offsets)
        ws, we = s, s + limit
    while we > ws and text[we - 1] in "，,、：: \t":
        we -= 1
    return ws, we


def candidates(
    hits: Sequence[Hit], source_text: Callable[[str], str], terms: KeyTerms
) -> list[Sentence]:
    seen: list[tuple[str, int, int]] = []
    out: list[Sentence] = []
    for rank, hit in enumerate(hits[:TOP_HITS]):
        c = hit.chunk
        text = source_text(c.source)
        for s, e in sentence_spans(text, c.start, c.end, lines=True):
            if sum(ch.isalnum() for ch in text[s:e]) < MIN_SENTENCE_CHARS:
                continue
            whole = text[s:e]
            if _is_structural_heading(whole, c.title, c.heading_path):
                continue  # a title or section heading names a topic, it does not answer
            s, e = _best_window(text, s, e, terms, MAX_SENTENCE_CHARS)
            heading = _looks_like_heading(text[s:e])
            m = _NUMBERING.match(text, s, e)
            if m and e - m.end() >= 8:
                s = m.end()  # quote the sentence without its list number "(3)"
            if any(src == c.source and s < oe and os_ < e for src, os_, oe in seen):
                continue  # same text reached through an overlapping chunk
            seen.append((c.source, s, e))
            out.append(Sentence(c.source, s, e, text[s:e], rank, hit, heading, whole))
    return out


_NUMBERING = re.compile(
    r"\s*(?:[(（][一二三四五六七八九十百\d]+[)）]|[一二三四五六七八九十百]+[、.．]|\d+[.、．)）]|"
    r"第[一二三四五六七八九十百\d]+[条章节部分])\s*"
)


def _heading_key(text: str) -> str:
    m = _NUMBERING.match(text)
    body = text[m.end():] if m else text
    return compact(body)


def _is_structural_heading(text: str, title: str, heading_path: Sequence[str]) -> bool:
    """Whether the line is the document's title or one of the headings above the passage
    (as the structure stage read them), whatever its numbering or script."""
    key = _heading_key(text)
    return bool(key) and any(key == _heading_key(h) for h in (title, *heading_path) if h)


def _looks_like_heading(text: str) -> bool:
    if len(text) < 25 and not re.search(r"[。！？；!?;]$", text):
        return True
    return bool(_NUMBERING.match(text)) and len(text) <= 20


def _rank_bonus(rank: int) -> float:
    return (1.0, 0.5, 0.25, 0.12)[rank] if rank < 4 else 0.0


@dataclass(frozen=True)
class AnswerParams:
    """Weights added to the question↔sentence cosine, which spreads over a few hundredths
    within one question's passages, so each signal is scaled to that range."""

    overlap: float = 0.03  # key-term coverage (0..1) of a Chinese question
    # an English question's key terms are dictionary translations and its cosines are
    # cross-lingual (bunched closer), so its coverage counts for more
    overlap_translated: float = 0.05
    rank: float = 0.012  # the rank of the sentence's passage (1, .5, .25, .12)
    number: float = 0.01  # a quantity, when the question asks for one
    heading: float = 0.02  # subtracted for a bare heading line
    passage: float = 0.5  # the passage's cosine gap to the best passage (same model, same scale)
    max_sentences: int = 4


def _passage_gaps(hits: Sequence[Hit]) -> list[float]:
    """For each hit, how far its passage↔question cosine (``dense_score``) is below the
    best one among ``hits`` (0 for the best, negative for the others). A hit the dense
    side did not return counts as the lowest one that it did; 0 for all when none has a
    dense score."""
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    if not dense:
        return [0.0] * len(hits)
    best, floor = max(dense), min(dense)
    return [(floor if h.dense_score is None else h.dense_score) - best for h in hits]


def _cheap_scores(question: str, cands: list[Sentence], terms: KeyTerms,
                  passage_gaps: Sequence[float], w: AnswerParams) -> list[float]:
    """Everything but the sentence's own embedding similarity: key-term coverage, the
    passage's similarity and rank, numbers, headings."""
    wants_number = bool(_NUMBER_QUESTION.search(question))
    w_overlap = w.overlap if has_cjk(question) else w.overlap_translated
    scores = []
    for cand in cands:
        score = (w_overlap * terms.coverage(cand.text) + w.rank * _rank_bonus(cand.hit_rank)
                 + w.passage * passage_gaps[cand.hit_rank])
        if wants_number and _HAS_QUANTITY.search(cand.text):
            score += w.number
        if cand.heading:
            score -= w.heading
        scores.append(score)
    return scores


def score_all(question: str, cands: list[Sentence], scorer: SentenceScorer,
              terms: KeyTerms, hits: Sequence[Hit], w: AnswerParams) -> tuple[list[Sentence], list[float]]:
    cheap = _cheap_scores(question, cands, terms, _passage_gaps(hits[:TOP_HITS]), w)
    sims = np.asarray(scorer.score(question, [c.whole or c.text for c in cands]), dtype=np.float64)
    return cands, [float(sim) + c for sim, c in zip(sims, cheap)]


def _jaccard(a: str, b: str) -> float:
    ga, gb = set(bigrams(cached_compact(a))), set(bigrams(cached_compact(b)))
    return len(ga & gb) / max(1, len(ga | gb))


def pick(cands: list[Sentence], scores: list[float], max_sentences: int,
         terms: KeyTerms | None = None) -> list[tuple[Sentence, float]]:
    """The best sentence, and up to ``max_sentences`` - 1 more scoring within
    CLOSE_TO_BEST of it that are not near-duplicates and share some of the question's key
    terms (a close score alone, common when the similarities are bunched, does not make a
    sentence an answer; a paraphrased best sentence stands alone)."""
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], cands[i].hit_rank, cands[i].start))
    picks: list[tuple[Sentence, float]] = []
    total = 0
    best = scores[order[0]]
    needs_terms = terms is not None
    for i in order:
        cand, score = cands[i], scores[i]
        if len(picks) >= max_sentences or score < best - CLOSE_TO_BEST:
            break
        if picks and needs_terms and terms.coverage(cand.text) == 0:
            continue
        if any(_jaccard(cand.text, p.text) > NEAR_DUPLICATE for p, _ in picks):
            continue
        if picks and total + len(cand.text) > MAX_ANSWER_CHARS:
            continue
        picks.append((cand, score))
        total += len(cand.text)
    return picks


# ---------------------------------------------------------------------------- grouping


@dataclass
class Group:
    """Picked sentences that are neighbours in one source: quoted as one span, with one citation."""

    members: list[Sentence]
    score: float

    @property
    def first(self) -> Sentence:
        return self.members[0]

    @property
    def start(self) -> int:
        return self.members[0].start

    @property
    def end(self) -> int:
        return self.members[-1].end


def merge(picks: list[tuple[Sentence, float]], source_text: Callable[[str], str]) -> list[Group]:
    """Join picked sentences that are neighbours in the same source (only whitespace or a
    line break between them)."""
    by_pos = sorted(picks, key=lambda p: (p[0].source, p[0].start))
    groups: list[Group] = []
    for sent, score in by_pos:
        last = groups[-1] if groups else None
        if (
            last is not None
            and last.first.source == sent.source
            and last.first.hit.chunk.doc_id == sent.hit.chunk.doc_id
            and sent.start >= last.end
            and not source_text(sent.source)[last.end : sent.start].strip()
        ):
            last.members.append(sent)
            last.score = max(last.score, score)
        else:
            groups.append(Group([sent], score))
    groups.sort(key=lambda g: (-g.score, g.first.source, g.start))
    return groups
