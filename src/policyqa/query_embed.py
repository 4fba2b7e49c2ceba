"""Query-time embedding: the text the model reads, batches that take turns on one model, and the recent query vectors."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .search import query_text

# sentences embedded per turn of the model lock (a query waits for at most one turn)
EMBED_TURN = 8
# The models read at most 512 tokens (about as many CJK characters); embedding more only
# costs time, so request-side text is cut to this before it reaches the model.
MODEL_READS_CHARS = 512


def model_input(text: str) -> str:
    """What the model is given for a query or draft sentence: folded, cut to what it reads."""
    return query_text(text)[:MODEL_READS_CHARS]


def embed_in_turns(embed: Callable[[list[str]], np.ndarray], lock: threading.Lock, texts: Sequence[str]) -> np.ndarray:
    """``embed`` the texts in small batches, taking ``lock`` per batch: a long draft's many
    sentences let other users' queries in between instead of holding the model."""
    texts = [model_input(t) for t in texts]
    if not texts:
        return embed([])
    parts = []
    for i in range(0, len(texts), EMBED_TURN):
        with lock:
            parts.append(embed(texts[i:i + EMBED_TURN]))
    return np.vstack(parts)


@dataclass
class QueryVectors:
    """The most recently used query vectors (ask and search of one question embed it once)."""

    size: int = 256
    _items: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vec = self._items.get(key)
            if vec is not None:
                self._items.move_to_end(key)
            return vec

    def put(self, key: str, vec: np.ndarray) -> None:
        with self._lock:
            self._items[key] = vec
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
