"""An engine's query dictionaries (glossary, thesaurus): each read once, on first use, and None with one warning when it cannot be."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import PolicyQAError

# the engine's own log: a dictionary it cannot read is the engine's news, whichever module tells it
log = logging.getLogger("policyqa.engine")


@dataclass
class QueryDictionaries:
    """The dictionaries one engine has read, by name (None for one that could not be)."""

    _items: dict[str, object] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str, load: Callable[[], object], failing: str):
        """``load()`` once; when it fails, None and one warning ("``failing``: why")."""
        with self._lock:
            if name not in self._items:
                try:
                    self._items[name] = load()
                except (PolicyQAError, OSError, UnicodeDecodeError) as e:
                    self._items[name] = None
                    log.warning("%s: %s", failing, e)
            return self._items[name]


def load_with_extra(load: Callable[..., object], extra: Path | None) -> object:
    """``load(extra=[extra])``; a broken ``extra`` file (Settings.glossary) is logged and left out."""
    if extra is not None:
        try:
            return load(extra=[extra])
        except (PolicyQAError, UnicodeDecodeError) as e:
            log.warning("glossary %s is not used: %s", extra, e)
    return load()
