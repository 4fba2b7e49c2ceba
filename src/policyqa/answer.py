"""Extractive cited answers: the documents' own sentences, each ending in its ``[n]`` marker.

No language model. Sentences come from the top hits' spans in the original file text (so
traditional characters stay traditional and offsets stay exact), are scored against the
question and the best few are merged where they are neighbours in the source. A sentence's
score is its embedding similarity to the question plus small terms on the same scale:

* key-term coverage: the share of the question's key-term weight the sentence contains,
  matched on folded text. Key terms come from a ``TermWeights``; the engine's weighs the
  question's words by their IDF over the indexed passages, so a sentence with the question's
  rare words (校车, 章程) beats one with only its common ones (学校, 工作). Without one,
  every bigram of the question counts the same.
* passage similarity: how far the similarity of the sentence's passage to the question is
  below the best passage's (a sentence is read in its context), plus a small bonus for
  the passage's rank;
* a quantity when the question asks for one, and a penalty for a bare heading.

``check_citations`` re-checks an answer against the source text: spans match character for
character, markers and citations agree, and every number in the answer is in the sentence it
cites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol, Sequence

import numpy as np

from .text import arabic_numbers, bigrams, compact, has_cjk, sentence_spans, strip_question_words
from .types import Answer, Citation, Hit

NOT_FOUND = "文档中没有找到与该问题相关的内容。"

MAX_ANSWER_CHARS = 300
MAX_SENTENCE_CHARS = 150  # longer sentences are cut to their best clauses (exact offsets)
TOP_HITS = 5
MIN_SENTENCE_CHARS = 6
CLOSE_TO_BEST = 0.03  # keep picks whose score is within this of the best one
NEAR_DUPLICATE = 0.6  # bigram Jaccard above which two sentences count as the same

_CLAUSE_END = re.compile(r"[，,、：:]")
_MARKER = re.compile(r"\[(\d+)\]")
# a value or name left to fill in: "××× 县", "达到xx%", "新建x所"
_PLACEHOLDER = re.compile(r"[×＊*]{2,}|(?<![A-Za-z])[xX]{1,4}(?![A-Za-z])\s*(?=[%％‰所个名人次元万亿项年月日家座班倍])")
PLACEHOLDER_NOTE = "（原文此处为待填写的占位符，不是实际数值）"
_PIAN = re.compile(r"^(篇[一二三四五六七八九十百零〇0-9]+|第[一二三四五六七八九十百零〇0-9]+篇)")
_NUMBER_QUESTION = re.compile(
    r"多少|几[个所项名人次年%]?|比例|目标|百分|率|数量|how many|how much|percent|rate|number|target",
    re.IGNORECASE,
)
_HAS_QUANTITY = re.compile(r"[0-9０-９]|百分之|[一二三四五六七八九十百千万]+[所个项名人次元%]")
_TITLE_DIGITS = re.compile(r"[0-9０-９]+\s*(?:年度|学年|年)?\s*[-—~～至到]?")


# ---------------------------------------------------------------------------- scoring


class SentenceScorer(Protocol):
    """Similarity of each sentence to the question (higher is closer)."""

    def score(self, question: str, sentences: Sequence[str]) -> list[float]: ...


class EmbeddingScorer:
    """Cosine similarity of the question vector and each sentence vector."""

    def __init__(
        self,
        embed_queries: Callable[[Sequence[str]], np.ndarray],
        embed_passages: Callable[[Sequence[str]], np.ndarray],
    ):
        self._embed_queries = embed_queries
        self._embed_passages = embed_passages

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        q = np.asarray(self._embed_queries([question]), dtype=np.float32)[0]
        p = np.asarray(self._embed_passages(list(sentences)), dtype=np.float32)
        return [float(x) for x in p @ q]


class TermWeights(Protocol):
    """The key terms of a question (folded: simplified, NFKC, lower case) and how much
    each one counts; rare terms should count more than common ones. An implementation
    may also group terms itself with ``key_terms(question) -> KeyTerms`` (synonyms of one
    concept, as an English question's dictionary translations are); see
    ``KeyTerms.of_question``."""

    def weights(self, question: str) -> dict[str, float]: ...


class BigramTerms:
    """Every character bigram of the question counts the same (used when no corpus
    statistics are at hand)."""

    def weights(self, question: str) -> dict[str, float]:
        return dict.fromkeys(_question_bigrams(question), 1.0)


# Key terms are looked up in every clause window of every candidate sentence.
_compact = lru_cache(maxsize=4096)(compact)


def _question_bigrams(question: str) -> set[str]:
    grams: set[str] = set()
    for part in strip_question_words(question).split():
        grams |= set(bigrams(_compact(part))) or set(_compact(part))  # a one-character part is its own term
    return grams


@dataclass(frozen=True)
class KeyTerms:
    """A question's key terms grouped into concepts: a term that is not part of a longer
    term of the question, with the shorter terms inside it (中小学校 ⊃ 中小学, 学校). A
    concept weighs as much as its heaviest term, and a text earns the weight of the
    heaviest of its terms it contains, so search-mode segmentation's overlapping pieces
    give partial credit without counting one concept several times."""

    concepts: tuple[tuple[tuple[str, float], ...], ...]

    @classmethod
    def from_weights(cls, weights: dict[str, float]) -> "KeyTerms":
        terms = {t: w for t, w in weights.items() if t and w > 0}
        heads = [t for t in terms if not any(t != o and t in o for o in terms)]
        concepts = tuple(
            tuple(sorted(((t, w) for t, w in terms.items() if t in head), key=lambda tw: -tw[1]))
            for head in heads
        )
        return cls(concepts)

    @classmethod
    def of_question(cls, question: str, term_weights: "TermWeights") -> "KeyTerms":
        """The question's key terms from ``term_weights``: its own grouping when it has one
        (``key_terms``), else its weights grouped by containment (``from_weights``)."""
        grouped = getattr(term_weights, "key_terms", None)
        return grouped(question) if grouped is not None else cls.from_weights(term_weights.weights(question))

    @classmethod
    def synonyms(cls, groups: Sequence[tuple[Sequence[str], float]]) -> "KeyTerms":
        """One concept per group of interchangeable words, each word worth the group's
        weight (a text earns the weight if it contains any of them)."""
        return cls(tuple(tuple((_compact(w), weight) for w in words) for words, weight in groups
                         if words and weight > 0))

    def with_synonyms(self, expansions: Sequence[tuple[str, Sequence[str], float]]) -> "KeyTerms":
        """Add the words of each ``(expression, words, weight)``: to the concept whose main
        term is the expression (worth its weight: 老师 → 教师), else as a concept of their own
        worth ``weight`` (an everyday expression the index does not know: 手把手 → 师徒结对)."""
        concepts = list(self.concepts)
        for expression, words, weight in expansions:
            head = _compact(expression)
            at = next((i for i, pieces in enumerate(concepts) if pieces[0][0] == head), None)
            if at is None:
                concepts.extend(KeyTerms.synonyms([(words, weight)]).concepts)
            else:
                concepts[at] = concepts[at] + tuple((_compact(w), concepts[at][0][1]) for w in words)
        return KeyTerms(tuple(concepts))

    @property
    def total(self) -> float:
        return sum(pieces[0][1] for pieces in self.concepts)

    def coverage(self, text: str) -> float:
        """Share of the question's key-term weight that ``text`` contains (0 to 1)."""
        total = self.total
        if total <= 0:
            return 0.0
        compact = _compact(text)
        found = (next((w for t, w in pieces if t in compact), 0.0) for pieces in self.concepts)
        return sum(found) / total


# ---------------------------------------------------------------------------- sentences


@dataclass(frozen=True)
class _Sentence:
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


def _candidates(
    hits: Sequence[Hit], source_text: Callable[[str], str], terms: KeyTerms
) -> list[_Sentence]:
    seen: list[tuple[str, int, int]] = []
    out: list[_Sentence] = []
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
            out.append(_Sentence(c.source, s, e, text[s:e], rank, hit, heading, whole))
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


def _cheap_scores(question: str, cands: list[_Sentence], terms: KeyTerms,
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


def _score_all(question: str, cands: list[_Sentence], scorer: SentenceScorer,
               terms: KeyTerms, hits: Sequence[Hit], w: AnswerParams) -> tuple[list[_Sentence], list[float]]:
    cheap = _cheap_scores(question, cands, terms, _passage_gaps(hits[:TOP_HITS]), w)
    sims = np.asarray(scorer.score(question, [c.whole or c.text for c in cands]), dtype=np.float64)
    return cands, [float(sim) + c for sim, c in zip(sims, cheap)]


def _jaccard(a: str, b: str) -> float:
    ga, gb = set(bigrams(_compact(a))), set(bigrams(_compact(b)))
    return len(ga & gb) / max(1, len(ga | gb))


def _pick(cands: list[_Sentence], scores: list[float], max_sentences: int,
          terms: KeyTerms | None = None) -> list[tuple[_Sentence, float]]:
    """The best sentence, and up to ``max_sentences`` - 1 more scoring within
    CLOSE_TO_BEST of it that are not near-duplicates and share some of the question's key
    terms (a close score alone, common when the similarities are bunched, does not make a
    sentence an answer; a paraphrased best sentence stands alone)."""
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], cands[i].hit_rank, cands[i].start))
    picks: list[tuple[_Sentence, float]] = []
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
class _Group:
    members: list[_Sentence]
    score: float

    @property
    def first(self) -> _Sentence:
        return self.members[0]

    @property
    def start(self) -> int:
        return self.members[0].start

    @property
    def end(self) -> int:
        return self.members[-1].end


def _merge(picks: list[tuple[_Sentence, float]], source_text: Callable[[str], str]) -> list[_Group]:
    """Join picked sentences that are neighbours in the same source (only whitespace or a
    line break between them)."""
    by_pos = sorted(picks, key=lambda p: (p[0].source, p[0].start))
    groups: list[_Group] = []
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
            groups.append(_Group([sent], score))
    groups.sort(key=lambda g: (-g.score, g.first.source, g.start))
    return groups


def short_title(title: str, heading_path: Sequence[str] = ()) -> str:
    """A document's name for an answer prefix: no Arabic digits (so every number in the
    answer stays inside a cited sentence), at most 20 characters, plus 篇X when the
    document is one part of a compilation and its title does not say so."""
    name = _TITLE_DIGITS.sub("", title).strip(" -—:：")
    name = re.sub(r"[(（]精选\s*篇[)）]|[(（]\s*[)）]", "", name).strip()
    name = _PIAN.sub("", name) if _PIAN.match(name) else name
    name = re.sub(r"\s*(?:篇[一二三四五六七八九十百零〇]+|第[一二三四五六七八九十百零〇]+篇)$", "", name).strip()
    if len(name) > 20:
        name = name[:19] + "…"
    pian = ""
    for part in list(heading_path[:1]) + [title]:
        m = re.search(r"篇[一二三四五六七八九十百零〇]+|第[一二三四五六七八九十百零〇]+篇", part)
        if m:
            pian = m.group()
            break
    label = f"《{name}》" if name else ""
    return label + pian if (label or pian) else "文档"


def _doc_key(s: _Sentence) -> str:
    return s.hit.chunk.doc_id or f"{s.source}#{s.hit.chunk.title}"


def _display(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text)


# ---------------------------------------------------------------------------- public


def build_answer(
    question: str,
    hits: Sequence[Hit],
    source_text: Callable[[str], str],
    scorer: SentenceScorer,
    abstained: bool,
    term_weights: TermWeights | None = None,
    params: AnswerParams = AnswerParams(),
) -> Answer:
    """The best few sentences of the top hits, verbatim, each group ending in ``[n]``.
    ``term_weights`` gives the question's key terms (default: its bigrams, all equal)."""
    if abstained or not hits:
        return Answer(question, True, NOT_FOUND, ())
    terms = KeyTerms.of_question(question, term_weights or BigramTerms())
    cands = _candidates(hits, source_text, terms)
    if not cands:
        return Answer(question, True, NOT_FOUND, ())
    cands, scores = _score_all(question, cands, scorer, terms, hits, params)
    groups = _merge(_pick(cands, scores, params.max_sentences, terms), source_text)
    several_docs = len({_doc_key(g.first) for g in groups}) > 1
    parts: list[str] = []
    citations: list[Citation] = []
    for n, group in enumerate(groups, start=1):
        chunk = group.first.hit.chunk
        span = source_text(chunk.source)[group.start : group.end]
        prefix = short_title(chunk.title, chunk.heading_path) + "：" if several_docs else ""
        placeholder = bool(_PLACEHOLDER.search(span))
        parts.append(f"{prefix}{_display(span)}[{n}]" + (PLACEHOLDER_NOTE if placeholder else ""))
        citations.append(
            Citation(
                n=n,
                source=chunk.source,
                start=group.start,
                end=group.end,
                text=span,
                title=chunk.title,
                heading_path=tuple(chunk.heading_path),
                doc_id=chunk.doc_id,
                placeholder=placeholder,
                year=chunk.metadata.year,
                region=chunk.metadata.region,
            )
        )
    return Answer(question, False, ("\n" if several_docs else "").join(parts), tuple(citations))


def answer_segments(answer: Answer) -> dict[int, str]:
    """The answer text before each ``[n]`` marker (without any 《title》： prefix)."""
    segments: dict[int, str] = {}
    pos = 0
    for m in _MARKER.finditer(answer.answer):
        seg = answer.answer[pos : m.start()].replace(PLACEHOLDER_NOTE, "").lstrip("\n")
        seg = re.sub(r"^(?:《[^》]*》)?(?:篇[一二三四五六七八九十百零〇]+|第[一二三四五六七八九十百零〇]+篇)?：", "", seg)
        segments[int(m.group(1))] = seg
        pos = m.end()
    return segments


def check_citations(answer: Answer, source_text: Callable[[str], str]) -> list[str]:
    """Problems with an answer's citations; empty when it is sound."""
    problems: list[str] = []
    if answer.abstained:
        if answer.citations:
            problems.append("an abstained answer has citations")
        return problems
    segments = answer_segments(answer)
    numbers = [c.n for c in answer.citations]
    if sorted(segments) != sorted(numbers):
        problems.append(f"markers {sorted(segments)} do not match citations {sorted(numbers)}")
    for c in answer.citations:
        try:
            real = source_text(c.source)[c.start : c.end]
        except Exception as e:  # noqa: BLE001 - report, don't raise
            problems.append(f"[{c.n}] cannot read {c.source}: {e}")
            continue
        if real != c.text:
            problems.append(f"[{c.n}] text differs from {c.source}[{c.start}:{c.end}]")
        cited = set(arabic_numbers(c.text))
        for num in arabic_numbers(segments.get(c.n, "")):
            if num not in cited:
                problems.append(f"[{c.n}] number {num} is not in the cited sentence")
    return problems
