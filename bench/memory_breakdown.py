#!/usr/bin/env python3
"""Per-chunk memory of each part of a loaded policyqa index (IndexData), by deep object
size, to see which parts must shrink for a 1M-chunk corpus.

    python bench/memory_breakdown.py [--index-dir index]

Writes bench/out/memory_breakdown.json. Deep sizes use sys.getsizeof over containers and
numpy nbytes; shared objects are counted once.
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
    from policyqa.index import load_index

    data = load_index(args.index_dir)
    n = len(data.chunks)
    st = data.sentences
    lex = data.lexical.bm25
    parts = {
        "vector index (faiss, as built: %s)" % data.manifest.index_type: data.vectors.ntotal * data.vectors.d * 4,
        "sentence vectors (float16)": st.vectors.nbytes,
        "sentence spans + pointers (int64)": st.spans.nbytes + st.ptr.nbytes,
        "sentence keys (sha1 hex strings)": deep_size(st.keys),
        "chunk embed keys (sha1 hex strings)": deep_size(data.embed_keys),
        "chunks (Chunk objects with text, metadata)": deep_size(data.chunks),
        "documents (with blocks)": deep_size(data.documents),
        "source texts": deep_size(data.texts),
        "BM25 matrix (bm25s arrays)": sum(v.nbytes for v in lex.scores.values() if isinstance(v, np.ndarray)),
        "BM25 vocabulary dicts (bm25s + LexicalIndex copy)": deep_size(lex.vocab_dict) + deep_size(data.lexical.vocab),
    }
    rows = {k: round(v / n, 1) for k, v in parts.items()}
    result = {"index_dir": str(args.index_dir), "chunks": n, "sentences": int(len(st.spans)),
              "sentences_per_chunk": round(len(st.spans) / n, 2),
              "mean_chunk_chars": round(float(np.mean([len(c.text) for c in data.chunks])), 1),
              "bytes_per_chunk": rows, "total_bytes_per_chunk": round(sum(parts.values()) / n, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    width = max(map(len, rows))
    for k, v in rows.items():
        print(f"{k:<{width}}  {v:>9.1f} B/chunk")
    print(f"{'total':<{width}}  {result['total_bytes_per_chunk']:>9.1f} B/chunk  "
          f"({n} chunks, {result['sentences_per_chunk']} sentences/chunk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
