"""Lexical side of retrieval: tokenisation and a BM25 index (``bm25s``) built once.

Tokens of a text (after traditional→simplified folding and NFKC width folding):
* jieba search-mode words of each CJK run (``w:`` prefix),
* character bigrams of each CJK run (``b:``), which survive segmentation mistakes,
* lower-cased ASCII words and numbers (``a:``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .clean import fold

_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?%?")
# Very common function words that carry no topic.
_STOP = frozenset("的 了 和 与 及 等 在 是 对 为 将 把 被 有 也 并 或 中 上 下 要 各 个 之 其 从 以 于 什么 怎么 哪些 如何 多少 有何 有什么".split())


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(60)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def normalise(text: str) -> str:
    """Fold script and width for matching (never used for offsets)."""
    return unicodedata.normalize("NFKC", fold(text)).lower()


def tokenize(text: str) -> list[str]:
    norm = normalise(text)
    tokens: list[str] = []
    for run in _CJK_RUN.findall(norm):
        tokens.extend("w:" + w for w in _jieba().cut_for_search(run) if w not in _STOP and len(w) > 1)
        tokens.extend("b:" + run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1 and run not in _STOP:
            tokens.append("w:" + run)
    tokens.extend("a:" + w for w in _ASCII_WORD.findall(norm))
    return tokens


@dataclass
class LexicalIndex:
    """BM25 over pre-tokenised chunks."""

    bm25: object
    vocab: dict[str, int]
    n_docs: int

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        corpus_tokens = [tokenize(t) or ["<empty>"] for t in texts]
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index(corpus_tokens, show_progress=False)
        return cls(model, model.vocab_dict, len(texts))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(directory))
        (directory / "policyqa_lexical.json").write_text(json.dumps({"n_docs": self.n_docs}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, mmap: bool = False) -> "LexicalIndex":
        """Load a saved index; ``mmap`` maps the score matrix instead of reading it, so only
        the postings of tokens that queries use become resident (same query speed)."""
        import bm25s

        model = bm25s.BM25.load(str(directory), mmap=mmap)
        meta = json.loads((directory / "policyqa_lexical.json").read_text(encoding="utf-8"))
        return cls(model, model.vocab_dict, int(meta["n_docs"]))

    def known(self, tokens: Sequence[str]) -> list[str]:
        return [t for t in tokens if t in self.vocab]

    def coverage(self, tokens: Sequence[str]) -> float:
        """Share of the query's tokens the corpus vocabulary has (0 for e.g. English
        queries over a Chinese corpus: the lexical side then cannot see anything)."""
        return len(self.known(tokens)) / len(tokens) if tokens else 0.0

    def document_frequency(self, token: str) -> int:
        """How many indexed passages contain ``token`` (the length of its posting list in
        the BM25 score matrix; no scoring pass)."""
        t = self.vocab.get(token)
        if t is None:
            return 0
        indptr = self.bm25.scores["indptr"]
        return int(indptr[t + 1] - indptr[t])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        known = self.known(tokens)
        if not known:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)
