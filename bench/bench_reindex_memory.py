"""Memory and time of the vector cache of an incremental reindex, at N chunks.

Writes the vector side of a previous generation of N chunks in policyqa's own format
(``vectors.faiss`` as fp16 flat storage, ``embed_keys.json``, ``sentence_vectors.npy``
float16, ``sentence_keys.json``; ``--sentences`` per chunk, 5.5 in the sample index), then
in a fresh process per variant opens it as a loaded index does and measures what the cache
of a reindex of one changed file adds: the keys of every unchanged text are looked up, and
the vectors of one file's texts are read.

* ``dict``: the former ``cached_vectors`` (every vector copied into a dict keyed by sha1);
* ``digests``: ``vector_cache.VectorCache`` (sorted 8-byte digests, rows read on demand);
  also the time to stream every cached row once in blocks (what a build that wrote the new
  generation block by block would read) without keeping them.

Peak RSS is read from ``VmHWM`` after resetting it (``/proc/self/clear_refs``) once the
previous index is open, so the figures are what the cache adds on top of a loaded index.

    .venv/bin/python bench/bench_reindex_memory.py --chunks 1000000 --variants digests
    .venv/bin/python bench/bench_reindex_memory.py --chunks 100000 --variants dict,digests
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FILE_CHUNKS = 200  # chunks of the one changed file


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def keys(prefix: str, n: int) -> list[str]:
    import hashlib

    return [hashlib.sha1(f"{prefix}{i}".encode()).hexdigest() for i in range(n)]


def write_generation(gen: Path, n: int, per_chunk: float, dim: int) -> None:
    import faiss

    gen.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    for a in range(0, n, 100_000):
        index.add(rng.standard_normal((min(100_000, n - a), dim), dtype=np.float32))
    faiss.write_index(index, str(gen / "vectors.faiss"))
    (gen / "embed_keys.json").write_text(json.dumps(keys("p", n)))
    s = int(n * per_chunk)
    out = np.lib.format.open_memmap(gen / "sentence_vectors.npy", mode="w+", dtype=np.float16, shape=(s, dim))
    for a in range(0, s, 500_000):
        out[a:a + 500_000] = rng.standard_normal((min(500_000, s - a), dim), dtype=np.float32).astype(np.float16)
    out.flush()
    del out
    (gen / "sentence_keys.json").write_text(json.dumps(keys("s", s)))


def open_previous(gen: Path):
    """The vector side of a loaded index, as ``index._open_generation`` opens it."""
    import faiss

    from policyqa.index import IndexData, SentenceTable
    from policyqa.store import LazyJson, RowFile

    vectors = faiss.read_index(str(gen / "vectors.faiss"))
    sentences = SentenceTable(None, None, RowFile(gen / "sentence_vectors.npy"), LazyJson(gen / "sentence_keys.json"))
    return IndexData(None, [], [], {}, vectors, LazyJson(gen / "embed_keys.json"), None, sentences)


def old_cache(data) -> dict:
    """``index.cached_vectors`` as it was before ``VectorCache``."""
    mat = data.vectors.reconstruct_n(0, data.vectors.ntotal)
    cache = {k: mat[i] for i, k in enumerate(data.embed_keys)}
    sv = np.asarray(data.sentences.vectors, dtype=np.float32)
    cache.update({k: sv[i] for i, k in enumerate(data.sentences.keys)})
    return cache


def measure(variant: str, gen: Path, n: int, per_chunk: float) -> dict:
    from policyqa.vector_cache import VectorCache

    s = int(n * per_chunk)
    # the keys of the reindex's texts (the build holds them anyway): every old one but the
    # changed file's, and that file's new ones
    changed = keys("p", FILE_CHUNKS) + keys("s", int(FILE_CHUNKS * per_chunk))
    wanted = keys("p", n)[FILE_CHUNKS:] + keys("s", s)[int(FILE_CHUNKS * per_chunk):] + keys("new", len(changed))
    data = open_previous(gen)
    loaded = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    t0 = time.perf_counter()
    out: dict = {}
    if variant == "dict":
        cache = old_cache(data)
        hits = sum(k in cache for k in wanted)
        _ = np.asarray([cache[k] for k in wanted[:len(changed)]])
    else:
        cache = VectorCache.of_index(data)
        out["cache_built_s"] = round(time.perf_counter() - t0, 2)
        out["peak_after_cache_built_mb"] = round(status_mb("VmHWM") - loaded, 1)
        where = cache.find(wanted)
        hits = int((where >= 0).sum())
        _ = cache.read(where[:len(changed)])
        out["lookup_s"] = round(time.perf_counter() - t0 - out["cache_built_s"], 2)
        out["cache_nbytes_mb"] = round(cache.nbytes() / 2**20, 1)
    seconds = time.perf_counter() - t0
    peak = status_mb("VmHWM")
    if variant == "digests":
        t1 = time.perf_counter()
        found = where[where >= 0]
        for a in range(0, len(found), 65536):
            cache.read(found[a:a + 65536])
        out["stream_all_rows_s"] = round(time.perf_counter() - t1, 2)
    return {"variant": variant, "chunks": n, "sentences": s, "hits": hits, "keys_looked_up": len(wanted),
            "rss_loaded_mb": round(loaded, 1), "peak_added_mb": round(peak - loaded, 1),
            "bytes_per_chunk": round((peak - loaded) * 2**20 / n, 1), "seconds": round(seconds, 2), **out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--sentences", type=float, default=5.5, help="sentences per chunk")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--variants", default="digests")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--gen", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.gen, args.chunks, args.sentences)))
        return 0
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        gen = Path(tmp) / "gen"
        t0 = time.perf_counter()
        write_generation(gen, args.chunks, args.sentences, args.dim)
        print(f"previous generation of {args.chunks} chunks written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        rows = []
        for variant in args.variants.split(","):
            done = subprocess.run([sys.executable, __file__, "--measure", variant, "--gen", str(gen),
                                   "--chunks", str(args.chunks), "--sentences", str(args.sentences)],
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]))
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"reindex_memory_{args.chunks}.json").write_text(json.dumps(
        {"rows": rows, "load": os.getloadavg(), "cpus": os.cpu_count()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
