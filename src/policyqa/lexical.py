"""Lexical side of retrieval: tokenisation and a BM25 index built once.

Tokens of a text (after traditional→simplified folding and NFKC width folding):
* jieba search-mode words of each CJK run (``w:`` prefix),
* character bigrams of each CJK run (``b:``), which survive segmentation mistakes,
* lower-cased ASCII words and numbers (``a:``).

The BM25 score matrix (Lucene BM25, k1 1.2, b 0.75) is computed by ``bm25s`` at build time
and kept token-major: for each token, the chunks containing it and their precomputed
scores (a posting list). A query sums the posting lists of its tokens. Once loaded from
disk only the list pointers (8 bytes per token) and a compact vocabulary (64-bit token
hashes, 12 bytes per token, instead of a Python dict at ~170 bytes per token) stay in
memory; posting lists are read from the files when a query needs them (store.RowFile), so
neither the memory of the process nor its resident set grows with the corpus beyond that.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .store import RowFile, write_npy
from .text import CJK_RUN, QUESTION_WORDS, bigrams, normalise

_ASCII_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?%?")
# Very common function words and the question words: they carry no topic.
_STOP = frozenset("的 了 和 与 及 等 在 是 对 为 将 把 被 有 也 并 或 中 上 下 要 各 个 之 其 从 以 于".split()) | set(QUESTION_WORDS)


@lru_cache(maxsize=1)
def jieba_tokenizer():
    """One jieba tokenizer per process, loaded on first use (its dictionary takes ~50 MB)."""
    import jieba

    jieba.setLogLevel(60)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


WORD_TOKEN = "w:"  # prefix of jieba words among the tokens ("b:" bigrams, "a:" ASCII words)


def tokenize(text: str) -> list[str]:
    norm = normalise(text)
    tokens: list[str] = []
    for run in CJK_RUN.findall(norm):
        tokens.extend(WORD_TOKEN + w for w in jieba_tokenizer().cut_for_search(run) if w not in _STOP and len(w) > 1)
        tokens.extend("b:" + g for g in bigrams(run, cjk_only=True))
        if len(run) == 1 and run not in _STOP:
            tokens.append(WORD_TOKEN + run)
    tokens.extend("a:" + w for w in _ASCII_WORD.findall(norm))
    return tokens


def bm25_idf(df: int, n_docs: int) -> float:
    """BM25 (Lucene) inverse document frequency; 0 for a term no passage contains."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) if df > 0 else 0.0


def token_hash(token: str) -> int:
    """Stable 64-bit hash of a token (the vocabulary's key)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass
class TokenVocab:
    """token → id as two sorted arrays of 64-bit hashes and ids (12 bytes per token). Two
    tokens sharing a hash (odds ≈ n²/2⁶⁵: ~1e-7 for 3M tokens) would share postings."""

    hashes: np.ndarray  # (V,) uint64, sorted
    ids: np.ndarray  # (V,) int32, id of each hash

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]) -> "TokenVocab":
        """``tokens[i]`` gets id ``i``."""
        h = np.fromiter((token_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))
        order = np.argsort(h, kind="stable")
        return cls(h[order], order.astype(np.int32))

    def get(self, token: str) -> int | None:
        if not len(self.hashes):
            return None
        h = np.uint64(token_hash(token))
        i = int(np.searchsorted(self.hashes, h))
        return int(self.ids[i]) if i < len(self.hashes) and self.hashes[i] == h else None

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self.get(token) is not None

    def __len__(self) -> int:
        return len(self.hashes)


_FILES = ("data.npy", "indices.npy", "indptr.npy", "vocab_hashes.npy", "vocab_ids.npy")


@dataclass
class LexicalIndex:
    """BM25 over pre-tokenised chunks, as token-major posting lists (see the module
    docstring). ``data``/``indices`` are arrays after a build and ``RowFile``s once loaded."""

    n_docs: int
    vocab: TokenVocab
    indptr: np.ndarray  # (V + 1,) int64: postings of token t are [indptr[t], indptr[t + 1])
    data: Any  # (P,) float32 BM25 score of each posting
    indices: Any  # (P,) int32 chunk of each posting

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        if not texts:  # (bm25s fails on an empty corpus: max() of an empty sequence)
            return cls.from_matrix(0, {}, np.zeros(1, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int32))
        import bm25s

        corpus_tokens = [tokenize(t) or ["<empty>"] for t in texts]
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index(corpus_tokens, show_progress=False)
        return cls.from_matrix(len(texts), model.vocab_dict, model.scores["indptr"], model.scores["data"],
                               model.scores["indices"])

    @classmethod
    def from_matrix(cls, n_docs: int, vocab: dict[str, int], indptr: np.ndarray, data: np.ndarray,
                    indices: np.ndarray) -> "LexicalIndex":
        """From a token-major BM25 score matrix (bm25s' ``scores``) and its token → id dict."""
        tokens = [""] * (len(indptr) - 1)
        for token, i in vocab.items():
            if i < len(tokens):  # (bm25s lists an "" token past the matrix's columns)
                tokens[i] = token
        return cls(n_docs, TokenVocab.from_tokens(tokens), np.asarray(indptr, dtype=np.int64),
                   np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, arr in zip(_FILES, (self.data, self.indices, self.indptr, self.vocab.hashes, self.vocab.ids)):
            write_npy(directory / name, arr)
        (directory / "policyqa_lexical.json").write_text(json.dumps({"n_docs": self.n_docs}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, in_memory: bool = False) -> "LexicalIndex":
        """Open a saved index: pointers and vocabulary in memory, posting lists read per
        query from the files (``in_memory`` reads them all instead)."""
        meta = json.loads((directory / "policyqa_lexical.json").read_text(encoding="utf-8"))
        read = np.load if in_memory else RowFile
        return cls(int(meta["n_docs"]), TokenVocab(np.load(directory / "vocab_hashes.npy"),
                                                   np.load(directory / "vocab_ids.npy")),
                   np.load(directory / "indptr.npy"), read(directory / "data.npy"), read(directory / "indices.npy"))

    def known(self, tokens: Sequence[str]) -> list[str]:
        return [t for t in tokens if t in self.vocab]

    def coverage(self, tokens: Sequence[str]) -> float:
        """Share of the query's tokens the corpus vocabulary has (0 for e.g. English
        queries over a Chinese corpus: the lexical side then cannot see anything)."""
        return len(self.known(tokens)) / len(tokens) if tokens else 0.0

    def idf(self, token: str) -> float:
        """BM25 (Lucene) inverse document frequency of ``token``; 0 when no passage has it."""
        return bm25_idf(self.document_frequency(token), self.n_docs)

    @property
    def max_idf(self) -> float:
        """The IDF of a token that one passage has (the rarest a known token can be)."""
        return bm25_idf(1, self.n_docs)

    def document_frequency(self, token: str) -> int:
        """How many indexed passages contain ``token`` (the length of its posting list)."""
        t = self.vocab.get(token)
        return 0 if t is None else int(self.indptr[t + 1] - self.indptr[t])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk: the sum over the query's tokens (repeats count again)
        of the token's precomputed score in each chunk containing it. A chunk appears once
        in a token's posting list, so each list is added with one scatter-add."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for t in (self.vocab.get(tok) for tok in tokens):
            if t is not None:
                a, b = int(self.indptr[t]), int(self.indptr[t + 1])
                out[self.indices[a:b]] += self.data[a:b]
        return out
