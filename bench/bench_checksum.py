#!/usr/bin/env python3
"""What checking an index's files costs when it is opened, at N chunks.

    python bench/bench_checksum.py --chunks 1000000 [--work DIR] [--keep]
    python bench/bench_checksum.py --index-dir index          # a real index, as it is

Writes files of the sizes a policyqa generation of N chunks has (bytes per chunk at 1M
from docs/performance.md: 9,052 in all, 5.8 sentences per chunk, a 787-byte vector index
entry, 1,877 bytes of BM25 postings; the records fill the rest), records their checksums
as a build does (``generations.record_checksums``) and times, each run 3 times:

* ``verify as opened``: what ``index.load_index`` does (sizes of all files, xxh3-128 of
  files up to ``HASH_ALWAYS_BYTES``, of larger ones only when their mtime changed);
* ``verify everything``: every file hashed (what a touched or copied index costs);
* both again with the files dropped from the page cache (``posix_fadvise DONTNEED`` on
  these files only): a first open after a reboot.

File contents are random (hashing speed does not depend on them). Prints a table and
writes bench/out/checksum.json. Deletes the files unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from policyqa.generations import HASH_ALWAYS_BYTES, record_checksums, verify_checksums  # noqa: E402
from policyqa.index import current_generation  # noqa: E402

SENTENCES_PER_CHUNK = 5.8
DOCS_PER_CHUNK = 1 / 20
POSTINGS_PER_CHUNK = 1877 / 8  # float32 score + int32 chunk id each
KEY_JSON = 44  # one 40-hex sha1 in a JSON list
TOTAL_PER_CHUNK = 9052

# file -> bytes per chunk
LAYOUT = {
    "vectors.faiss": 787,
    "sentence_vectors.npy": SENTENCES_PER_CHUNK * 384 * 2,
    "sentence_spans.npy": SENTENCES_PER_CHUNK * 16,
    "sentence_keys.json": SENTENCES_PER_CHUNK * KEY_JSON,
    "sentence_ptr.npy": 8,
    "embed_keys.json": KEY_JSON,
    "lexical/data.npy": POSTINGS_PER_CHUNK * 4,
    "lexical/indices.npy": POSTINGS_PER_CHUNK * 4,
    "lexical/indptr.npy": 0.2,
    "lexical/vocab_hashes.npy": 0.2,
    "lexical/vocab_ids.npy": 0.1,
    "chunk_doc.npy": 4,
    "chunks.jsonl.offsets.npy": 8,
    "documents.jsonl.offsets.npy": 8 * DOCS_PER_CHUNK,
    "texts.jsonl.offsets.npy": 8 * DOCS_PER_CHUNK,
    "doc_table.json": 100 * DOCS_PER_CHUNK,
    "targets.json": 0.01,
    "target_vectors.npy": 0.01,
    "target_keys.json": 0.01,
}
_REST = TOTAL_PER_CHUNK - sum(LAYOUT.values())
LAYOUT.update({"chunks.jsonl": _REST * 0.53, "texts.jsonl": _REST * 0.44, "documents.jsonl": _REST * 0.03})

BLOCK = 64 << 20


def write_files(gen: Path, n_chunks: int) -> int:
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, BLOCK, dtype=np.uint8).tobytes()
    total = 0
    for name, per_chunk in LAYOUT.items():
        size = max(int(per_chunk * n_chunks), 64)
        path = gen / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left:
                part = block[: min(left, BLOCK)]
                f.write(part)
                left -= len(part)
            f.flush()
            os.fsync(f.fileno())
        total += size
    return total


def drop_cache(gen: Path) -> None:
    for p in gen.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed(fn, runs: int = 3, before=None) -> list[float]:
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append(round(time.perf_counter() - t0, 3))
    return out


def measure(gen: Path, sums: dict) -> dict[str, list[float]]:
    as_opened = lambda: verify_checksums(gen, sums)  # noqa: E731
    everything = lambda: verify_checksums(gen, sums, hash_always_bytes=1 << 62)  # noqa: E731
    return {
        "verify_as_opened_warm_s": timed(as_opened),
        "verify_everything_warm_s": timed(everything),
        "verify_as_opened_cold_s": timed(as_opened, before=lambda: drop_cache(gen)),
        "verify_everything_cold_s": timed(everything, runs=1, before=lambda: drop_cache(gen)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("bench/out/checksum"))
    ap.add_argument("--index-dir", type=Path, help="measure this index's current generation instead")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    result: dict = {"hash_always_bytes": HASH_ALWAYS_BYTES, "load_average": os.getloadavg()}
    if args.index_dir:
        gen = current_generation(args.index_dir)
        sums = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))["checksums"]
        result.update(index=str(gen))
    else:
        gen = args.work / "gen"
        shutil.rmtree(args.work, ignore_errors=True)
        gen.mkdir(parents=True)
        t0 = time.perf_counter()
        write_files(gen, args.chunks)
        result.update(chunks=args.chunks, write_s=round(time.perf_counter() - t0, 1))
        t0 = time.perf_counter()
        sums = record_checksums(gen)
        result["record_checksums_s"] = round(time.perf_counter() - t0, 2)
    sizes = [s["size"] for s in sums.values()]
    result.update(files=len(sizes), total_bytes=sum(sizes),
                  hashed_at_open_bytes=sum(s for s in sizes if s <= HASH_ALWAYS_BYTES))
    result.update(measure(gen, sums))
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "checksum.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    for k, v in result.items():
        print(f"{k:28} {v}")
    if not args.index_dir and not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
