"""Index generations on disk: who may remove one, and whether one is intact.

* **Readers lock.** Every generation folder has an empty ``readers.lock``. A process that
  reads the generation holds a shared ``flock`` on it for as long as it uses the generation
  (``GenerationLock``: released by ``release()`` or when the object is collected, i.e. when
  the last request holding that index data is done). A build removes an old generation
  only after taking an exclusive non-blocking lock on it, so a server in another process
  keeps every file of the generation it serves; what is left is removed by a later build.
  Crashed readers hold nothing (the kernel drops their locks).
* **Leftovers.** Folders of a killed build (``.gen-*.tmp``; a generation written but never
  made ``current``; a half-removed ``.gen-*.trash``) are removed by the next build under the
  same rule.
* **Checksums.** A build records the size, modification time and xxh3-128 digest of every
  file of the generation in its manifest (and a digest of the manifest itself). Opening a
  generation checks every file's size and the digest of every file up to
  ``HASH_ALWAYS_BYTES``; a larger file (the vectors and posting lists of a big index) is
  hashed when its modification time differs from the one recorded, so an untouched
  million-chunk index opens without reading its 9 GB (bench/bench_checksum.py). Damage
  raises ``IndexDamagedError`` naming the file.

All removal runs under the index folder's build lock (index.build_lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from .errors import IndexDamagedError, IndexMissingError

CURRENT = "current"
MANIFEST = "manifest.json"
READERS_LOCK = "readers.lock"
MANIFEST_DIGEST = "manifest_xxh3"  # the manifest's own digest, a key of its JSON
# Files up to this size are hashed at every open; bigger ones when their mtime changed.
HASH_ALWAYS_BYTES = 64 << 20
_BLOCK = 8 << 20
_LOCK_ATTEMPTS = 20


# --- digests ------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    """xxh3-128 of a file's bytes (hex)."""
    h = xxhash.xxh3_128()
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _files_of(gen: Path) -> list[Path]:
    """Every file of a generation except the manifest and the readers lock, sorted."""
    out = [p for p in gen.rglob("*") if p.is_file() and not p.is_symlink()]
    return sorted(p for p in out if p.relative_to(gen).as_posix() not in (MANIFEST, READERS_LOCK))


def record_checksums(gen: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {size, mtime_ns, xxh3}} of every file written into ``gen``."""
    sums: dict[str, dict[str, Any]] = {}
    for p in _files_of(gen):
        st = p.stat()
        sums[p.relative_to(gen).as_posix()] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                               "xxh3": file_digest(p)}
    return sums


def manifest_digest(d: dict[str, Any]) -> str:
    """Digest of a manifest's JSON object (its own digest key left out), key order ignored."""
    body = {k: v for k, v in d.items() if k != MANIFEST_DIGEST}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


def verify_checksums(gen: Path, sums: dict[str, dict[str, Any]], hash_always_bytes: int = HASH_ALWAYS_BYTES) -> None:
    """Raise ``IndexDamagedError`` for the first file of ``gen`` that is missing, of another
    size, or (hashed as the module docstring says) of other content."""
    for name, want in sums.items():
        path = gen / name
        try:
            st = path.stat()
        except FileNotFoundError:
            raise IndexDamagedError(path, "missing") from None
        except OSError as e:
            raise IndexDamagedError(path, f"cannot be read ({e.strerror or e})") from None
        if st.st_size != want["size"]:
            raise IndexDamagedError(path, f"{st.st_size:,} bytes, {want['size']:,} expected (truncated or overwritten)")
        if st.st_size <= hash_always_bytes or st.st_mtime_ns != want["mtime_ns"]:
            try:
                same = file_digest(path) == want["xxh3"]
            except OSError as e:
                raise IndexDamagedError(path, f"cannot be read ({e.strerror or e})") from None
            if not same:
                raise IndexDamagedError(path, "its content does not match the checksum recorded at build time")


# --- the generation a reader uses -----------------------------------------------------


def current_generation(index_dir: Path) -> Path:
    """The folder ``current`` points at. No link: ``IndexMissingError``; a link to a missing
    folder or to one without a manifest: ``IndexDamagedError``."""
    link = index_dir / CURRENT
    if not link.is_symlink():
        raise IndexMissingError(
            f"no index in {index_dir}: run 'policyqa index --corpus CORPUS --index-dir {index_dir}' first")
    target = index_dir / os.readlink(link)
    if not target.is_dir():
        raise IndexDamagedError(link, f"points at {target.name}, which is missing")
    if not (target / MANIFEST).is_file():
        raise IndexDamagedError(target / MANIFEST, "missing")
    return target.resolve()


class GenerationLock:
    """A shared lock on one generation (see the module docstring). ``path`` is the
    generation's folder; everything read from it stays there while the lock is held."""

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self._release = weakref.finalize(self, os.close, fd) if fd is not None else None

    @property
    def held(self) -> bool:
        """False once released, and for a generation without a lock file (not of this format)."""
        return self._release is not None and self._release.alive

    def release(self) -> None:
        if self._release is not None:
            self._release()


def _lock_shared(gen: Path) -> GenerationLock | None:
    """A shared lock on ``gen``, or None when a build removed it meanwhile. A generation
    without a lock file gets a lock that is not held (its manifest says why: another
    format, or damage)."""
    lock_path = gen / READERS_LOCK
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return GenerationLock(gen, None) if (gen / MANIFEST).is_file() else None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # a build holds the exclusive lock only to rename the folder away
        st, now = os.fstat(fd), os.stat(lock_path)
        if (st.st_ino, st.st_dev) == (now.st_ino, now.st_dev):
            return GenerationLock(gen, fd)
    except FileNotFoundError:
        pass
    os.close(fd)
    return None


def lock_current(index_dir: Path) -> GenerationLock:
    """Resolve ``current`` and hold a shared lock on that generation (retrying when a
    build removes the folder between the two)."""
    for _ in range(_LOCK_ATTEMPTS):
        lock = _lock_shared(current_generation(index_dir))
        if lock is not None:
            return lock
    raise IndexDamagedError(index_dir / CURRENT, "its generation keeps disappearing while it is opened")


# --- removal (the builder, holding the build lock) ------------------------------------


@dataclass
class Removal:
    """What ``remove_unused`` did: folders removed, and those kept because a reader holds them."""

    removed: list[str]
    in_use: list[str]


def _removable(entry: os.DirEntry) -> bool:
    name = entry.name
    if entry.is_symlink():
        return name.startswith(f".{CURRENT}.") and name.endswith(".tmp")
    if not entry.is_dir(follow_symlinks=False):
        return False
    return name.startswith("gen-") or (name.startswith(".gen-") and name.endswith((".tmp", ".trash")))


def _remove_if_unused(path: Path) -> bool:
    """Remove a generation folder unless a reader holds its lock. Renamed away first (while
    locked), so a reader waiting for the lock sees the folder gone and a killed removal
    leaves a ``.trash`` folder that the next build finishes."""
    try:
        fd = os.open(path / READERS_LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None  # a build's temporary folder or a half-removed one: never read
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
        if not path.name.endswith(".trash"):
            trash = path.with_name(f".{path.name.lstrip('.')}.trash")
            os.rename(path, trash)
            path = trash
    finally:
        if fd is not None:
            os.close(fd)
    shutil.rmtree(path, ignore_errors=True)
    return True


def remove_unused(index_dir: Path, keep: str | None = None) -> Removal:
    """Remove every generation but ``current`` (and ``keep``) that no reader holds, and the
    leftovers of killed builds. Call only while holding the build lock."""
    try:
        current = os.readlink(index_dir / CURRENT)
    except OSError:
        current = None
    done = Removal([], [])
    for entry in sorted(os.scandir(index_dir), key=lambda e: e.name):
        if entry.name in (current, keep) or not _removable(entry):
            continue
        if entry.is_symlink():
            os.unlink(entry.path)
        elif _remove_if_unused(Path(entry.path)):
            done.removed.append(entry.name)
        else:
            done.in_use.append(entry.name)
    return done

