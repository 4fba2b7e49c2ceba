"""``EmbedStream``: the texts of a build embedded while the corpus is still being parsed,
each new text once, cached ones read from the previous index (``VectorCache``)."""

from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np

from .embed import Embedder
from .index import embed_key
from .types import ProgressEvent
from .vector_cache import VectorCache

Progress = Callable[[ProgressEvent], None]


# Texts waiting before the stream embeds them: enough for well-sorted batches (little
# padding), few enough that embedding starts while the corpus is still being parsed.
EMBED_FLUSH_AT = 1024


class EmbedStream:
    """Texts to embed, fed while the corpus is still being parsed (in another thread) and
    embedded in batches of similar length whenever ``flush_at`` of them wait, so parsing
    and embedding overlap. A text whose content hash is cached (``cache()``, read from the
    previous index on first need) or already embedded is not embedded again."""

    def __init__(self, embedder: Embedder, batch: int, cache: Callable[[], "VectorCache | dict[str, np.ndarray]"],
                 progress: Progress, flush_at: int = EMBED_FLUSH_AT):
        self.embedder, self.batch, self.progress, self.flush_at = embedder, batch, progress, flush_at
        self._load_cache = cache
        self._cache: VectorCache | None = None
        self.fresh: dict[str, np.ndarray] = {}
        self.pending: dict[str, str] = {}
        self.seconds = 0.0
        self.files_total = 1  # corpus files (counted before parsing starts)
        self.files_done = 0  # files parsed whose texts are all embedded
        self.files_waiting = 0  # files parsed whose texts wait in ``pending``

    @property
    def cache(self) -> VectorCache:
        if self._cache is None:
            loaded = self._load_cache()
            self._cache = VectorCache.of_mapping(loaded) if isinstance(loaded, dict) else loaded
        return self._cache

    def add(self, texts: Sequence[str]) -> None:
        """The texts of one parsed file."""
        keys = [embed_key(t) for t in texts]
        cached = self.cache.find(keys) >= 0
        waiting = len(self.pending)
        for t, k, hit in zip(texts, keys, cached):
            if not hit and k not in self.fresh and k not in self.pending:
                self.pending[k] = t
        if len(self.pending) > waiting:
            self.files_waiting += 1
        else:
            self.files_done += 1
        if len(self.pending) >= self.flush_at:
            self.flush()
        else:
            self._report(0, 0)

    def flush(self) -> None:
        """Embed everything waiting, shortest first."""
        order = sorted(self.pending, key=lambda k: len(self.pending[k]))
        t0 = time.perf_counter()
        for i in range(0, len(order), self.batch):
            part = order[i : i + self.batch]
            self.fresh.update(zip(part, self.embedder.embed_passages([self.pending[k] for k in part])))
            self._report(i + len(part), len(order))
        self.pending.clear()
        self.files_done += self.files_waiting
        self.files_waiting = 0
        self.seconds += time.perf_counter() - t0

    def add_embedded(self, vectors: Mapping[str, np.ndarray], seconds: float = 0.0, detail: str = "") -> None:
        """The texts of one file embedded elsewhere (a Ray actor), by ``embed_key``."""
        self.fresh.update(vectors)
        self.seconds += seconds
        self.files_done += 1
        self.progress(ProgressEvent("embed", self.files_done + self.files_waiting, self.files_total, "files",
                                    detail or f"{len(self.fresh)} passages and sentences embedded"))

    def finish(self) -> None:
        """Everything is parsed and embedded (skipped files count as done too)."""
        self.files_done, self.files_waiting = self.files_total, 0
        self._report(0, 0)

    def note(self, detail: str) -> None:
        """Tell where parsing stands (an OCR page) without changing the numbers."""
        self.progress(ProgressEvent("embed", self.files_done, self.files_total, "files", detail))

    def _report(self, embedded: int, batch: int) -> None:
        """Files done, counting the waiting ones by the share of this flush embedded so far:
        the total (files) is known from the start and ``done`` only grows."""
        share = embedded / batch if batch else 0.0
        self.progress(ProgressEvent("embed", self.files_done + self.files_waiting * share, self.files_total,
                                    "files", f"{len(self.fresh)} passages and sentences embedded"))

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts`` (embedding any not seen yet); cached ones are read from
        the previous index's arrays only now, in one pass."""
        keys = [embed_key(t) for t in texts]
        where = self.cache.find(keys)
        for t, k, w in zip(texts, keys, where):
            if w < 0 and k not in self.fresh:
                self.pending[k] = t
        if self.pending:
            self.flush()
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        fresh = [i for i, k in enumerate(keys) if k in self.fresh]
        for i in fresh:
            out[i] = self.fresh[keys[i]]
        old = np.flatnonzero(where >= 0)
        if fresh:
            old = np.setdiff1d(old, fresh)
        if len(old):
            out[old] = self.cache.read(where[old])
        return out
