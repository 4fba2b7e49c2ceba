"""A question's key terms and how much each counts, and the similarity scorers an answer ranks sentences with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol, Sequence

import numpy as np

from .text import bigrams, compact, strip_question_words


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
cached_compact = lru_cache(maxsize=4096)(compact)


def _question_bigrams(question: str) -> set[str]:
    grams: set[str] = set()
    for part in strip_question_words(question).split():
        grams |= set(bigrams(cached_compact(part))) or set(cached_compact(part))  # a one-character part is its own term
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
        return cls(tuple(tuple((cached_compact(w), weight) for w in words) for words, weight in groups
                         if words and weight > 0))

    def with_synonyms(self, expansions: Sequence[tuple[str, Sequence[str], float]]) -> "KeyTerms":
        """Add the words of each ``(expression, words, weight)``: to the concept whose main
        term is the expression (worth its weight: 老师 → 教师), else as a concept of their own
        worth ``weight`` (an everyday expression the index does not know: 手把手 → 师徒结对)."""
        concepts = list(self.concepts)
        for expression, words, weight in expansions:
            head = cached_compact(expression)
            at = next((i for i, pieces in enumerate(concepts) if pieces[0][0] == head), None)
            if at is None:
                concepts.extend(KeyTerms.synonyms([(words, weight)]).concepts)
            else:
                concepts[at] = concepts[at] + tuple((cached_compact(w), concepts[at][0][1]) for w in words)
        return KeyTerms(tuple(concepts))

    @property
    def total(self) -> float:
        return sum(pieces[0][1] for pieces in self.concepts)

    def coverage(self, text: str) -> float:
        """Share of the question's key-term weight that ``text`` contains (0 to 1)."""
        total = self.total
        if total <= 0:
            return 0.0
        compact = cached_compact(text)
        found = (next((w for t, w in pieces if t in compact), 0.0) for pieces in self.concepts)
        return sum(found) / total
