"""The index generation an engine serves: opened (built first when asked), and switched to the newer one another process wrote.

Another process may write a new index generation at any time (``policyqa index`` beside a
running ``policyqa serve``). Every public engine call takes one snapshot of the data at its
start (``Engine.data``), so a request never mixes two generations; at most every
``Settings.reload_check_seconds`` that snapshot is checked against the index folder's
``current`` link and the new generation is opened, between requests, while the old one
keeps serving whoever holds it. The engine's data holds a shared lock on its generation
(index.load_index), so a build in another process leaves that generation in place; the lock
is released by ``close()``, or after a switch when the last request using the old data is
done, and a later build (or the engine's own ``reindex``) removes the folder.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

from .build import Progress, build_index, index_is_current
from .config import Settings
from .embed import Embedder, embedder_for
from .errors import IndexDamagedError, IndexFormatError, IndexMissingError, PolicyQAError
from .index import CURRENT, IndexData, check_model, load_index, tidy_index
from .types import ProgressEvent

# the engine's own log: which generation it serves is the engine's news, whichever module tells it
log = logging.getLogger("policyqa.engine")


def no_progress(_event: ProgressEvent) -> None:
    pass


def open_index(settings: Settings, build_if_needed: bool, progress: Progress,
               embedder: Embedder | None) -> tuple[IndexData, Embedder]:
    """The index in ``settings.index_dir`` and the embedder for it; with ``build_if_needed``,
    built or updated from ``settings.corpus`` first (a missing, outdated or other-format
    index is rebuilt; a damaged one is reported: ``policyqa index`` repairs it)."""
    previous: IndexData | None = None
    try:
        previous = load_index(settings.index_dir)
    except (IndexMissingError, IndexFormatError) as e:
        if not build_if_needed or isinstance(e, IndexDamagedError):
            raise
        progress(ProgressEvent("scan", 0, 0, detail=f"building the index ({e})"))
    if previous is not None and previous.manifest.model != settings.model:
        if not build_if_needed:
            try:
                check_model(previous.manifest, settings.model, settings.index_dir)
            except PolicyQAError:
                previous.close()  # its files and generation lock, now rather than when collected
                raise
        previous.close()
        previous = None
    embedder = embedder or embedder_for(settings)
    if build_if_needed and (previous is None or not index_is_current(settings)):
        build_index(settings, embedder, progress, previous)
        previous = load_index(settings.index_dir)  # (the old generation's lock goes with the old data)
        tidy_index(settings.index_dir)
    return previous, embedder


def generation_of(index_dir: Path) -> str | None:
    """The name of the generation ``current`` points at (None when there is none)."""
    try:
        return os.readlink(index_dir / CURRENT)
    except OSError:
        return None


def switch_if_changed(served: IndexData, index_dir: Path, lock: threading.Lock, reload: Callable[[], None]) -> None:
    """``reload()`` when ``current`` names another generation than ``served``'s; a request
    that finds another one opening it (``lock`` held) goes on with ``served``, and a
    generation that cannot be opened is logged while ``served`` keeps serving."""
    current = served.path
    generation = generation_of(index_dir)
    if generation is None or current is None or generation == current.name:
        return
    if not lock.acquire(blocking=False):
        return  # another request is opening it already
    try:
        reload()
        log.info("serving index generation %s", generation)
    except PolicyQAError as e:
        log.warning("index generation %s cannot be opened, still serving %s: %s", generation, current.name, e)
    finally:
        lock.release()
