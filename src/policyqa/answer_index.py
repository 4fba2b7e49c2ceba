"""Adapters that let the answer engine (``answer.build_answer``) score sentences with what
the index already holds: the precomputed sentence vectors (``IndexedScorer``) and the BM25
statistics of the passages (``IndexedTermWeights``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .answer_terms import KeyTerms
from .glossary import Phrase, Translation
from .index import IndexData, embed_key
from .lexical import WORD_TOKEN, LexicalIndex
from .search import question_words
from .text import normalise
from .types import Hit


@dataclass
class IndexedScorer:
    """Question↔sentence similarity for the answer engine, from the precomputed vectors of
    the hits' sentences (read row by row from the sentence table). The answer splits a
    chunk with the table's ``text.sentence_spans`` and at line breaks too, so a sentence it
    scores is an indexed one or a line of one (a heading line, or the sentence under it):
    it is scored by the indexed sentence that it is or that contains it. Only a sentence of
    no indexed one is embedded (the slow step, ≈25 ms each), at most ``max_embed`` per
    question. ``query_vector`` is the question's vector; ``embed_passages`` embeds those."""

    data: IndexData
    query_vector: np.ndarray
    embed_passages: Callable[[Sequence[str]], np.ndarray]
    hits: Sequence[Hit] = ()
    max_embed: int = 8

    def _indexed(self) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """Content key → sentence-table row, and (folded text, row) of every sentence of
        the hits' chunks."""
        st = self.data.sentences
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

    def _row_of(self, sentence: str, rows: dict[str, int], texts: list[tuple[str, int]]) -> int | None:
        folded = normalise(sentence)
        row = rows.get(embed_key(folded))
        if row is None and folded.strip():  # a line of an indexed sentence
            row = next((r for t, r in texts if folded.strip() in t), None)
        return row

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        q = self.query_vector
        rows, texts = self._indexed()
        table = self.data.sentences.vectors
        found = [self._row_of(s, rows, texts) for s in sentences]
        sims = [float(np.asarray(table[r], dtype=np.float32) @ q) if r is not None else None for r in found]
        missing = [i for i, v in enumerate(sims) if v is None][: self.max_embed]
        if missing:
            vecs = self.embed_passages([sentences[i] for i in missing])
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
        if self.translation is None:
            return KeyTerms.from_weights(self.weights(question)).with_synonyms(
                [(p.term, p.chinese, p.weight) for p in self.expansion])
        return KeyTerms.synonyms([(p.chinese, p.weight) for p in self.translation.phrases])

    def weights(self, question: str) -> dict[str, float]:
        words = self.translation.words if self.translation is not None else question_words(question)
        idf = {w: self.lexical.idf(WORD_TOKEN + w) for w in words}
        return {w: v for w, v in idf.items() if v > 0}
