#!/usr/bin/env python3
"""Per-chunk size of each part of a loaded policyqa index (IndexData): what stays in
memory after ``load_index``, and what stays on disk and is read when a query, a citation
or a build needs it.

    python bench/memory_breakdown.py [--index-dir index]

Writes bench/out/memory_breakdown.json. Deep sizes use sys.getsizeof over containers and
numpy nbytes; shared objects are counted once. (The measured RSS of a loaded index at 1M
chunks comes from bench/bench_engine_scale.py.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def deep_size(obj, seen: set[int] | None = None) -> int:
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes + 112
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size(x, seen) for x in obj)
    elif hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, s), seen) for s in obj.__slots__ if hasattr(obj, s))
    return size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index-dir", type=Path, default=Path("index"))
    ap.add_argument("--out", type=Path, default=Path("bench/out/memory_breakdown.json"))
    args = ap.parse_args()
    import faiss

    from policyqa.index import current_generation, load_index

    data = load_index(args.index_dir)
    gen = current_generation(args.index_dir)
    n = len(data.chunks)
    st = data.sentences
    lex = data.lexical
    resident = {
        f"vector index ({data.manifest.index_type})": faiss.serialize_index(data.vectors).nbytes,
        "document table (filter columns, chunk→document)": deep_size(data.doc_table),
        "record offsets (chunks, documents, texts)": sum(s._offsets.nbytes for s in (data.chunks, data.documents))
        + data.texts._records._offsets.nbytes,
        "sentence pointers (chunk → rows)": st.ptr.nbytes,
        "BM25 vocabulary (token hashes + ids) and posting pointers": lex.vocab.hashes.nbytes
        + lex.vocab.ids.nbytes + lex.indptr.nbytes,
        "manifest": deep_size(data.manifest),
    }
    size = lambda *names: sum((gen / x).stat().st_size for x in names)  # noqa: E731
    on_disk = {
        "BM25 posting lists (read per query token)": lex.data.nbytes + lex.indices.nbytes,
        "sentence vectors (float16, rows read per candidate)": st.vectors.nbytes,
        "sentence spans": st.spans.nbytes,
        "chunks.jsonl (hits read by record)": size("chunks.jsonl"),
        "documents.jsonl (read when a document is opened)": size("documents.jsonl"),
        "texts.jsonl (read for citations and answers)": size("texts.jsonl"),
        "content keys (read by builds only)": size("embed_keys.json", "sentence_keys.json", "target_keys.json"),
        "targets + indicator vectors (read by compare)": size("targets.json", "target_vectors.npy"),
    }
    rows = {"in memory: " + k: round(v / n, 1) for k, v in resident.items()}
    rows.update({"on disk: " + k: round(v / n, 1) for k, v in on_disk.items()})
    result = {"index_dir": str(args.index_dir), "chunks": n, "sentences": int(len(st.spans)),
              "sentences_per_chunk": round(len(st.spans) / n, 2),
              "mean_chunk_chars": round(float(np.mean([len(c.text) for c in data.chunks])), 1),
              "bytes_per_chunk": rows, "in_memory_bytes_per_chunk": round(sum(resident.values()) / n, 1),
              "on_disk_bytes_per_chunk": round(sum(on_disk.values()) / n, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    width = max(map(len, rows))
    for k, v in rows.items():
        print(f"{k:<{width}}  {v:>9.1f} B/chunk")
    print(f"{'in memory, total':<{width}}  {result['in_memory_bytes_per_chunk']:>9.1f} B/chunk  "
          f"({n} chunks, {result['sentences_per_chunk']} sentences/chunk)")
    print(f"{'on disk, read on demand, total':<{width}}  {result['on_disk_bytes_per_chunk']:>9.1f} B/chunk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
