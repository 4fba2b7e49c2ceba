"""On-disk record stores read on demand, so a loaded index keeps only what every query needs
in memory (docs/performance.md, "Memory per chunk").

* ``RecordStore``: one JSON object per line plus an ``.offsets.npy`` array of line starts
  (8 bytes per record in memory). ``store[i]`` reads one line with ``os.pread``: nothing is
  mapped, so reading records does not grow the process's resident memory.
* ``TextStore``: the decoded text of every source file, one JSON line each, looked up by
  source name, with a few recently used texts kept (answers read the same file repeatedly).
* ``RowFile``: rows of a ``.npy`` matrix read with ``os.pread`` (sentence vectors: a query
  reads the few rows of its candidates). Not ``np.load(mmap_mode="r")``: the kernel maps
  file pages around each fault (whole large folios on recent kernels), so a memory map of
  randomly read rows soon counts the whole file in the process's resident memory.
* ``LazyJson``: a JSON list loaded on first use (build-time caches such as content keys).

Plain lists work wherever a store is accepted (a freshly built index holds lists); the
stores only change when data is read from disk.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar, overload

import numpy as np

T = TypeVar("T")
OFFSETS_SUFFIX = ".offsets.npy"


def _offsets_path(path: Path) -> Path:
    return path.with_name(path.name + OFFSETS_SUFFIX)


def write_npy(path: Path, array: Any) -> None:
    """Save ``array`` as ``.npy`` and fsync it (index files are complete before the swap)."""
    with open(path, "wb") as f:
        np.save(f, np.asarray(array))
        f.flush()
        os.fsync(f.fileno())


def write_records(path: Path, records: Iterable[Any], encode: Callable[[Any], Any] = lambda r: r) -> int:
    """Write ``encode(record)`` as one JSON line each, and the line offsets beside them.
    Returns the number of records. Both files are fsynced."""
    offsets = [0]
    with open(path, "wb") as f:
        for record in records:
            line = (json.dumps(encode(record), ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            offsets.append(offsets[-1] + len(line))
        f.flush()
        os.fsync(f.fileno())
    write_npy(_offsets_path(path), np.asarray(offsets, dtype=np.int64))
    return len(offsets) - 1


class _PreadFile:
    """A file held open for ``os.pread`` (no shared file position, so threads can read at
    once); closed with ``close()`` or when the object is collected."""

    _file = None

    def _open(self, path: Path) -> int:
        """Open ``path``; returns its size."""
        self._file = open(path, "rb")
        return os.fstat(self._file.fileno()).st_size

    def _pread(self, n: int, offset: int) -> bytes:
        return os.pread(self._file.fileno(), n, offset)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __del__(self) -> None:  # pragma: no cover - depends on the garbage collector
        self.close()


class RecordStore(_PreadFile, Sequence, Generic[T]):
    """Read-only sequence of records stored by ``write_records``; ``decode`` turns a JSON
    object into the record. Records are decoded on every access (callers keep what they
    need)."""

    def __init__(self, path: Path, decode: Callable[[Any], T]):
        self.path = Path(path)
        self._decode = decode
        self._offsets = np.load(_offsets_path(self.path))
        size = self._open(self.path)
        if len(self._offsets) == 0 or int(self._offsets[-1]) != size:
            self.close()
            raise ValueError(f"{self.path} does not match its offsets file (truncated or rewritten)")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _read(self, i: int) -> T:
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        return self._decode(json.loads(self._pread(b - a, a)))

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._read(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"record {i} out of range (0..{n - 1})")
        return self._read(i)

    def __iter__(self) -> Iterator[T]:
        with open(self.path, encoding="utf-8") as f:  # streamed: nothing retained
            for line in f:
                yield self._decode(json.loads(line))

    def __bool__(self) -> bool:
        return len(self) > 0


def _sources_path(path: Path) -> Path:
    return path.with_name(path.name + ".sources.json")


def write_texts(path: Path, texts: Mapping[str, str]) -> None:
    """Texts as records ``[source, text]`` plus the list of sources in record order."""
    write_records(path, texts.items(), lambda kv: [kv[0], kv[1]])
    _sources_path(path).write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")


class TextStore(Mapping):
    """source name → decoded text, read from disk on demand (``keep`` recent texts cached)."""

    def __init__(self, path: Path, keep: int = 16):
        self._records: RecordStore[list] = RecordStore(path, lambda row: row)
        sources = json.loads(_sources_path(path).read_text(encoding="utf-8"))
        if len(sources) != len(self._records):
            raise ValueError(f"{path} does not match its list of sources")
        self._row: dict[str, int] = {s: i for i, s in enumerate(sources)}
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()  # the web app reads texts from several threads

    def __getitem__(self, source: str) -> str:
        with self._lock:
            text = self._recent.get(source)
            if text is not None:
                self._recent.move_to_end(source)
                return text
        row = self._row[source]  # KeyError for an unknown source, as a dict would
        text = self._records[row][1]
        with self._lock:
            self._recent[source] = text
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, source: object) -> bool:
        return source in self._row

    def close(self) -> None:
        self._records.close()


class RowFile(_PreadFile):
    """Read-only rows of a C-ordered ``.npy`` array: ``f[i]``, ``f[a:b]`` read just those
    rows; ``np.asarray(f)`` (and iteration) reads the whole array."""

    def __init__(self, path: Path):
        self.path = Path(path)
        size = self._open(self.path)
        version = np.lib.format.read_magic(self._file)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(self._file)
        if fortran:
            raise ValueError(f"{self.path}: Fortran-ordered arrays are not supported")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._offset = self._file.tell()
        self._row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        expected = self._offset + self._row_bytes * (self.shape[0] if self.shape else 0)
        if size != expected:
            self.close()
            raise ValueError(f"{self.path} is truncated or damaged")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _rows(self, a: int, b: int) -> np.ndarray:
        b = max(a, b)
        raw = self._pread((b - a) * self._row_bytes, self._offset + a * self._row_bytes)
        return np.frombuffer(raw, dtype=self.dtype).reshape((b - a,) + self.shape[1:])

    def __getitem__(self, i):
        n = len(self)
        if isinstance(i, slice):
            a, b, step = i.indices(n)
            rows = self._rows(a, b) if step == 1 else self._rows(0, n)[a:b:step]
            return rows
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {i} out of range (0..{n - 1})")
        return self._rows(i, i + 1)[0]

    def __array__(self, dtype=None, copy=None):
        whole = self._rows(0, len(self))
        return whole if dtype is None else whole.astype(dtype)

    def __iter__(self):
        return iter(self._rows(0, len(self)))

    def astype(self, dtype) -> np.ndarray:
        return np.asarray(self, dtype=dtype)

    @property
    def nbytes(self) -> int:
        return self._row_bytes * len(self)


class LazyJson(Sequence):
    """A JSON list read from ``path`` the first time it is used."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._items: list | None = None

    def _load(self) -> list:
        if self._items is None:
            self._items = json.loads(self.path.read_text(encoding="utf-8"))
        return self._items

    def __len__(self) -> int:
        return len(self._load())

    def __getitem__(self, i):
        return self._load()[i]

    def __iter__(self):
        return iter(self._load())
