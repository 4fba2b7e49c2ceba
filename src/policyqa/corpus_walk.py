"""The corpus folder: which entries are read, their source names, and opening a file without following links."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import LoadError

MAX_DEPTH = 64  # folder levels below the root; real corpora are a few levels deep


class SkippedEntry(LoadError):
    """A corpus entry the walk refused without opening it (hidden name, symbolic link, too deep)."""


@dataclass(frozen=True)
class CorpusWalk:
    files: list[Path]  # regular files to load, sorted by source name
    skipped: list[SkippedEntry]  # sorted by source name


def walk_corpus(root: Path) -> CorpusWalk:
    """Regular files under ``root`` (sorted by source name) and the entries refused, each a
    ``SkippedEntry`` with its reason, never opened: hidden names (starting with ".": the folder
    is not entered), symbolic links, anything that is not a regular file or folder, and
    folders more than ``MAX_DEPTH`` levels deep. The walk is iterative (no recursion limit).
    Unsupported files are listed too, so callers can report them.

    Links are never followed: one leading outside the corpus (to /etc/passwd, say), a dangling
    link and a loop are reported as such; a link to a file or folder inside the corpus is
    reported as indexed under its target's own name (the walk reaches the target anyway, and
    following the link would index the same text twice). The root itself may be a link."""
    root = Path(root)
    if root.is_file():
        return CorpusWalk([root], [])
    real_root = os.path.realpath(root)
    files: list[tuple[str, Path]] = []
    skipped: list[SkippedEntry] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            skipped.append(SkippedEntry(source_name(folder, root), f"cannot list folder: {e.strerror or e}"))
            continue
        for entry in entries:
            path = Path(entry.path)
            source = source_name(path, root)
            reason = _refusal(entry, depth, root, real_root)
            if reason:
                skipped.append(SkippedEntry(source, reason))
            elif entry.is_dir(follow_symlinks=False):
                stack.append((path, depth + 1))
            else:
                files.append((source, path))
    files.sort(key=lambda f: f[0])
    skipped.sort(key=lambda e: e.source)
    return CorpusWalk([p for _, p in files], skipped)


def iter_corpus_files(root: Path) -> list[Path]:
    """All regular, non-hidden files under ``root`` (no links), sorted by source name."""
    return walk_corpus(root).files


def _refusal(entry: os.DirEntry, depth: int, root: Path, real_root: str) -> str | None:
    """Why the walk does not read ``entry``, or None for a regular file or folder to enter."""
    is_dir = entry.is_dir(follow_symlinks=False)
    if entry.name.startswith("."):
        return f"hidden {'folder' if is_dir else 'file'} (name starts with '.'): not read"
    if entry.is_symlink():
        return _link_refusal(entry.path, root, real_root)
    if is_dir:
        if depth + 1 > MAX_DEPTH:
            return f"folder nested more than {MAX_DEPTH} levels deep: not read; move its files higher up"
        return None
    if not entry.is_file(follow_symlinks=False):
        return "not a regular file (a device, pipe or socket): not read"
    return None


def _link_refusal(path: str, root: Path, real_root: str) -> str:
    """The reason a symbolic link is not followed, naming where it leads when in the corpus."""
    try:
        target = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return "symbolic link to a missing file (dangling): not followed"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop: not followed"
        return f"symbolic link that cannot be resolved ({e.strerror or e}): not followed"
    if os.path.commonpath([real_root, target]) != real_root:
        return ("symbolic link to a file outside the corpus folder: not followed; "
                "copy the file into the corpus folder to index it")
    inside = source_name(Path(target), Path(real_root)) if target != real_root else "."
    return f"symbolic link to '{inside}' inside the corpus: not followed (files are indexed once, under their own names)"


def source_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators (the file name if ``root`` is it),
    always valid Unicode (it survives JSON and UTF-8). A name component whose bytes are not
    UTF-8 (an archive unzipped from Windows leaves GBK names) is shown decoded as GB18030 —
    unless a sibling really has that name, or the bytes are not GB18030 either; then each
    undecodable byte is written ``\\xNN``. ``corpus_path`` maps a name back to the file."""
    path, root = Path(path), Path(root)
    if path == root:
        return _shown_name(path.name, path.parent)
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # not under root: the whole path, undecodable bytes escaped
        return os.fsencode(path.as_posix()).decode("utf-8", "backslashreplace")
    shown, folder = [], root
    for part in parts:
        shown.append(_shown_name(part, folder))
        folder = folder / part
    return "/".join(shown)


def _shown_name(name: str, folder: Path) -> str:
    """One name component as valid Unicode: UTF-8, else GB18030, else ``\\xNN`` escapes."""
    raw = os.fsencode(name)  # the bytes on disk (undecodable ones arrive as surrogates)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        decoded = raw.decode("gb18030")
        if not os.path.lexists(folder / decoded):  # a sibling with that real name keeps it
            return decoded
    except (UnicodeDecodeError, ValueError):
        pass
    return raw.decode("utf-8", "backslashreplace")


def corpus_path(root: Path, source: str) -> Path:
    """The path of the corpus entry named ``source`` (the inverse of ``source_name``)."""
    root = Path(root)
    if root.is_file():
        return root
    path = root
    for part in source.split("/"):
        candidate = path / part
        if not os.path.lexists(candidate):
            try:
                names = os.listdir(path)
            except OSError:
                names = []
            candidate = next((path / n for n in names if _shown_name(n, path) == part), candidate)
        path = candidate
    return path


def read_corpus_bytes(path: Path, root: Path, source: str, max_bytes: int) -> tuple[bytes, int]:
    """The raw bytes of a regular file and its modification time (taken before reading: a
    change during the read shows as a newer time). Every path component below the root is
    opened with ``O_NOFOLLOW`` relative to its parent, so a file or folder swapped for a link
    after the walk is refused, not followed."""
    too_big = f"larger than the limit of {max_bytes} bytes; raise the setting max_file_bytes to index it"
    try:
        fd = _open_inside(path, root)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):  # O_NOFOLLOW met a link (Linux: ENOTDIR for folders)
            raise LoadError(source, "changed while the corpus was read (now a symbolic link or not "
                            "a folder): not followed") from None
        raise LoadError(source, f"cannot read file: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise LoadError(source, "not a regular file: not read")
            if st.st_size > max_bytes:
                raise LoadError(source, f"file is {st.st_size} bytes, {too_big}")
            raw = fh.read(max_bytes + 1)
        except OSError as e:
            raise LoadError(source, f"cannot read file: {e.strerror or e}") from None
    if len(raw) > max_bytes:  # grew while we looked
        raise LoadError(source, f"file is {too_big}")
    if not raw:
        raise LoadError(source, "empty file")
    return raw, st.st_mtime_ns


_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_NONBLOCK", 0))  # a pipe swapped in must not block the build


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_inside(path: Path, root: Path) -> int:
    """Open ``path`` without following a symbolic link anywhere below ``root``: each folder
    is opened relative to its parent with ``O_NOFOLLOW`` (no check-then-open race)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    if not parts:  # the root itself (a one-file corpus) or a path given on its own
        return os.open(path, _READ_FLAGS | (_NOFOLLOW if path != root else 0))
    if os.open not in os.supports_dir_fd:  # (Windows: no dir_fd; links need privileges there)
        return os.open(path, _READ_FLAGS | _NOFOLLOW)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], _READ_FLAGS | _NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)
