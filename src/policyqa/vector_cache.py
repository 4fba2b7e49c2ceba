"""Vectors of the previous index, looked up by content hash without loading them all.

An incremental build reuses the vector of every passage, sentence and target indicator
whose text the previous generation already embedded (``embed_key``: the sha1 of the
text). ``VectorCache`` keeps only the first 8 bytes of each key, sorted, with where the
row lives (16 bytes a key); rows are read when asked for, from the previous index's
arrays (the FAISS index by ``reconstruct_batch``, the sentence and target vectors by
``pread`` from their ``.npy`` files). Two different texts share a 64-bit prefix with
probability about n²/2⁶⁵ (10⁻⁶ at 6 million keys).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from .index import IndexData

_HEX_KEY = re.compile(rb'"([0-9a-f]{40})"')
_BLOCK = 1 << 22
_ROW_BITS = 40  # where = source << 40 | row
_FIND_BLOCK = 1 << 16

RowReader = Callable[[np.ndarray], np.ndarray]


def key_digests(keys: Iterable[str]) -> np.ndarray:
    """The first 8 bytes of each hex key as a uint64 (keys are sha1 hex digests)."""
    hexes = "".join(k[:16] for k in keys)
    return np.frombuffer(bytes.fromhex(hexes), dtype=">u8").astype(np.uint64)


def _file_digests(path: Path) -> np.ndarray:
    """Digests of a JSON list of hex keys, read in blocks (the list is never decoded whole)."""
    parts, tail = [], b""
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            buf = tail + block
            cut = buf.rfind(b",") + 1 if block else len(buf)
            found = _HEX_KEY.findall(buf, 0, cut)
            if found:
                parts.append(np.frombuffer(bytes.fromhex(b"".join(k[:16] for k in found).decode()), dtype=">u8"))
            tail = buf[cut:]
            if not block:
                break
    return np.concatenate(parts).astype(np.uint64) if parts else np.zeros(0, np.uint64)


def _digests_of(keys: Sequence[str]) -> np.ndarray:
    path = getattr(keys, "path", None)
    if path is not None and getattr(keys, "_items", None) is None:
        return _file_digests(Path(path))  # a loaded index's keys file: streamed
    return key_digests(keys)


def _faiss_rows(index) -> RowReader:
    return lambda rows: index.reconstruct_batch(rows.astype(np.int64))


def _array_rows(array) -> RowReader:
    """Rows of an array or a ``store.RowFile`` (each run of consecutive rows one read)."""
    if isinstance(array, np.ndarray):
        return lambda rows: np.asarray(array[rows], dtype=np.float32)

    def read(rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows, kind="stable")
        ranked = rows[order].astype(np.int64)
        out = np.empty((len(rows),) + tuple(array.shape[1:]), dtype=np.float32)
        cuts = [0, *(np.flatnonzero(np.diff(ranked) != 1) + 1), len(ranked)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            out[order[a:b]] = array[int(ranked[a]): int(ranked[b - 1]) + 1]
        return out

    return read


class VectorCache:
    """``key in cache``, ``cache[key]``, and the batched ``find`` / ``read``."""

    def __init__(self, dim: int, sources: Sequence[tuple[np.ndarray, RowReader]] = ()):
        self.dim = dim
        self._readers = [reader for _, reader in sources]
        digests = [d for d, _ in sources]
        where = [(np.uint64(s) << np.uint64(_ROW_BITS)) | np.arange(len(d), dtype=np.uint64)
                 for s, d in enumerate(digests)]
        all_digests = np.concatenate(digests) if digests else np.zeros(0, np.uint64)
        order = np.argsort(all_digests, kind="stable")  # a repeated key: the last source wins, as dict.update did
        self._digests = all_digests[order]
        self._where = (np.concatenate(where) if where else np.zeros(0, np.uint64))[order]

    @classmethod
    def of_index(cls, data: IndexData | None) -> "VectorCache":
        """The passages, sentences and target indicators of a loaded (or built) index."""
        if data is None or data.vectors.ntotal == 0:
            return cls(0)
        sources = [(_digests_of(data.embed_keys), _faiss_rows(data.vectors)),
                   (_digests_of(data.sentences.keys), _array_rows(data.sentences.vectors))]
        if data.target_vectors is not None and len(data.target_keys):
            sources.append((_digests_of(data.target_keys), _array_rows(data.target_vectors)))
        return cls(data.vectors.d, sources)

    @classmethod
    def of_mapping(cls, vectors: Mapping[str, np.ndarray]) -> "VectorCache":
        keys = list(vectors)
        if not keys:
            return cls(0)
        array = np.asarray([vectors[k] for k in keys], dtype=np.float32)
        return cls(array.shape[1], [(key_digests(keys), _array_rows(array))])

    def __len__(self) -> int:
        return len(self._digests)

    def digests(self) -> np.ndarray:
        """The sorted distinct digests of every key (what a Ray actor checks before embedding)."""
        return np.unique(self._digests)

    def nbytes(self) -> int:
        return self._digests.nbytes + self._where.nbytes

    def find(self, keys: Sequence[str]) -> np.ndarray:
        """Where each key's vector lives (int64), -1 for a key the cache lacks."""
        out = np.full(len(keys), -1, np.int64)
        if not len(self._digests):
            return out
        for a in range(0, len(keys), _FIND_BLOCK):  # (temporaries of one block at a time)
            d = key_digests(keys[a:a + _FIND_BLOCK])
            at = np.maximum(np.searchsorted(self._digests, d, side="right") - 1, 0)
            hit = self._digests[at] == d
            out[a:a + len(d)][hit] = self._where[at[hit]].astype(np.int64)
        return out

    def read(self, where: np.ndarray) -> np.ndarray:
        """float32 rows for ``find`` results (all found)."""
        out = np.zeros((len(where), self.dim), dtype=np.float32)
        source, row = where >> _ROW_BITS, where & ((1 << _ROW_BITS) - 1)
        for s, reader in enumerate(self._readers):
            mine = np.flatnonzero(source == s)
            if len(mine):
                out[mine] = reader(row[mine])
        return out

    def __contains__(self, key: str) -> bool:
        return bool(self.find([key])[0] >= 0)

    def __getitem__(self, key: str) -> np.ndarray:
        where = self.find([key])
        if where[0] < 0:
            raise KeyError(key)
        return self.read(where)[0]
